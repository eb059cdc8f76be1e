//! The HTML page the OAuth callback answers with. Every value in it is HTML-escaped, the
//! script is a constant that reads them from `data-` attributes (so no value is ever
//! interpolated into script), and the result is posted only to the configured origin.

use std::fmt::Write as _;

/// What the page reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// An account was created.
    Created {
        /// Its id.
        account_id: String,
        /// Its label (the e-mail, usually).
        label: String,
        /// Its provider.
        provider: String,
    },
    /// The flow failed; the message is safe to show (no secrets).
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2F;"),
            '`' => out.push_str("&#x60;"),
            '=' => out.push_str("&#x3D;"),
            _ => out.push(c),
        }
    }
    out
}

/// Reads the result from the body's `data-` attributes and posts it to the opener, only
/// when an origin is configured; never to `*`.
const SCRIPT: &str = "(function(){var d=document.body.dataset;\
if(window.opener&&d.origin){window.opener.postMessage({type:'aigw-oauth',\
success:d.success==='true',account_id:d.account||null,provider:d.provider||null},d.origin);}\
})();";

/// The `Content-Security-Policy` the page is served with: nothing loads, only the page's own
/// style and its one constant script run.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page for `outcome`. `origin` is where the result is posted (see
/// [`super::OnboardingSettings::callback_origin`]).
pub fn render(outcome: &CallbackOutcome, origin: Option<&str>) -> String {
    let (success, title, account, provider, lines) = match outcome {
        CallbackOutcome::Created {
            account_id,
            label,
            provider,
        } => (
            true,
            "Account connected",
            account_id.as_str(),
            provider.as_str(),
            vec![
                format!("Provider: {provider}"),
                format!("Account: {label}"),
                format!("Id: {account_id}"),
            ],
        ),
        CallbackOutcome::Failed { message } => {
            (false, "Authorisation failed", "", "", vec![message.clone()])
        }
    };
    let mut html = String::with_capacity(1024);
    html.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(html, "<title>{}</title>", escape_html(title));
    html.push_str(
        "<style>body{font-family:sans-serif;max-width:40em;margin:4em auto;}</style></head>",
    );
    let _ = write!(
        html,
        "<body data-success=\"{success}\" data-account=\"{}\" data-provider=\"{}\" data-origin=\"{}\">",
        escape_html(account),
        escape_html(provider),
        escape_html(origin.unwrap_or_default()),
    );
    let _ = write!(html, "<h1>{}</h1>", escape_html(title));
    for line in lines {
        let _ = write!(html, "<p>{}</p>", escape_html(&line));
    }
    html.push_str("<p>You can close this window.</p>");
    let _ = write!(html, "<script>{SCRIPT}</script></body></html>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped() {
        let page = render(
            &CallbackOutcome::Created {
                account_id: "\"><script>alert(1)</script>".into(),
                label: "<script>alert('x')</script>@example.com".into(),
                provider: "anthropic".into(),
            },
            Some("https://admin.example\" onload=\"x"),
        );
        assert_eq!(
            page.matches("<script>").count(),
            1,
            "only the page's own script"
        );
        assert!(page.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2F;script&gt;"));
        assert!(!page.contains("\" onload=\""));
        assert!(
            page.contains(
                "data-origin=\"https:&#x2F;&#x2F;admin.example&quot; onload&#x3D;&quot;x\""
            )
        );
    }

    #[test]
    fn without_an_origin_nothing_is_posted_anywhere() {
        let page = render(
            &CallbackOutcome::Failed {
                message: "invalid or expired OAuth state".into(),
            },
            None,
        );
        assert!(page.contains("data-origin=\"\""));
        assert!(page.contains("data-success=\"false\""));
        assert!(!page.contains("'*'"), "never posts to any origin");
    }
}
