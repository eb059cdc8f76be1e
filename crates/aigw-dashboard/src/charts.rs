//! Charts drawn on the server as SVG: stacked bars per day and series, and a
//! line. Colours come from the stylesheet's series classes (`s0`…`s5`), never
//! from inline styles, so the Content-Security-Policy needs no exception.

use maud::{Markup, html};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// One named series of values, one per x label.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) values: Vec<f64>,
}

/// Grid lines above the zero line: with the round maxima below, every line
/// falls on a round figure (1, 2, 4, 5, 10, 20, …).
const TICKS: i32 = 5;

/// A round upper bound for an axis whose largest value is `max`.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// An axis figure, short: 1.2k, 3.4M.
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn axes(labels: &[String], max: f64) -> Markup {
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = (WIDTH - LEFT - RIGHT) / labels.len().max(1) as f64;
    // At most about 10 day labels, so 30 days stay readable.
    let every = labels.len().div_ceil(10).max(1);
    html! {
        @for i in 0..=TICKS {
            @let y = TOP + plot_h * (1.0 - f64::from(i) / f64::from(TICKS));
            line.grid-line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) {}
            text x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (short(max * f64::from(i) / f64::from(TICKS))) }
        }
        @for (i, label) in labels.iter().enumerate() {
            @if i.is_multiple_of(every) {
                text x=(LEFT + step * (i as f64 + 0.5)) y=(HEIGHT - 6.0) text-anchor="middle" { (label) }
            }
        }
    }
}

fn legend(series: &[Series]) -> Markup {
    html! {
        @if series.len() > 1 {
            div.legend {
                @for (i, s) in series.iter().enumerate() {
                    span { i class={ "s" (i % 6) } {} (s.name) }
                }
            }
        }
    }
}

/// Stacked bars: one bar per label, one segment per series. `title` names
/// the chart for screen readers.
pub(crate) fn bars(title: &str, labels: &[String], series: &[Series]) -> Markup {
    let totals: Vec<f64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    // Bars count things: an axis of at least 5 keeps its lines on whole numbers.
    let max = nice_max(totals.iter().copied().fold(0.0, f64::max).max(5.0));
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = (WIDTH - LEFT - RIGHT) / labels.len().max(1) as f64;
    let bar_w = (step * 0.7).max(1.0);
    // Each segment: series index, x, y, height, tooltip.
    let mut rects: Vec<(usize, f64, f64, f64, String)> = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + step * i as f64 + (step - bar_w) / 2.0;
        let mut base = 0.0;
        for (k, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            if v > 0.0 {
                let y = TOP + plot_h * (1.0 - (base + v) / max);
                rects.push((
                    k,
                    x,
                    y,
                    plot_h * v / max,
                    format!("{label} · {}: {}", s.name, short(v)),
                ));
                base += v;
            }
        }
    }
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(title) {
            title { (title) }
            (axes(labels, max))
            @for (k, x, y, h, tip) in &rects {
                rect class={ "s" (k % 6) } x=(x) y=(y) width=(bar_w) height=(h) { title { (tip) } }
            }
        }
        (legend(series))
    }
}

/// A line through one value per label; `None` leaves a gap (no data).
pub(crate) fn line(title: &str, labels: &[String], values: &[Option<f64>], unit: &str) -> Markup {
    let max = nice_max(values.iter().flatten().copied().fold(0.0, f64::max));
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = (WIDTH - LEFT - RIGHT) / labels.len().max(1) as f64;
    let point = |i: usize, v: f64| {
        (
            LEFT + step * (i as f64 + 0.5),
            TOP + plot_h * (1.0 - v / max),
        )
    };
    let mut path = String::new();
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let (x, y) = point(i, *v);
                path.push_str(&format!(
                    "{}{x:.1},{y:.1} ",
                    if pen_down { "L" } else { "M" }
                ));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(title) {
            title { (title) }
            (axes(labels, max))
            @if !path.is_empty() { path.line d=(path) {} }
            @for (i, v) in values.iter().enumerate() {
                @if let Some(v) = v {
                    @let (x, y) = point(i, *v);
                    circle.dot cx=(x) cy=(y) r="3" {
                        title { (labels.get(i).map_or("", String::as_str)) ": " (short(*v)) " " (unit) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up_and_figures_are_short() {
        assert!((nice_max(0.0) - 1.0).abs() < 1e-9);
        assert!((nice_max(7.0) - 10.0).abs() < 1e-9);
        assert!((nice_max(130.0) - 200.0).abs() < 1e-9);
        assert!((nice_max(2400.0) - 2500.0).abs() < 1e-9);
        assert_eq!(short(1500.0), "1.5k");
        assert_eq!(short(3.0), "3");
    }

    #[test]
    fn bars_are_drawn_per_series_and_escaped() {
        let labels = vec!["06-01".to_owned(), "06-02".to_owned()];
        let svg = bars(
            "Requests",
            &labels,
            &[
                Series {
                    name: "<b>".into(),
                    values: vec![1.0, 2.0],
                },
                Series {
                    name: "b".into(),
                    values: vec![0.0, 3.0],
                },
            ],
        )
        .into_string();
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
        let l = line("Latency", &labels, &[Some(1.0), None], "ms").into_string();
        assert_eq!(l.matches("<circle").count(), 1);
    }
}
