//! The child processes the bench starts (mock upstream, gateway, admin commands):
//! spawning them, waiting until they are ready, reading their memory, and stopping
//! every one of them whatever way the bench ends.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long a child gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running child process that is stopped when this value is dropped: on success,
/// on an error returned with `?`, and on Ctrl-C (the bench drops its futures).
#[derive(Debug)]
pub struct ChildGuard {
    name: &'static str,
    child: Option<Child>,
}

impl ChildGuard {
    fn new(name: &'static str, child: Child) -> Self {
        Self {
            name,
            child: Some(child),
        }
    }

    /// The process id, for reading `/proc/<pid>/status`.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails when the process has already exited, naming its exit status.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        let name = self.name;
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!("{name} exited early with {status}");
        }
        Ok(())
    }

    /// Stops the process: SIGTERM so it can finish cleanly (the gateway flushes its
    /// stats), then SIGKILL after a grace period. Blocking, but bounded.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = i32::try_from(child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            // An error means the process is already gone, which is the goal.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                    return;
                }
                // Polling a child that has no async handle: a short blocking wait is
                // the only portable way without a reaper thread.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Kills the process with SIGKILL at once (no chance to flush anything) and
    /// reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where the bench finds the binaries it runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub gateway: PathBuf,
    pub mock: PathBuf,
}

impl Binaries {
    /// Looks in `dir`, which defaults to the directory of this executable: cargo puts
    /// every binary of a profile side by side.
    pub fn find(dir: Option<&Path>) -> anyhow::Result<Self> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => std::env::current_exe()
                .context("cannot find this executable's path")?
                .parent()
                .context("this executable has no parent directory")?
                .to_path_buf(),
        };
        let binaries = Self {
            gateway: dir.join("aigateway"),
            mock: dir.join("aigw-mock-upstream"),
        };
        for path in [&binaries.gateway, &binaries.mock] {
            if !path.is_file() {
                bail!(
                    "{} not found; build it first: cargo build --release -p aigateway-bin \
                     -p aigw-mock-upstream -p aigw-loadbench (or pass --bin-dir)",
                    path.display()
                );
            }
        }
        Ok(binaries)
    }
}

/// Starts the mock upstream on a free port and reads the address it prints.
///
/// Its stdin stays a pipe held by the guard: the mock exits when that pipe closes,
/// so it goes away even if the bench itself is killed with SIGKILL.
pub fn start_mock(binary: &Path) -> anyhow::Result<(ChildGuard, SocketAddr)> {
    let mut child = Command::new(binary)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let stdout = child.stdout.take();
    let mut guard = ChildGuard::new("the mock upstream", child);
    let stdout = stdout.context("the mock upstream has no stdout pipe")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("cannot read the mock upstream's address")?;
    guard.check_running()?;
    let addr = line.trim().parse().with_context(|| {
        format!(
            "the mock upstream printed `{}`, not an address",
            line.trim()
        )
    })?;
    Ok((guard, addr))
}

/// The environment of one gateway deployment, shared by `serve` and the admin
/// commands so they all see the same database.
#[derive(Debug, Clone)]
pub struct GatewayEnv {
    pub binary: PathBuf,
    /// The working directory: an empty temporary directory, so no stray
    /// `aigateway.toml` is picked up.
    pub dir: PathBuf,
    pub vars: Vec<(String, String)>,
}

impl GatewayEnv {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command.current_dir(&self.dir);
        // Only the bench's own settings: an AIGW_ variable in the caller's shell
        // would otherwise change what is measured.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AIGW_") {
                command.env_remove(key);
            }
        }
        command.envs(self.vars.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs an admin subcommand and returns its last stdout line.
    pub fn admin(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run aigateway {}", args.join(" ")))?;
        if !output.status.success() {
            bail!(
                "aigateway {} failed with {}: {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout
            .lines()
            .map(str::trim)
            .rfind(|line| !line.is_empty())
            .map(str::to_owned)
            .with_context(|| format!("aigateway {} printed nothing", args.join(" ")))
    }

    /// Starts `aigateway serve`, its output going to `log` so warnings do not
    /// interleave with the table.
    pub fn serve(&self, log: &Path) -> anyhow::Result<ChildGuard> {
        let file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let err = file.try_clone()?;
        let child = self
            .command()
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        Ok(ChildGuard::new("the gateway", child))
    }
}

/// Resident memory of a process in KiB, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resident {
    /// All of it (`VmRSS`), the binary's mapped pages included.
    pub total_kib: u64,
    /// Its anonymous pages (`RssAnon`): the heap, stacks and allocator caches, without
    /// the file pages whose residency depends on the page cache.
    pub anon_kib: u64,
}

/// The resident memory of `pid`, `None` once it has exited.
pub fn resident(pid: u32) -> Option<Resident> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_resident(&status)
}

fn parse_resident(status: &str) -> Option<Resident> {
    Some(Resident {
        total_kib: status_kib(status, "VmRSS:")?,
        anon_kib: status_kib(status, "RssAnon:")?,
    })
}

fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time a process has used so far (user + system, all its threads, the
/// exited ones included), in µs, from `/proc/<pid>/stat`.
pub fn cpu_us(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_cpu_ticks(&stat)?;
    let per_second = rustix::param::clock_ticks_per_second();
    (per_second > 0).then(|| ticks * 1_000_000 / per_second)
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The
/// command name (field 2) may hold spaces and parentheses, so fields are
/// counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "aigw-loadbench-{tag}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_in_kib() {
        let status = "Name:\taigateway\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\n\
            RssAnon:\t    4321 kB\nRssFile:\t    8024 kB\nThreads:\t3\n";
        assert_eq!(
            parse_resident(status),
            Some(Resident {
                total_kib: 12345,
                anon_kib: 4321
            })
        );
        assert_eq!(parse_resident("Name:\tx\nVmRSS:\t   12345 kB\n"), None);
    }

    #[test]
    fn cpu_ticks_are_user_plus_system() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1"), None);
        assert!(cpu_us(std::process::id()).is_some());
    }

    #[test]
    fn own_resident_memory_is_readable() {
        let resident = resident(std::process::id()).unwrap();
        assert!(resident.anon_kib > 0);
        assert!(resident.total_kib >= resident.anon_kib);
    }

    #[test]
    fn a_stopped_child_is_gone() {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        let mut guard = ChildGuard::new("sleep", child);
        guard.check_running().unwrap();
        guard.stop();
        assert!(guard.pid().is_none());
        // The child was reaped, so its /proc entry is gone.
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
