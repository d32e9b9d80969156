//! The class graph as one self-contained HTML page: the SVG inline, the
//! graph's data as JSON in a script element, the style and the script in
//! the page. It loads nothing, so it opens from disk.
//!
//! Reported cycles are drawn in red (classes filled `HIGHLIGHT`); a click on
//! a dependency shows the stack that first made it, a click on a class its
//! name, usage and dependencies. `#dep-N` / `#class-N` in the address opens
//! one. A picture larger than its pane is scrolled to the first cycle when
//! that is out of view.
//! Once laid out, the page writes each class box's place on screen into
//! `<pre id="layout">` (JSON), which the screenshot test reads.

use std::fmt::Write;

use serde_json::json;

use super::draw;
use super::model::ClassGraph;

/// The fill of a class in a reported cycle, `#rrggbb`.
pub const HIGHLIGHT: &str = "#ff9f9f";

const STYLE: &str = r#"
body { font-family: sans-serif; margin: 0; color: #1d2330; background: #ffffff; }
header { padding: 10px 16px; background: #27313f; color: #ffffff; }
header h1 { font-size: 18px; margin: 0 0 4px 0; }
header p { margin: 0; font-size: 13px; color: #d5dbe4; }
main { display: flex; align-items: flex-start; }
#picture { flex: 1 1 auto; padding: 12px; overflow: auto; max-height: calc(100vh - 84px); }
aside { flex: 0 0 400px; min-width: 0; padding: 8px 16px; border-left: 1px solid #d5dbe4; font-size: 13px; overflow-wrap: anywhere; }
aside h2 { font-size: 14px; margin: 14px 0 6px 0; }
.cls rect { fill: #eaf0f8; stroke: #44546a; cursor: pointer; }
.cls.cycle rect { fill: HIGHLIGHT; stroke: #b03030; stroke-width: 3px; }
.cls.selected rect { stroke: #1f5fbf; stroke-width: 4px; }
.dep path { stroke: #6b7a8f; stroke-width: 2px; cursor: pointer; pointer-events: visibleStroke; }
.dep:hover path { stroke-width: 3.5px; }
.dep.cycle path { stroke: #c0392b; stroke-width: 2.5px; }
.dep.selected path { stroke: #1f5fbf; stroke-width: 3.5px; }
svg text { pointer-events: none; fill: #1d2330; }
#cycles li, #deps li, #classes tr.row { cursor: pointer; }
#cycles li { margin-bottom: 6px; }
#cycles b { color: #b03030; }
li.selected, tr.selected { background: #dce8fa; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: 2px 4px; border-bottom: 1px solid #eef1f5; }
th { overflow-wrap: normal; white-space: nowrap; }
td.num { text-align: right; }
pre.stack { background: #f4f6f9; padding: 6px; white-space: pre-wrap; font-size: 12px; }
.muted { color: #6b7a8f; }
"#;

const SCRIPT: &str = r#"
const data = JSON.parse(document.getElementById('graph-data').textContent);
const details = document.getElementById('details');
function esc(s) {
  return String(s).replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
}
function clearSelection() {
  document.querySelectorAll('.selected').forEach(e => e.classList.remove('selected'));
}
function depLine(i) {
  const d = data.deps[i];
  return esc(data.classes[d.from].name) + ' &rarr; ' + esc(data.classes[d.to].name);
}
function showDep(i) {
  const d = data.deps[i];
  if (!d) return;
  clearSelection();
  document.querySelectorAll('[data-dep="' + i + '"]').forEach(e => e.classList.add('selected'));
  let h = '<p><b>' + depLine(i) + '</b></p>';
  if (d.types) h += '<p>types: ' + esc(d.types) + '</p>';
  h += '<p class="muted">' + esc(d.origin) + '</p>';
  if (d.stack.length) {
    h += '<p>stack when first seen:</p><pre class="stack" id="stack">' + d.stack.map(esc).join('\n') + '</pre>';
  } else {
    h += '<p class="muted">no stack: implied by a held-lock list</p>';
  }
  details.innerHTML = h;
  history.replaceState(null, '', '#dep-' + i);
}
function showClass(i) {
  const c = data.classes[i];
  if (!c) return;
  clearSelection();
  document.querySelectorAll('[data-class="' + i + '"]').forEach(e => e.classList.add('selected'));
  let h = '<p><b>' + esc(c.name) + '</b></p><p>usage: {' + esc(c.usage) + '}</p>';
  const list = (title, pick) => {
    const ds = data.deps.map((d, j) => [d, j]).filter(([d]) => pick(d));
    h += '<p>' + title + ' (' + ds.length + ')</p><ul>' +
      ds.map(([d, j]) => '<li data-dep="' + j + '">' + depLine(j) + '</li>').join('') + '</ul>';
  };
  list('dependencies after it', d => d.from === i);
  list('dependencies before it', d => d.to === i);
  details.innerHTML = h;
  history.replaceState(null, '', '#class-' + i);
}
function showCycle(k) {
  const c = data.cycles[k];
  if (!c) return;
  if (c.deps.length) showDep(c.deps[0]); else showClass(c.classes[0]);
  document.querySelectorAll('[data-cycle="' + k + '"]').forEach(e => e.classList.add('selected'));
}
document.addEventListener('click', ev => {
  const t = ev.target.closest('[data-dep], [data-class], [data-cycle]');
  if (!t) return;
  if (t.dataset.dep !== undefined) showDep(+t.dataset.dep);
  else if (t.dataset.class !== undefined) showClass(+t.dataset.class);
  else showCycle(+t.dataset.cycle);
});
function fromHash() {
  const m = /^#(dep|class|cycle)-(\d+)$/.exec(location.hash);
  if (!m) return;
  ({dep: showDep, class: showClass, cycle: showCycle})[m[1]](+m[2]);
}
fromHash();
// A picture larger than its pane is scrolled to the first cycle, if that
// is out of view.
const pane = document.getElementById('picture');
const first = pane.querySelector('g.cls.cycle rect');
if (first) {
  const r = first.getBoundingClientRect(), p = pane.getBoundingClientRect();
  if (r.x < p.x || r.y < p.y || r.right > p.right || r.bottom > p.bottom) {
    pane.scrollLeft += r.x + r.width / 2 - (p.x + p.width / 2);
    pane.scrollTop += r.y + r.height / 2 - (p.y + p.height / 2);
  }
}
const placed = [...document.querySelectorAll('#picture g.cls')].map(g => {
  const r = g.querySelector('rect').getBoundingClientRect();
  const i = +g.dataset.class;
  return {id: i, name: data.classes[i].name, cycle: g.classList.contains('cycle'),
          x: r.x, y: r.y, w: r.width, h: r.height};
});
document.getElementById('layout').textContent = JSON.stringify(placed);
"#;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page for `g`, titled `title` (what was drawn: a file's name).
pub fn page(g: &ClassGraph, title: &str) -> Result<String, String> {
    let svg = draw::svg(g)?;
    let data = json!({
        "classes": g.classes.iter().map(|c| json!({"name": c.name, "usage": c.usage})).collect::<Vec<_>>(),
        "deps": g.deps.iter().map(|d| json!({
            "from": d.from, "to": d.to, "types": d.types, "stack": d.stack,
            "origin": d.origin, "implied": d.implied,
        })).collect::<Vec<_>>(),
        "cycles": g.cycles.iter().map(|c| json!({
            "title": c.title, "classes": c.classes, "deps": c.deps,
        })).collect::<Vec<_>>(),
    });
    // A `</script>` inside a string would end the element: `<` is escaped.
    let data = data.to_string().replace('<', "\\u003c");
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>lockdep class graph: {t}</title>\n<style>{style}</style>\n</head>\n<body>\n\
         <header><h1>lockdep class graph: {t}</h1><p>{} classes, {} dependencies, {} reported</p></header>\n\
         <main>\n<section id=\"picture\">\n{svg}\n</section>\n<aside>\n",
        g.classes.len(),
        g.deps.len(),
        g.cycles.len(),
        t = esc(title),
        style = STYLE.replace("HIGHLIGHT", HIGHLIGHT),
    );
    out.push_str("<h2>Reported</h2>\n<ol id=\"cycles\">\n");
    for (k, c) in g.cycles.iter().enumerate() {
        let mut path: Vec<&str> = c
            .classes
            .iter()
            .map(|&i| g.classes[i].name.as_str())
            .collect();
        if let (false, Some(&start)) = (c.deps.is_empty(), c.classes.first()) {
            path.push(&g.classes[start].name);
        }
        let _ = writeln!(
            out,
            "<li data-cycle=\"{k}\"><b>{}</b><br>{}</li>",
            esc(&c.title),
            path.iter()
                .map(|n| esc(n))
                .collect::<Vec<_>>()
                .join(" &rarr; ")
        );
    }
    out.push_str("</ol>\n<h2>Details</h2>\n<div id=\"details\"><p class=\"muted\">Click a class or a dependency.</p></div>\n");
    out.push_str("<h2>Classes</h2>\n<table id=\"classes\"><tr><th>class</th><th>usage</th><th>before</th><th>after</th></tr>\n");
    for (i, c) in g.classes.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr class=\"row\" data-class=\"{i}\"><td>{}</td><td>{{{}}}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&c.name),
            esc(&c.usage),
            g.in_degree(i),
            g.out_degree(i)
        );
    }
    out.push_str("</table>\n<h2>Dependencies</h2>\n<ul id=\"deps\">\n");
    for (i, d) in g.deps.iter().enumerate() {
        let _ = writeln!(
            out,
            "<li data-dep=\"{i}\">{} &rarr; {}{}</li>",
            esc(&g.classes[d.from].name),
            esc(&g.classes[d.to].name),
            if d.implied {
                " <span class=\"muted\">(implied)</span>"
            } else {
                ""
            }
        );
    }
    let _ = write!(
        out,
        "</ul>\n</aside>\n</main>\n<pre id=\"layout\" hidden></pre>\n\
         <script type=\"application/json\" id=\"graph-data\">{data}</script>\n\
         <script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    Ok(out)
}
