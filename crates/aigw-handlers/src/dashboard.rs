//! The web dashboard's place in the HTTP layer: its paths (`/`, `/ui/…`) are
//! handed to the `aigw-dashboard` crate with the body read (a form is small:
//! larger bodies are refused) and the client's address attached.

use aigw_dashboard::{Dashboard, MAX_FORM_BYTES};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;

use crate::app::App;
use crate::body::ResponseBody;
use crate::request::{BodyError, closing, read_body, refuse_body};
use crate::response::error_response;

/// Serves one dashboard request.
pub(crate) async fn handle<B>(app: &App, ui: &Dashboard, req: Request<B>) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<crate::connection::PeerAddr>()
        .map(|peer| peer.0.ip());
    let limit = MAX_FORM_BYTES.min(app.max_body_bytes);
    let body = match read_body(&parts.headers, body, limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge { rest, .. }) => {
            let refusal = error_response(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large");
            return refuse_body(app, &parts.headers, refusal, rest);
        }
        Err(BodyError::Read) => {
            return closing(error_response(
                StatusCode::BAD_REQUEST,
                "the form could not be read",
            ));
        }
        Err(BodyError::Timeout) => {
            return closing(error_response(
                StatusCode::REQUEST_TIMEOUT,
                "the form did not arrive in time",
            ));
        }
    };
    let resp = ui.handle(Request::from_parts(parts, body), peer).await;
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, ResponseBody::full(body))
}
