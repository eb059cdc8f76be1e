//! The page shell (head, top bar, navigation) and the pieces pages share:
//! notices, form fields with their errors, empty states, pagers, badges and
//! times. maud escapes every value written into a template.

use aigw_domain::{HealthStatus, Role};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use crate::assets;

/// A section of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Accounts,
    Proxies,
    Keys,
    Users,
    Mappings,
    Logs,
    Errors,
    Quota,
    Password,
}

/// Who may open each section: the same rule the server enforces.
pub(crate) fn allowed(nav: Nav, role: Role) -> bool {
    match nav {
        Nav::Overview | Nav::Proxies | Nav::Users | Nav::Errors | Nav::Quota => role == Role::Admin,
        Nav::Accounts => matches!(role, Role::Admin | Role::Provider),
        Nav::Keys | Nav::Mappings | Nav::Logs => matches!(role, Role::Admin | Role::User),
        Nav::Password => true,
    }
}

const NAV: [(Nav, &str, &str); 9] = [
    (Nav::Overview, "/ui/", "Overview"),
    (Nav::Accounts, "/ui/accounts", "Accounts"),
    (Nav::Proxies, "/ui/proxies", "Proxies"),
    (Nav::Keys, "/ui/keys", "API keys"),
    (Nav::Users, "/ui/users", "Users"),
    (Nav::Mappings, "/ui/mappings", "Model mappings"),
    (Nav::Logs, "/ui/logs", "Request logs"),
    (Nav::Errors, "/ui/errors", "Error log"),
    (Nav::Quota, "/ui/quota", "Quota & health"),
];

/// The signed-in person a page is drawn for.
#[derive(Debug)]
pub(crate) struct Viewer<'a> {
    pub(crate) username: &'a str,
    pub(crate) role: Role,
    pub(crate) csrf: &'a str,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="same-origin";
            title { (title) " · aigateway" }
            link rel="stylesheet" href=(assets::css_url());
            script src=(assets::js_url()) defer {}
        }
    }
}

/// A whole page for a signed-in viewer.
pub(crate) fn page(viewer: &Viewer<'_>, current: Nav, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/" { "ai" span { "gateway" } }
                    button.nav-toggle type="button" aria-controls="nav" aria-expanded="false" { "Menu" }
                    div.who {
                        span.name { (viewer.username) " · " (viewer.role.as_str()) }
                        a href="/ui/password" { "Password" }
                        form method="post" action="/ui/signout" {
                            (csrf_field(viewer.csrf))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                nav.side #nav aria-label="Main" {
                    ul {
                        @for (nav, href, label) in NAV {
                            @if allowed(nav, viewer.role) {
                                li { a href=(href) aria-current=[(nav == current).then_some("page")] { (label) } }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page without the navigation (sign-in, errors before sign-in).
pub(crate) fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                main.signin #main {
                    div.panel {
                        h1 { "ai" span.muted { "gateway" } }
                        (body)
                    }
                }
            }
        }
    }
}

/// The hidden field carrying the session's form token.
pub(crate) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}

/// A notice: `kind` is `ok`, `warn` or `bad`.
pub(crate) fn notice(kind: &str, text: &str) -> Markup {
    html! { div class={ "notice " (kind) } role=(if kind == "bad" { "alert" } else { "status" }) { (text) } }
}

/// An error shown next to a form field, if it is about that field.
#[derive(Debug, Default, Clone)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) message: String,
}

impl FieldError {
    pub(crate) fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn from_error(e: &crate::Error, fields: &[&str]) -> Option<Self> {
        let field = e.field()?;
        let name = fields
            .iter()
            .find(|f| field == **f || field.ends_with(*f))?;
        Some(Self::new(name, e.field_message()))
    }
}

/// The error for `name` among `errors`.
fn error_for<'a>(errors: &'a [FieldError], name: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == name)
        .map(|e| e.message.as_str())
}

/// A labelled input with its hint and error.
pub(crate) fn input(
    kind: &str,
    name: &str,
    label: &str,
    value: &str,
    hint: Option<&str>,
    errors: &[FieldError],
    required: bool,
) -> Markup {
    let id = format!("f-{name}");
    let err = error_for(errors, name);
    let described = match (hint.is_some(), err.is_some()) {
        (_, true) => Some(format!("{id}-error")),
        (true, false) => Some(format!("{id}-hint")),
        _ => None,
    };
    html! {
        div.field.has-error[err.is_some()] {
            label for=(id) { (label) }
            input type=(kind) id=(id) name=(name) value=(value) required[required]
                aria-invalid=[err.map(|_| "true")] aria-describedby=[described]
                autocomplete=(if kind == "password" { "new-password" } else { "off" });
            @if let Some(h) = hint { span.hint id={ (id) "-hint" } { (h) } }
            @if let Some(e) = err { span.error id={ (id) "-error" } { (e) } }
        }
    }
}

/// A labelled select of `(value, label)` options.
pub(crate) fn select(
    name: &str,
    label: &str,
    options: &[(String, String)],
    selected: &str,
    errors: &[FieldError],
) -> Markup {
    let id = format!("f-{name}");
    let err = error_for(errors, name);
    html! {
        div.field.has-error[err.is_some()] {
            label for=(id) { (label) }
            select id=(id) name=(name) aria-describedby=[err.map(|_| format!("{id}-error"))] {
                @for (value, text) in options {
                    option value=(value) selected[value == selected] { (text) }
                }
            }
            @if let Some(e) = err { span.error id={ (id) "-error" } { (e) } }
        }
    }
}

/// A labelled checkbox.
pub(crate) fn checkbox(name: &str, label: &str, checked: bool) -> Markup {
    let id = format!("f-{name}");
    html! {
        div.check {
            input type="checkbox" id=(id) name=(name) value="1" checked[checked];
            label for=(id) { (label) }
        }
    }
}

/// An empty list: what is missing and what to do about it.
pub(crate) fn empty(title: &str, action: Markup) -> Markup {
    html! { div.empty { strong { (title) } (action) } }
}

/// The pager repeated below a list: only when there is more than one page.
pub(crate) fn pager_below(
    total: i64,
    limit: i64,
    offset: i64,
    link: impl Fn(i64) -> String,
) -> Markup {
    if total > limit {
        pager(total, limit, offset, link)
    } else {
        html! {}
    }
}

/// "Showing a–b of n" and the previous/next links; `link(page)` makes a
/// page's URL (pages are 1-based in URLs).
pub(crate) fn pager(total: i64, limit: i64, offset: i64, link: impl Fn(i64) -> String) -> Markup {
    let page = offset / limit.max(1) + 1;
    let pages = ((total + limit - 1) / limit.max(1)).max(1);
    let first = if total == 0 { 0 } else { offset + 1 };
    let last = (offset + limit).min(total);
    html! {
        nav.pager aria-label="Pages" {
            span.muted { "Showing " (first) "–" (last) " of " (total) }
            @if pages > 1 {
                span.links {
                    @if page > 1 { a.button.secondary.small href=(link(page - 1)) rel="prev" { "← Previous" } }
                    span.muted { "Page " (page) " of " (pages) }
                    @if page < pages { a.button.secondary.small href=(link(page + 1)) rel="next" { "Next →" } }
                }
            }
        }
    }
}

/// A health badge.
pub(crate) fn health(status: HealthStatus) -> Markup {
    let class = match status {
        HealthStatus::Healthy => "ok",
        HealthStatus::Degraded => "warn",
        HealthStatus::Down => "bad",
    };
    html! { span class={ "badge " (class) } { (status.as_str()) } }
}

/// A small badge: `kind` is `ok`, `warn`, `bad` or "".
pub(crate) fn badge(kind: &str, text: &str) -> Markup {
    html! { span class={ "badge " (kind) } { (text) } }
}

/// A time as UTC text with a relative hint ("3 min ago", "in 2 h").
pub(crate) fn when(t: Option<DateTime<Utc>>) -> Markup {
    match t {
        None => html! { span.muted { "—" } },
        Some(t) => html! {
            time datetime=(t.to_rfc3339()) title=(t.format("%Y-%m-%d %H:%M:%S UTC").to_string()) { (relative(t, Utc::now())) }
        },
    }
}

/// `t` relative to `now`.
pub(crate) fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let abs = secs.unsigned_abs();
    let span = if abs < 60 {
        format!("{abs} s")
    } else if abs < 3600 {
        format!("{} min", abs / 60)
    } else if abs < 86_400 {
        format!("{} h", abs / 3600)
    } else {
        format!("{} d", abs / 86_400)
    };
    if abs < 5 {
        "just now".to_owned()
    } else if secs < 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// A whole number with thousands separators.
pub(crate) fn num(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times_read_well() {
        assert_eq!(num(0), "0");
        assert_eq!(num(1234567), "1,234,567");
        assert_eq!(num(-1000), "-1,000");
        let now = Utc::now();
        assert_eq!(
            relative(now - chrono::Duration::minutes(3), now),
            "3 min ago"
        );
        assert_eq!(relative(now + chrono::Duration::hours(2), now), "in 2 h");
        assert_eq!(relative(now, now), "just now");
    }

    #[test]
    fn values_are_escaped() {
        let html = input(
            "text",
            "label",
            "Label",
            "<script>alert(1)</script>",
            None,
            &[],
            false,
        )
        .into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn users_see_only_their_sections() {
        assert!(allowed(Nav::Keys, Role::User));
        assert!(!allowed(Nav::Accounts, Role::User));
        assert!(!allowed(Nav::Users, Role::User));
        assert!(allowed(Nav::Accounts, Role::Provider));
        assert!(allowed(Nav::Password, Role::Provider));
    }
}
