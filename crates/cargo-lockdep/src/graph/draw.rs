//! The class graph laid out and drawn as SVG by `layout-rs` (a Rust port of
//! Graphviz dot's layered layout): each class a box, each dependency an
//! arrow. Every shape carries the attributes the page styles and scripts
//! (`class`, `data-class` / `data-dep`).

use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::geometry::Point;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::model::ClassGraph;

/// Font size of the labels, in pixels.
const FONT: usize = 14;

/// Past this many dependencies the layout skips its edge-crossing
/// optimization, whose cost grows fastest (150 classes and 300 random
/// dependencies: 19 s with it, 7 s without, at opt-level 3).
const BIG: usize = 120;

/// The box for `text`: its lines at about 0.6 em a character (layout-rs's
/// own estimate, 1 em, makes long class names twice as wide as they are),
/// with a margin.
fn box_size(text: &str) -> Point {
    let chars = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    let lines = text.lines().count().max(1);
    let font = FONT as f64;
    Point::new(
        chars.max(4) as f64 * font * 0.62 + 28.0,
        lines as f64 * font * 1.25 + 16.0,
    )
}

/// A class's label: its name, and its usage on a second line.
pub fn label(name: &str, usage: &str) -> String {
    if usage.is_empty() {
        name.to_string()
    } else {
        format!("{name}\n{{{usage}}}")
    }
}

/// The graph as an SVG element (no XML declaration), or an error if the
/// layout failed.
pub fn svg(g: &ClassGraph) -> Result<String, String> {
    if g.classes.is_empty() {
        return Ok(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"40\">\
             <text x=\"10\" y=\"25\">no classes</text></svg>"
                .to_string(),
        );
    }
    let mut vg = VisualGraph::new(Orientation::TopToBottom);
    let handles: Vec<_> = g
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let text = label(&c.name, &c.usage);
            let look = StyleAttr::new(Color::fast("black"), 2, Some(Color::fast("white")), 6, FONT);
            let size = box_size(&text);
            let kind = if g.in_cycle(i) { "cls cycle" } else { "cls" };
            let props = format!("class=\"{kind}\" data-class=\"{i}\"");
            vg.add_node(Element::create_with_properties(
                ShapeKind::new_box(&text),
                look,
                Orientation::TopToBottom,
                size,
                props,
            ))
        })
        .collect();
    for (i, d) in g.deps.iter().enumerate() {
        let kind = match (g.dep_in_cycle(i), d.implied) {
            (true, _) => "dep cycle",
            (false, true) => "dep implied",
            (false, false) => "dep",
        };
        let style = if d.implied {
            LineStyleKind::Dashed
        } else {
            LineStyleKind::Normal
        };
        let look = StyleAttr::new(Color::fast("black"), 2, None, 0, FONT - 2);
        let arrow = Arrow::with_properties(
            LineEndKind::None,
            LineEndKind::Arrow,
            style,
            &d.label,
            &look,
            format!("class=\"{kind}\" data-dep=\"{i}\""),
            &None,
            &None,
        );
        vg.add_edge(arrow, handles[d.from], handles[d.to]);
    }
    let mut writer = SVGWriter::new();
    // layout-rs asserts on what it cannot lay out: a failure is an error
    // here, not a crash of the command.
    let laid_out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        vg.do_it(false, g.deps.len() > BIG, false, &mut writer);
        writer.finalize()
    }))
    .map_err(|_| "the graph layout failed".to_string())?;
    let start = laid_out
        .find("<svg")
        .ok_or("the layout produced no SVG element")?;
    Ok(laid_out[start..].to_string())
}
