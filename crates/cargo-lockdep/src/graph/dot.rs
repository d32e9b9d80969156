//! The class graph in Graphviz's DOT language, for `dot -Tsvg` and friends.

use std::fmt::Write;

use super::draw::label;
use super::model::ClassGraph;

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `g` as a DOT digraph: classes in a reported cycle and the dependencies
/// that close it are red; implied dependencies are dashed; each
/// dependency's tooltip is its stack.
pub fn dot(g: &ClassGraph) -> String {
    let mut out = String::from(
        "digraph lockdep {\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eaf0f8\"];\n",
    );
    for (i, c) in g.classes.iter().enumerate() {
        let extra = if g.in_cycle(i) {
            ", fillcolor=\"#ff9f9f\", color=\"#b03030\", penwidth=2"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  c{i} [label={}{extra}];",
            quote(&label(&c.name, &c.usage))
        );
    }
    for (i, d) in g.deps.iter().enumerate() {
        let mut attrs = vec![format!("tooltip={}", quote(&d.stack.join("\n")))];
        if !d.label.is_empty() {
            attrs.push(format!("label={}", quote(&d.label)));
        }
        if g.dep_in_cycle(i) {
            attrs.push("color=\"#c0392b\", penwidth=2".to_string());
        }
        if d.implied {
            attrs.push("style=dashed".to_string());
        }
        let _ = writeln!(out, "  c{} -> c{} [{}];", d.from, d.to, attrs.join(", "));
    }
    out.push_str("}\n");
    out
}
