//! aigateway HTTP layer: the hyper 1 service, routes, the data-plane and
//! management handlers, errors rendered in the client's own format, SSE
//! bodies, `/health` and `/metrics`.
//!
//! Only this crate knows hyper's server side. The server is a library
//! function taking a bound listener and a shutdown future ([`serve`]), so
//! tests run it on `127.0.0.1:0`.

#![deny(missing_docs)]

pub mod api;
mod app;
mod body;
mod connection;
mod dashboard;
mod dataplane;
mod edge;
mod error;
mod gemini;
mod health;
mod request;
mod response;
mod routes;
mod server;

pub use aigw_dashboard::DashboardSettings;
pub use app::{App, Deployment};
pub use body::ResponseBody;
pub use edge::{Linger, ServeOptions};
pub use error::{admin_status, request_status};
pub use server::{bind, serve};
