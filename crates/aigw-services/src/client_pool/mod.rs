//! The HTTP client pool: one client per outbound route (direct or a proxy URL), built once and injected.
