//! The HTML report of `senetc precision --html`: one self-contained file (inline CSS, SVG and
//! a little script; no network, no other file) with the per-layer error chart, the ranking,
//! the hazards and the suggested lists.
//!
//! The chart is drawn here as SVG, so the page shows everything without running script; the
//! script only adds sorting to the ranking table and a hover readout for the bars.

use super::{Analysis, ErrorStats, Fix, NodeReport, Probe};
use std::fmt::Write;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn sci(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else if x == 0.0 {
        "0".into()
    } else {
        format!("{x:.2e}")
    }
}

fn cos(x: f64) -> String {
    if x.is_finite() { format!("{x:.8}") } else { sci(x) }
}

/// Bar height for a relative error on a log scale from 1e-7 (nothing) to 1e1 (full), infinite
/// and NaN errors full.
fn level(rel: f64) -> f64 {
    if !rel.is_finite() {
        return 1.0;
    }
    if rel <= 1e-7 {
        return 0.0;
    }
    ((rel.log10() + 7.0) / 8.0).clamp(0.0, 1.0)
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.sub{color:#666}.kv td{padding:1px 12px 1px 0}table.t{border-collapse:collapse;font-size:13px}table.t th,table.t td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
table.t th{cursor:pointer;background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.bad{color:#b00020;font-weight:600}.ok{color:#176f2c;font-weight:600}
#chart{overflow-x:auto;border:1px solid #ddd;padding:4px}#readout{min-height:1.4em;color:#333;font-family:monospace}.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}pre{background:#f6f6f6;padding:8px;overflow-x:auto}.names{font-family:monospace;font-size:12px}";

const SCRIPT: &str = r#"(function(){
  var out = document.getElementById('readout');
  var bars = document.querySelectorAll('#chart rect.bar');
  for (var i = 0; i < bars.length; i++) {
    bars[i].addEventListener('mouseenter', function(e){ out.textContent = e.target.getAttribute('data-info'); });
  }
  var table = document.getElementById('ranking');
  if (table) {
    var heads = table.querySelectorAll('th');
    for (var h = 0; h < heads.length; h++) {
      (function(col){
        heads[col].addEventListener('click', function(){
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          var asc = heads[col].getAttribute('data-asc') !== '1';
          rows.sort(function(a, b){
            var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
            var nx = Number(x), ny = Number(y);
            var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
            return asc ? c : -c;
          });
          rows.forEach(function(r){ body.appendChild(r); });
          heads[col].setAttribute('data-asc', asc ? '1' : '0');
        });
      })(h);
    }
  }
  document.body.setAttribute('data-ready', String(bars.length));
})();"#;

fn chart(a: &Analysis, kept: &[usize]) -> String {
    let n = a.nodes.len().max(1);
    let bw = (960.0 / n as f64).clamp(3.0, 40.0);
    let (left, top, h) = (48.0, 10.0, 220.0);
    let width = left + bw * n as f64 + 10.0;
    let height = top + h + 34.0;
    let mut s = String::new();
    let _ = write!(s, r#"<svg width="{width:.0}" height="{height:.0}" role="img" aria-label="relative error of every node's output, fp16 against fp32, in graph order">"#);
    // Log axis: a gridline per decade.
    for d in 0..=8 {
        let y = top + h - h * d as f64 / 8.0;
        let _ = write!(s, r##"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#777">1e{}</text>"##, width - 10.0, left - 4.0, y + 3.0, d - 7);
    }
    for node in &a.nodes {
        let x = left + bw * node.index as f64;
        let lv = level(node.error.rel);
        let bh = (h * lv).max(1.0);
        let color = if node.hazards.severe() || !node.error.rel.is_finite() {
            "#c62828"
        } else if !node.fp16 {
            "#9e9e9e"
        } else if node.fused {
            "#6a1b9a"
        } else {
            "#1e88e5"
        };
        let info = format!(
            "#{} {} [{}] {}: output rel {} cos {}; adds alone rel {}{}{}",
            node.index,
            node.op,
            if node.fp16 { "fp16" } else { "fp32" },
            node.framework_names.join(", "),
            sci(node.error.rel),
            cos(node.error.cos),
            sci(node.own.rel),
            node.rank.map(|r| format!("; rank {r}")).unwrap_or_default(),
            if node.hazards.describe().is_empty() { String::new() } else { format!("; hazards: {}", node.hazards.describe()) }
        );
        let _ = write!(
            s,
            r#"<rect class="bar" data-index="{}" data-info="{}" x="{x:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{color}"><title>{}</title></rect>"#,
            node.index,
            esc(&info),
            top + h - bh,
            (bw - 1.0).max(1.0),
            esc(&info)
        );
        // The error the node adds alone: a tick on its bar.
        if node.fp16 {
            let y = top + h - h * level(node.own.rel);
            let _ = write!(s, r##"<line class="own" x1="{x:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ff9800" stroke-width="2"/>"##, x + (bw - 1.0).max(1.0));
        }
        if node.fused {
            let _ = write!(s, r##"<polygon class="fused" points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="#6a1b9a"/>"##, x, top + h + 9.0, x + bw / 2.0, top + h + 3.0, x + bw, top + h + 9.0);
        }
        if kept.contains(&node.index) {
            let _ = write!(s, r##"<circle class="kept" cx="{:.1}" cy="{:.1}" r="3" fill="#2e7d32"/>"##, x + bw / 2.0, top + h + 15.0);
        }
    }
    let _ = write!(s, r##"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#444"/><text x="{left}" y="{:.1}" font-size="11" fill="#444">graph order (inputs to outputs) →</text></svg>"##, width - 10.0, top + h, top + h, top + h + 30.0);
    s
}

fn stats_cells(e: &ErrorStats) -> String {
    format!(r#"<td class="n" data-v="{}">{}</td><td class="n" data-v="{}">{}</td>"#, sort_v(e.rel), sci(e.rel), sort_v(e.max_abs), sci(e.max_abs))
}

fn sort_v(x: f64) -> String {
    if x.is_nan() || x == f64::INFINITY {
        "1e308".into()
    } else {
        format!("{x:e}")
    }
}

fn names(n: &NodeReport) -> String {
    esc(&n.framework_names.join(", "))
}

fn probe_row(what: &str, p: &Probe) -> String {
    format!(r#"<tr><td>{what}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{:.1}%</td><td class="n">{}</td><td class="n">{}</td></tr>"#, cos(p.cos), sci(p.rel), p.top1 * 100.0, p.fp32_ops, p.fp16_ops)
}

/// The report as one HTML page.
pub fn render(model: &str, a: &Analysis, fix: Option<&Fix>) -> String {
    let mut s = String::new();
    let title = format!("senetc precision: {model}");
    let _ = write!(s, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>", esc(&title));
    let _ = write!(s, r#"<h1>{}</h1><div class="sub">--precision-mode {} against fp32 on {}</div>"#, esc(&title), esc(&a.precision_mode), esc(&a.inputs));
    let fp16 = a.nodes.iter().filter(|n| n.fp16).count();
    let hazardous = a.nodes.iter().filter(|n| n.fp16 && n.hazards.severe()).count();
    s.push_str(r#"<h2>Final outputs</h2><table class="t"><thead><tr><th>output</th><th>cosine</th><th>rel. L2</th><th>max |diff|</th><th>top-1 agreement</th></tr></thead><tbody>"#);
    for o in &a.outputs {
        let _ = write!(s, r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{:.1}%</td></tr>"#, esc(&o.name), cos(o.error.cos), sci(o.error.rel), sci(o.error.max_abs), o.top1 * 100.0);
    }
    let _ = write!(s, r#"</tbody></table><p>{} nodes, {fp16} in fp16, {hazardous} with fp16 overflow, inf or NaN.</p>"#, a.nodes.len());

    let kept: Vec<usize> = fix.map(|f| f.kept.iter().map(|k| k.index).collect()).unwrap_or_default();
    s.push_str(r#"<h2>Error per layer</h2><div class="legend"><span><i class="sw" style="background:#1e88e5"></i>fp16 op</span><span><i class="sw" style="background:#6a1b9a"></i>fused op (▲)</span><span><i class="sw" style="background:#9e9e9e"></i>kept in fp32 by the mode</span><span><i class="sw" style="background:#c62828"></i>overflow / inf / NaN</span><span><i class="sw" style="background:#ff9800"></i>error added alone</span>"#);
    if fix.is_some() {
        s.push_str(r#"<span><i class="sw" style="background:#2e7d32;border-radius:5px"></i>kept in fp32 by the fix</span>"#);
    }
    let _ = write!(s, r#"</div><p class="sub">Bar: relative L2 error of the node's output in the fp16 run against fp32 (log scale). Hover a bar for the node.</p><div id="chart">{}</div><div id="readout"></div>"#, chart(a, &kept));

    s.push_str(r#"<h2>Ranking: the error each layer adds alone in fp16</h2><table class="t" id="ranking"><thead><tr><th>rank</th><th>#</th><th>framework names</th><th>op</th><th>adds rel. L2</th><th>adds max |diff|</th><th>output rel. L2</th><th>output max |diff|</th><th>output cosine</th><th>hazards</th></tr></thead><tbody>"#);
    for &k in &a.ranking {
        let n = &a.nodes[k];
        let _ = write!(
            s,
            r#"<tr><td class="n" data-v="{r}">{r}</td><td class="n" data-v="{i}">{i}</td><td class="names" data-v="{nm}">{nm}{f}</td><td data-v="{op}">{op}</td>{own}{err}<td class="n" data-v="{cv}">{c}</td><td data-v="{h}">{h}</td></tr>"#,
            r = n.rank.unwrap_or(0),
            i = n.index,
            nm = names(n),
            f = if n.fused { " ▲" } else { "" },
            op = esc(&n.op),
            own = stats_cells(&n.own),
            err = stats_cells(&n.error),
            cv = if n.error.cos.is_finite() { format!("{:e}", n.error.cos) } else { "-2".into() },
            c = cos(n.error.cos),
            h = esc(&n.hazards.describe()),
        );
    }
    s.push_str("</tbody></table>");

    s.push_str(r#"<h2>fp16 hazards</h2>"#);
    let with_hazards: Vec<&NodeReport> = a.nodes.iter().filter(|n| !n.hazards.describe().is_empty()).collect();
    if with_hazards.is_empty() {
        s.push_str("<p>None seen.</p>");
    } else {
        s.push_str(r#"<table class="t" id="hazards"><thead><tr><th>#</th><th>framework names</th><th>op</th><th>precision</th><th>inf</th><th>NaN</th><th>|x| &gt; 65504</th><th>weights &gt; 65504</th><th>subnormal</th><th>elements</th></tr></thead><tbody>"#);
        for n in with_hazards {
            let h = &n.hazards;
            let _ = write!(
                s,
                r#"<tr><td class="n">{}</td><td class="names">{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                n.index,
                names(n),
                esc(&n.op),
                if n.fp16 { "fp16" } else { "fp32" },
                h.inf,
                h.nan,
                h.overflow,
                h.weight_overflow,
                h.subnormal,
                h.elements
            );
        }
        s.push_str("</tbody></table>");
    }

    s.push_str("<h2>Suggested lists</h2>");
    match fix {
        None => s.push_str("<p>Run with <code>--fix DIR --target-cos 0.9999</code> (or <code>--target-top1 1.0</code>) to search the ops to keep in fp32.</p>"),
        Some(f) => {
            let target = [f.target.cos.map(|c| format!("cosine ≥ {c}")), f.target.top1.map(|t| format!("top-1 ≥ {t}"))].into_iter().flatten().collect::<Vec<_>>().join(", ");
            let _ = write!(
                s,
                r#"<p>Target {}: <span class="{}">{}</span> with {} op{} kept in fp32 ({} probes).</p>"#,
                esc(&target),
                if f.met { "ok" } else { "bad" },
                if f.met { "met" } else { "not met" },
                f.kept.len(),
                if f.kept.len() == 1 { "" } else { "s" },
                f.probes
            );
            s.push_str(r#"<table class="t"><thead><tr><th>graph</th><th>cosine</th><th>rel. L2</th><th>top-1</th><th>fp32 ops</th><th>fp16 ops</th></tr></thead><tbody>"#);
            s.push_str(&probe_row(&format!("{} as is", esc(&a.precision_mode)), &f.before));
            s.push_str(&probe_row("with keep_dtype.cfg", &f.after));
            s.push_str(&probe_row(&format!("with modify_mixlist.json (by type; target {})", if f.mixlist_met { "met" } else { "not met" }), &f.mixlist_after));
            s.push_str("</tbody></table>");
            let keep: String = f.keep_dtype.iter().map(|n| format!("{}\n", esc(n))).collect();
            let _ = write!(s, "<p><b>keep_dtype.cfg</b> (ATC <code>--keep_dtype</code>, senetc <code>--keep-dtype</code>): these nodes only.</p><pre id=\"keep-dtype\">{keep}</pre>");
            let _ = write!(
                s,
                "<p><b>modify_mixlist.json</b> (ATC <code>--modify_mixlist</code> with allow_mix_precision, senetc <code>--modify-mixlist</code>): every op of these types, so more ops stay fp32.</p><pre id=\"mixlist\">{}</pre>",
                esc(&super::lists::mixlist_json(&f.mixlist_black))
            );
        }
    }
    let _ = writeln!(s, "<script>{SCRIPT}</script></body></html>");
    s
}
