//! The dashboard's one stylesheet and one script, compiled into the binary and
//! served under a name carrying a hash of their content, so browsers may
//! cache them for a year and still get a new version at once.

use std::sync::LazyLock;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

/// One asset and the name it is served under.
struct Asset {
    name: String,
    body: &'static str,
    content_type: &'static str,
}

fn asset(stem: &str, ext: &str, body: &'static str, content_type: &'static str) -> Asset {
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    Asset {
        name: format!("{stem}.{}.{ext}", &hash[..12]),
        body,
        content_type,
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        asset("app", "css", CSS, "text/css; charset=utf-8"),
        asset("app", "js", JS, "text/javascript; charset=utf-8"),
    ]
});

/// The URL of the stylesheet.
pub(crate) fn css_url() -> String {
    format!("/ui/assets/{}", ASSETS[0].name)
}

/// The URL of the script.
pub(crate) fn js_url() -> String {
    format!("/ui/assets/{}", ASSETS[1].name)
}

/// The asset named `name` (with its hash), cached for a year; anything else 404.
pub(crate) fn serve(name: &str) -> Option<Response<Bytes>> {
    let asset = ASSETS.iter().find(|a| a.name == name)?;
    let mut resp = Response::new(Bytes::from_static(asset.body.as_bytes()));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_named_by_their_content() {
        let css = css_url();
        assert!(
            css.starts_with("/ui/assets/app.") && css.ends_with(".css"),
            "{css}"
        );
        let name = css.trim_start_matches("/ui/assets/");
        assert!(serve(name).is_some());
        assert!(serve("app.css").is_none());
        assert_ne!(css_url(), js_url());
    }
}
