//! The report's charts: drawn by `plotters` into an SVG string, then made to fit the page.
//!
//! plotters' SVG backend, with its default features off, lays text out with its built-in
//! estimate and writes it as `<text font-family="sans-serif">`: no font file is read and
//! none is referenced, so the page's text renders in the browser's own sans-serif. The
//! backend writes a fixed `width`/`height`; [`fit`] swaps them for a `viewBox`-only root with
//! `class="chart"` (CSS gives it `width:100%; height:auto`) and an `aria-label`, so a chart
//! scales from a phone to a printed page. Every chart is followed by a table of its numbers
//! on the page; the charts themselves carry no information the tables lack.

use anyhow::{Result, bail};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::dollars;
use super::{StoreSeries, month_runs, month_text};

/// The drawing's width in SVG units; text sizes are chosen for it.
const WIDTH: u32 = 640;
const FONT: &str = "sans-serif";
/// Longest label a bar chart prints in full (the table beside it has every name whole).
const LABEL_CHARS: usize = 30;

/// Okabe-Ito colours: told apart with the common colour-vision deficiencies.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
];

/// The colour of series `i`, as CSS (`#0072b2`), for the legend the page writes.
pub fn css_color(i: usize) -> String {
    let RGBColor(r, g, b) = PALETTE[i % PALETTE.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Whole dollars for an axis: `$1,200`.
pub fn axis_dollars(cents: i64) -> String {
    let text = dollars(cents - cents % 100);
    text.trim_end_matches(".00").to_string()
}

/// Revenue per month, one line per store, a line only across consecutive months: a run of
/// months with no payment is a shaded gap marked "no data", never bridged. `None` when
/// there is no month to draw.
pub fn monthly_lines(
    series: &[StoreSeries],
    months: &[i32],
    label: &str,
) -> Result<Option<String>> {
    let (Some(&first), Some(&last)) = (months.first(), months.last()) else {
        return Ok(None);
    };
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0)
        .max(100);
    let top = max + max / 8;
    let height = 360;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let x = (f64::from(first) - 0.5)..(f64::from(last) + 0.5);
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .x_label_area_size(34)
            .y_label_area_size(78)
            .build_cartesian_2d(x, 0i64..top)?;
        chart
            .configure_mesh()
            // Ticks fall on whole months (plotters picks 1, 2, 5, 10... months apart).
            .x_labels(usize::try_from(last - first).unwrap_or(0).min(11) + 2)
            .x_label_formatter(&|m| {
                if (m - m.round()).abs() < 1e-6 {
                    month_text(m.round() as i32)
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|c| axis_dollars(*c))
            .y_labels(6)
            .light_line_style(TRANSPARENT)
            .label_style((FONT, 15))
            .draw()?;
        let note = TextStyle::from((FONT, 14).into_font())
            .color(&RGBColor(80, 80, 80))
            .pos(Pos::new(HPos::Center, VPos::Top));
        for pair in month_runs(months).windows(2) {
            let (a, b) = (pair[0][pair[0].len() - 1], pair[1][0]);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(f64::from(a) + 0.2, 0), (f64::from(b) - 0.2, top)],
                RGBColor(236, 236, 236).filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                "no data",
                (f64::from(a + b) / 2.0, top - top / 40),
                note.clone(),
            )))?;
        }
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let own: Vec<i32> = s.points.iter().map(|p| p.0).collect();
            for run in month_runs(&own) {
                let points = s
                    .points
                    .iter()
                    .filter(|p| run.contains(&p.0))
                    .map(|&(m, c)| (f64::from(m), c));
                chart.draw_series(LineSeries::new(points, color.stroke_width(3)).point_size(4))?;
            }
        }
        root.present()?;
    }
    fit(svg, (WIDTH, height), label).map(Some)
}

/// How a bar chart writes its numbers: each bar's value, and the axis ticks.
#[derive(Clone, Copy)]
pub struct Numbers {
    pub value: fn(i64) -> String,
    pub axis: fn(i64) -> String,
}

/// Dollars and cents on the bars, whole dollars on the axis.
pub const MONEY: Numbers = Numbers {
    value: dollars,
    axis: axis_dollars,
};
/// Counts with thousands separators.
pub const COUNT: Numbers = Numbers {
    value: super::thousands,
    axis: super::thousands,
};
/// Per mille, shown as percentages.
pub const PER_MILLE: Numbers = Numbers {
    value: per_mille,
    axis: per_mille,
};

fn per_mille(n: i64) -> String {
    super::percent(n, 1000)
}

/// Horizontal bars, the first entry on top, each labelled with its value. `None` when there
/// is nothing to draw.
pub fn bars(
    labels: &[String],
    values: &[i64],
    numbers: Numbers,
    color: RGBColor,
    label: &str,
) -> Result<Option<String>> {
    let Numbers { value, axis } = numbers;
    if labels.is_empty() || labels.len() != values.len() {
        return Ok(None);
    }
    let n = i32::try_from(labels.len())?;
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    // Room right of the longest bar for its value.
    let top = max + max / 3;
    let height = 44 + 30 * n.unsigned_abs();
    let short: Vec<String> = labels.iter().map(|l| shorten(l)).collect();
    let longest = short.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let label_area = u32::try_from(longest * 8 + 14)
        .unwrap_or(220)
        .clamp(48, 260);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(label_area)
            // 0..n - 1: the segmented axis has a segment for each value, both ends included.
            .build_cartesian_2d(0i64..top, (0..n - 1).into_segmented())?;
        // Segment 0 is at the bottom: entry i sits in segment n - 1 - i.
        let row = |i: usize| n - 1 - i as i32;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(labels.len())
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(s) => usize::try_from(n - 1 - s)
                    .ok()
                    .and_then(|i| short.get(i).cloned())
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .x_labels(5)
            .x_label_formatter(&|v| axis(*v))
            .light_line_style(TRANSPARENT)
            .label_style((FONT, 14))
            .draw()?;
        chart.draw_series(values.iter().enumerate().map(|(i, &v)| {
            let mut bar = Rectangle::new(
                [
                    (0, SegmentValue::Exact(row(i))),
                    (v, SegmentValue::Exact(row(i) + 1)),
                ],
                color.filled(),
            );
            bar.set_margin(5, 5, 0, 0);
            bar
        }))?;
        let text = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(values.iter().enumerate().map(|(i, &v)| {
            Text::new(
                value(v),
                (v + top / 100, SegmentValue::CenterOf(row(i))),
                text.clone(),
            )
        }))?;
        root.present()?;
    }
    fit(svg, (WIDTH, height), label).map(Some)
}

fn shorten(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(LABEL_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// Replaces plotters' fixed-size root element with one that scales (`viewBox` only), is
/// styled by the page (`class="chart"`) and is named for screen readers (`role="img"`).
pub fn fit(svg: String, (w, h): (u32, u32), label: &str) -> Result<String> {
    let head = format!(
        r#"<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">"#
    );
    let Some(rest) = svg.strip_prefix(&head) else {
        bail!("plotters wrote an SVG root this report does not know");
    };
    Ok(format!(
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{}">{rest}"#,
        super::html::escape(label)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::month_index;

    fn store(name: &str, points: &[(i32, i64)]) -> StoreSeries {
        StoreSeries {
            store: name.into(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn charts_are_scalable_inline_svg_with_text_and_nothing_external() {
        let m = |y, mo| month_index(y, mo);
        let months = [m(2005, 5), m(2005, 6), m(2006, 2)];
        let s = [
            store(
                "Store 1",
                &[(m(2005, 5), 100), (m(2005, 6), 250), (m(2006, 2), 30)],
            ),
            store("Store 2", &[(m(2005, 5), 120), (m(2006, 2), 40)]),
        ];
        let svg = monthly_lines(&s, &months, "Revenue <by> month")
            .unwrap()
            .unwrap();
        assert!(
            svg.starts_with(
                r#"<svg class="chart" viewBox="0 0 640 360" role="img" aria-label="Revenue &lt;by&gt; month">"#
            ),
            "{}",
            &svg[..200]
        );
        for text in [
            "<text",
            "\n2005-05\n",
            "\n2006-02\n",
            "\nno data\n",
            "\n$0\n",
        ] {
            assert!(svg.contains(text), "{text}: {svg}");
        }
        assert!(svg.contains(r#"font-family="sans-serif""#));
        for external in [
            "http",
            "href",
            "url(",
            "@import",
            "@font-face",
            "<svg width=",
        ] {
            assert!(!svg.contains(external), "{external}");
        }
        // Store 1 has two runs (May-June, February), store 2 two single months (May,
        // February): four lines, none spanning the gap.
        assert_eq!(
            svg.matches(r#"stroke-width="3" points="#).count(),
            4,
            "{svg}"
        );

        let b = bars(
            &[
                "Sports & Games".into(),
                "A very long film title that goes on".into(),
            ],
            &[531421, 0],
            MONEY,
            PALETTE[0],
            "Top",
        )
        .unwrap()
        .unwrap();
        assert!(b.contains("Sports &amp; Games") && b.contains("$5,314.21"));
        assert!(b.contains("A very long film title that g…"));
        assert!(bars(&[], &[], COUNT, PALETTE[0], "x").unwrap().is_none());
        assert!(monthly_lines(&[], &[], "x").unwrap().is_none());
    }

    #[test]
    fn axis_money_is_whole_dollars() {
        assert_eq!(axis_dollars(123456), "$1,234");
        assert_eq!(axis_dollars(0), "$0");
        assert_eq!(css_color(0), "#0072b2");
        assert_eq!(css_color(7), "#e69f00");
    }
}
