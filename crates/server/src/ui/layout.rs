//! The page shell and the small pieces every page uses: times, level badges,
//! sparklines and charts (inline SVG drawn here, no script, no inline style).

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::assets;
use super::auth::Viewer;

fn head(title: &str, refresh: Option<u32>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            @if let Some(secs) = refresh { meta http-equiv="refresh" content=(secs); }
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · Periscope" }
            link rel="icon" type="image/svg+xml" href=(assets::url("icon.svg"));
            link rel="stylesheet" href=(assets::url("app.css"));
            script src=(assets::url("app.js")) defer {}
        }
    }
}

/// A page without the signed-in header (sign-in, errors).
pub(crate) fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body { (body) }
        }
    }
}

/// A page for a signed-in user: the header with navigation and sign-out.
pub(crate) fn page(
    title: &str,
    viewer: &Viewer,
    crumbs: &[(&str, String)],
    body: Markup,
) -> Markup {
    page_with_refresh(title, viewer, crumbs, None, body)
}

/// [`page`] that reloads itself every `refresh` seconds (a page waiting for
/// something, without script).
pub(crate) fn page_with_refresh(
    title: &str,
    viewer: &Viewer,
    crumbs: &[(&str, String)],
    refresh: Option<u32>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, refresh))
            body {
                header.top {
                    a.brand href="/" { img src=(assets::url("icon.svg")) alt="" width="20" height="20"; " Periscope" }
                    nav.crumbs aria-label="Breadcrumb" {
                        @for (label, href) in crumbs {
                            span.sep { "/" }
                            a href=(href) { (label) }
                        }
                    }
                    span.spacer {}
                    @if viewer.user.is_admin() { a href="/status" { "Status" } " " a href="/users" { "Users" } }
                    a.who href="/account" title=(viewer.user.role) { (viewer.user.email) }
                    form.inline method="post" action="/signout" {
                        input type="hidden" name="_csrf" value=(viewer.csrf);
                        button.link type="submit" { "Sign out" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// "3 min ago" in a `<time>` with the exact UTC time on hover.
pub(crate) fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            title=(t.format("%Y-%m-%d %H:%M:%S UTC").to_string()) {
            (relative(t, now))
        }
    }
}

/// A time relative to now, in words.
pub(crate) fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let future = secs < 0;
    let n = secs.unsigned_abs();
    if n < 45 {
        return if future { "in a moment" } else { "just now" }.into();
    }
    let text = span(n);
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A span of `n` seconds in words, rounded: "30 s", "3 min", "5 h", "2 days".
pub(crate) fn span(n: u64) -> String {
    match n {
        0..45 => format!("{n} s"),
        45..5_400 => format!("{} min", (n + 30) / 60),
        5_400..129_600 => format!("{} h", (n + 1_800) / 3_600),
        129_600..3_888_000 => format!("{} days", (n + 43_200) / 86_400),
        3_888_000..47_304_000 => format!("{} months", (n + 1_296_000) / 2_592_000),
        _ => format!("{} years", n / 31_536_000),
    }
}

/// A level badge (`error`, `warning`, ...); unknown levels get a neutral one.
pub(crate) fn level(level: &str) -> Markup {
    let class = match level {
        "fatal" | "error" | "warning" | "info" | "debug" => level,
        _ => "other",
    };
    html! { span class={ "level level-" (class) } { (level) } }
}

/// A status badge.
pub(crate) fn status(status: &str) -> Markup {
    let class = match status {
        "unresolved" | "resolved" | "muted" => status,
        _ => "other",
    };
    html! { span class={ "status status-" (class) } { (status) } }
}

/// A small bar sparkline (one bar per value), drawn as two SVG paths (bars and
/// empty slots) so that a list of fifty rows stays light.
pub(crate) fn sparkline(values: &[u64], label: &str) -> Markup {
    use std::fmt::Write;
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let n = values.len().max(1);
    let (w, h) = (4 * n, 20usize);
    let (mut bars, mut zeros) = (String::new(), String::new());
    for (i, v) in values.iter().enumerate() {
        if *v == 0 {
            let _ = write!(zeros, "M{} {}h3v1h-3z", i * 4, h - 1);
        } else {
            let bar = ((*v as f64 / max as f64) * (h - 1) as f64).ceil().max(2.0) as usize;
            let _ = write!(bars, "M{} {}h3v{bar}h-3z", i * 4, h - bar);
        }
    }
    html! {
        svg.spark xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox={ "0 0 " (w) " " (h) } role="img" aria-label=(label) {
            title { (label) }
            @if !zeros.is_empty() { path.zero d=(zeros) {} }
            @if !bars.is_empty() { path.bar d=(bars) {} }
        }
    }
}

/// A larger bar chart with a caption and the axis ends labelled.
pub(crate) fn chart(values: &[u64], first_label: &str, last_label: &str, caption: &str) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let n = values.len().max(1);
    let bar_w = (720 / n).max(2);
    let (w, h) = (bar_w * n, 80usize);
    html! {
        figure.chart {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (w) " " (h + 14) } preserveAspectRatio="none" role="img" aria-label=(caption) {
                title { (caption) }
                @for (i, v) in values.iter().enumerate() {
                    @let bar = if *v == 0 { 0 } else { ((*v as f64 / max as f64) * h as f64).ceil().max(1.0) as usize };
                    @if bar > 0 {
                        rect.bar x=(i * bar_w) y=(h - bar) width=(bar_w.saturating_sub(1).max(1)) height=(bar) {
                            title { (v) }
                        }
                    }
                }
                line.axis x1="0" y1=(h) x2=(w) y2=(h) {}
                text.axis x="0" y=(h + 12) { (first_label) }
                text.axis x=(w) y=(h + 12) text-anchor="end" { (last_label) }
            }
            figcaption { (caption) " · peak " (max) }
        }
    }
}

/// A number with thin grouping: 1234567 → "1,234,567".
pub(crate) fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn relative_times() {
        let now = t("2026-11-30T12:00:00Z");
        assert_eq!(relative(t("2026-11-30T11:59:50Z"), now), "just now");
        assert_eq!(relative(t("2026-11-30T11:57:00Z"), now), "3 min ago");
        assert_eq!(relative(t("2026-11-30T09:00:00Z"), now), "3 h ago");
        assert_eq!(relative(t("2026-11-27T12:00:00Z"), now), "3 days ago");
        assert_eq!(relative(t("2026-12-01T12:00:00Z"), now), "in 24 h");
        assert_eq!(span(30), "30 s");
        assert_eq!(span(7_200), "2 h");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
    }

    #[test]
    fn markup_escapes() {
        let m = level("<script>").into_string();
        assert!(m.contains("&lt;script&gt;"), "{m}");
        assert!(m.contains("level-other"));
    }
}
