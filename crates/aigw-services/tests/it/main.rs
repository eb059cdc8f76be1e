//! Integration tests of aigw-services.

mod client_pool;
mod credentials;
mod inline_waker;
mod onboarding;
mod proxy_assign;
mod stats;
mod stream;
