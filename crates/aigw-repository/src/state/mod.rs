//! Shared state between gateway instances: counters, token cache, locks, live counters, error log, invalidation.
