//! The `aigateway` binary: command line, configuration, wiring of the
//! layers, signals and graceful shutdown. The only place that reads the
//! environment, files and signals.

mod cli;
mod config;
mod logging;
mod security;
mod serve;

use std::process::ExitCode;

/// jemalloc rather than the system allocator: its background threads give
/// memory freed after a load back to the system within seconds (glibc keeps
/// most of it; `.cargo/config.toml` builds it to return pages freed for a
/// second), and request handling allocates a lot of small short-lived
/// buffers, which is what it is built for. It replaces `malloc` for the
/// whole process, so the bundled SQLite's page cache uses it too: glibc kept
/// the pages SQLite freed (2–3 MiB after a load), jemalloc returns them.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Reports a fatal error as one line on stderr: the operator needs what went
/// wrong and where, never a backtrace.
fn fail(e: &anyhow::Error) -> ExitCode {
    #[expect(
        clippy::print_stderr,
        reason = "the last word of a failing process goes to stderr"
    )]
    {
        eprintln!("aigateway: error: {e:#}");
    }
    ExitCode::FAILURE
}
