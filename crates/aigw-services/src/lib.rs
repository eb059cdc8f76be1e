//! aigateway services: registry and routing, account selection, proxy
//! assignment, credentials, the HTTP client pool, provider executors,
//! failover and the stats recorder.

pub mod client_pool;
