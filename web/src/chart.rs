//! Bar charts drawn on the server as SVG: no script, no library, readable on a phone (the
//! drawing scales to the page's width). Each chart is an image with a name for screen readers,
//! and the page shows the same figures in a table beside it; a figure withheld to protect small
//! groups is drawn as a grey "hidden" bar, never as zero.

use std::fmt::Write as _;

/// One row: a label and up to two figures (`None`: withheld).
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub a: Option<u64>,
    /// The second series, when the chart has two.
    pub b: Option<u64>,
}

/// What a chart shows.
#[derive(Debug)]
pub struct Chart<'a> {
    /// The accessible name of the drawing.
    pub title: &'a str,
    pub bars: &'a [Bar],
    /// Whether `b` is drawn.
    pub two_series: bool,
    /// Shown in place of a withheld figure.
    pub hidden: &'a str,
}

/// Text for inside SVG or HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// A narrow drawing, so that its 15 px text stays readable when a phone scales it down.
const WIDTH: u64 = 360;
const LABEL: u64 = 122;
const BAR_SPACE: u64 = 170;
const BAR_H: u64 = 20;
const GAP: u64 = 12;

impl Chart<'_> {
    /// The `<svg>` element.
    pub fn svg(&self) -> String {
        let per_row = if self.two_series {
            2 * BAR_H + 4
        } else {
            BAR_H
        };
        let height = (self.bars.len() as u64) * (per_row + GAP) + GAP;
        let max = self
            .bars
            .iter()
            .flat_map(|b| [b.a, if self.two_series { b.b } else { None }])
            .flatten()
            .max()
            .unwrap_or(0)
            .max(1);
        let mut s = String::new();
        let _ = write!(
            s,
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
            escape(self.title),
            escape(self.title)
        );
        let _ = write!(
            s,
            "<line class=\"axis\" x1=\"{LABEL}\" y1=\"0\" x2=\"{LABEL}\" y2=\"{height}\"/>"
        );
        for (i, bar) in self.bars.iter().enumerate() {
            let top = GAP + (i as u64) * (per_row + GAP);
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                LABEL - 8,
                top + per_row / 2 + 5,
                escape(&bar.label)
            );
            let series: &[(Option<u64>, &str)] = if self.two_series {
                &[(bar.a, "bar-a"), (bar.b, "bar-b")]
            } else {
                &[(bar.a, "bar-a")]
            };
            for (j, (value, class)) in series.iter().enumerate() {
                let y = top + (j as u64) * (BAR_H + 4);
                let (w, class, text) = match value {
                    Some(v) => (
                        (v * BAR_SPACE).div_ceil(max),
                        *class,
                        crate::i18n::grouped(*v),
                    ),
                    None => (BAR_SPACE / 4, "bar-h", self.hidden.to_owned()),
                };
                let _ = write!(
                    s,
                    "<rect class=\"{class}\" x=\"{LABEL}\" y=\"{y}\" width=\"{w}\" height=\"{BAR_H}\"/><text x=\"{}\" y=\"{}\">{}</text>",
                    LABEL + w + 6,
                    y + BAR_H - 6,
                    escape(&text)
                );
            }
        }
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_withheld_figures_are_marked() {
        let bars = [
            Bar {
                label: "60+ <old>".into(),
                a: Some(200),
                b: None,
            },
            Bar {
                label: "18-39".into(),
                a: Some(100),
                b: None,
            },
            Bar {
                label: "0-17".into(),
                a: None,
                b: None,
            },
        ];
        let svg = Chart {
            title: "by age",
            bars: &bars,
            two_series: false,
            hidden: "hidden",
        }
        .svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(&format!("width=\"{BAR_SPACE}\"")), "{svg}");
        assert!(svg.contains(&format!("width=\"{}\"", BAR_SPACE / 2)));
        assert!(svg.contains("class=\"bar-h\"") && svg.contains(">hidden<"));
        assert!(svg.contains("60+ &lt;old&gt;"));
        assert!(!svg.contains("style="), "the CSP refuses inline styles");
    }
}
