//! The mock upstream as a process, for load benches that measure the gateway
//! against it from outside: prints its bound address as the first stdout line and
//! runs until SIGTERM, SIGINT, or its stdin closes.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use aigw_mock_upstream::{Fault, MockUpstream};
use clap::Parser;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(
    name = "aigw-mock-upstream",
    about = "Fake AI provider upstreams for tests and load benches"
)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Keep a log of every request (memory grows with the request count).
    #[arg(long)]
    record: bool,
    /// Added latency before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Pause between stream events, in milliseconds.
    #[arg(long, default_value_t = 0)]
    event_delay_ms: u64,
    /// Do not exit when stdin closes (run until a signal only).
    #[arg(long)]
    ignore_stdin: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen).await?;
    let mock = MockUpstream::serve(listener, args.record)?;
    if args.latency_ms > 0 {
        mock.set_default_fault(Fault::Latency(Duration::from_millis(args.latency_ms)));
    } else if args.event_delay_ms > 0 {
        mock.set_default_fault(Fault::SlowStream {
            per_event: Duration::from_millis(args.event_delay_ms),
        });
    }

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", mock.addr())?;
    stdout.flush()?;
    drop(stdout);

    let stdin_closed = async {
        if args.ignore_stdin {
            return std::future::pending().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        // Input is ignored; only the end of it matters.
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        () = stdin_closed => {}
        _ = sigterm.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    mock.shutdown().await;
    Ok(())
}
