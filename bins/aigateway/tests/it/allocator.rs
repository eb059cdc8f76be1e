//! The binary's allocator settings, read back from jemalloc itself.

use super::support::gateway;

/// jemalloc runs its background purging thread, gives pages freed for a
/// second back to the system (`.cargo/config.toml`) rather than keeping them
/// for its default ten seconds, and caches blocks of up to 8 KiB per thread
/// rather than 32 KiB. It is the process's `malloc`, so the bundled SQLite's
/// memory goes through it too: it reads its settings from `MALLOC_CONF`, not
/// from the `_RJEM_MALLOC_CONF` of a jemalloc that only Rust code uses.
#[test]
fn jemalloc_purges_in_the_background_after_a_second_and_caches_small_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let output = gateway(dir.path(), &[])
        .arg("--version")
        .env("MALLOC_CONF", "stats_print:true")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stats = String::from_utf8_lossy(&output.stderr);
    for setting in [
        "opt.background_thread: true",
        "opt.dirty_decay_ms: 1000 ",
        "opt.tcache_max: 8192\n",
    ] {
        assert!(stats.contains(setting), "{setting} not in:\n{stats}");
    }
}
