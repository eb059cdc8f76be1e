//! `GET /api/v1/openapi.json`: the OpenAPI 3.0 document of the management
//! API, kept next to the route table (a test there checks that both list
//! the same operations).

use http::Response;
use http::header::{CONTENT_TYPE, HeaderValue};

use super::ctx::{Ctx, Reply};
use crate::body::ResponseBody;

/// The OpenAPI 3.0 document of the management API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json`.
pub(crate) async fn serve(_: Ctx<'_>) -> Reply {
    let mut resp = Response::new(ResponseBody::full(OPENAPI));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}
