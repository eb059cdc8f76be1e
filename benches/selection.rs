//! Criterion bench of the selection path, as the data plane runs it for
//! every request: load the snapshot, route the model, pick the account
//! round-robin (one increment of the shared counter, in process here) with
//! its resolved outbound route, and get its credential (an OAuth access
//! token from the in-process cache). With 1, 10 and 1,000 accounts, on one
//! thread and with 8 threads contending, beside a naive baseline: a
//! mutex-guarded map of account lists cloned per call, a mutex-guarded
//! counter map with a formatted key, and a mutex-guarded token map, which is
//! what re-querying a list per request costs at best.
//!
//! Allocations per pick are counted with a counting global allocator and
//! printed before the timings.
//!
//! Run: `cargo bench --bench selection`.
//!
//! Figures (medians, one run on 2 shared vCPUs with other builds running,
//! load average about 5; read the ratios):
//!
//! | accounts | gateway | baseline | ratio | gateway, 8 threads | baseline, 8 threads | allocations per pick (gateway / baseline) |
//! |---|---|---|---|---|---|---|
//! | 1 | 373 ns | 584 ns | 1.6x | 365 ns | 787 ns | 0 / 9 |
//! | 10 | 371 ns | 5.35 us | 14x | 392 ns | 5.57 us | 0 / 54 |
//! | 1,000 | 310 ns | 429 us | 1,380x | 397 ns | 480 us | 0 / 5,004 |
//!
//! The gateway's pick costs the same whatever the number of accounts (an
//! index into the snapshot's rotation) and allocates nothing; the baseline
//! grows with the list it clones. With 8 threads on 2 cores the time is
//! wall time per pick per thread.
//!
//! `gateway_affinity` is the same pick on a provider with session affinity,
//! cycling over 256 conversations that are already pinned (every turn after
//! a conversation's first): the pin is read in place of the counter, its
//! account found by id in the snapshot. One run of `gateway` and
//! `gateway_affinity` only, on 2 shared vCPUs at load average 5 to 8 (other
//! engineers' builds), so absolute times are 2-3x the table above:
//!
//! | accounts | gateway | gateway, session affinity | ratio | allocations per pick (affinity) |
//! |---|---|---|---|---|
//! | 1 | 1.59 us | 1.64 us | 1.03x | 0 |
//! | 10 | 518 ns | 996 ns | 1.92x | 0 |
//! | 1,000 | 837 ns | 1.04 us | 1.24x | 0 |

#![expect(
    clippy::disallowed_types,
    reason = "the baseline models a gateway that re-reads its accounts under the standard library's lock"
)]

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use aigateway::domain::{Account, AccountId, AuthData, NewAccount, Provider};
use aigateway::formats::ConversationKey;
use aigateway::repository::state::{SharedState, StateConfig};
use aigateway::repository::{SnapshotData, SqlRepository};
use aigateway::services::client_pool::{ClientPool, PoolConfig};
use aigateway::services::cooldown::Cooldowns;
use aigateway::services::credentials::{CredentialService, CredentialSettings};
use aigateway::services::pins::{PinQueue, write_pins};
use aigateway::services::routing::{RuleTable, default_rules};
use aigateway::services::selector::{Conversation, Selector, Turn};
use aigateway::services::snapshot::{ProxyOverflow, Snapshot, SnapshotStore};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const SIZES: [usize; 3] = [1, 10, 1_000];
const THREADS: usize = 8;
const MODEL: &str = "gpt-4o";
/// Conversations the affinity case cycles through.
const CONVERSATIONS: usize = 256;

/// Polls a future that the in-process path completes without waiting.
fn ready<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

fn oauth_account(i: usize) -> Account {
    let auth: AuthData = serde_json::from_value(serde_json::json!({
        "type": "oauth",
        "access_token": format!("ya29.bench-access-token-{i:04}-of-a-realistic-length"),
        "refresh_token": format!("1//bench-refresh-{i:04}"),
        "expires_at": "2099-01-01T00:00:00Z",
    }))
    .unwrap_or_else(|e| unreachable!("a valid credential: {e}"));
    let mut new = NewAccount::new(
        "openai"
            .parse()
            .unwrap_or_else(|_| unreachable!("a valid id")),
        format!("bench-{i}"),
        auth,
    );
    new.expires_at = new.auth_data.expires_at();
    Account::from_new(AccountId::new(), new, chrono::Utc::now())
}

/// The gateway's pieces, as `Runtime::start` wires them, without the SQL
/// store on the path (it is only needed on a token cache miss).
struct Fixture {
    snapshot: SnapshotStore,
    selector: Selector,
    /// With session affinity on: the conversations picks cycle through
    /// (each already pinned, as every turn after a conversation's first is).
    conversations: Vec<Conversation>,
    next_conversation: AtomicUsize,
    cooldowns: Cooldowns,
    credentials: CredentialService,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new(rt: &tokio::runtime::Runtime, accounts: usize, affinity: bool) -> Self {
        let mut openai = aigateway::services::builtin::builtin_providers()
            .into_iter()
            .find(|p| p.id.as_str() == "openai")
            .unwrap_or_else(|| unreachable!("openai is built in"));
        openai.session_affinity = affinity;
        let data = SnapshotData {
            providers: vec![Provider::from_new(openai, chrono::Utc::now())],
            accounts: (0..accounts).map(oauth_account).collect(),
            ..SnapshotData::default()
        };
        let rules = RuleTable::new(&default_rules()).unwrap_or_else(|e| unreachable!("{e}"));
        let snapshot = SnapshotStore::new(Snapshot::build(data, rules, ProxyOverflow::Reject));
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let (state, credentials) = rt.block_on(async {
            let state = SharedState::from_config(&StateConfig::in_process())
                .await
                .unwrap_or_else(|e| unreachable!("{e}"));
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            let repo = SqlRepository::connect(&url)
                .await
                .unwrap_or_else(|e| unreachable!("{e}"));
            let pool =
                ClientPool::new(PoolConfig::default()).unwrap_or_else(|e| unreachable!("{e}"));
            let credentials =
                CredentialService::new(repo, state.clone(), pool, CredentialSettings::default());
            (state, credentials)
        });
        let (pins, mut written) = PinQueue::new();
        let conversations = if affinity {
            (0..CONVERSATIONS)
                .filter_map(|i| ConversationKey::named(&format!("conversation-{i}")))
                .map(|key| Conversation::new(key, None))
                .collect()
        } else {
            Vec::new()
        };
        let fixture = Self {
            snapshot,
            selector: Selector::new(state.clone(), pins, Duration::from_secs(3600)),
            conversations,
            next_conversation: AtomicUsize::new(0),
            cooldowns: Cooldowns::default(),
            credentials,
            _dir: dir,
        };
        // Every conversation's first turn, its pin written as the runtime's
        // background task would: the timed picks are later turns.
        for _ in 0..fixture.conversations.len() {
            fixture.pick();
        }
        while let Ok(pin) = written.try_recv() {
            rt.block_on(write_pins(
                fixture.selector.pins(),
                &state,
                pin,
                &mut written,
            ));
        }
        // Warm the token cache: the first use of each account reads its
        // stored token; every later one is a cache hit, as in steady state.
        let warm = fixture.snapshot.load();
        for routable in &warm
            .provider(&"openai".parse().unwrap_or_else(|_| unreachable!()))
            .unwrap_or_else(|| unreachable!())
            .rotation[..]
        {
            rt.block_on(fixture.credentials.token(
                &routable.account,
                aigateway::domain::ProviderKind::Openai,
                &routable.egress,
            ))
            .unwrap_or_else(|e| unreachable!("{e}"));
        }
        fixture
    }

    /// One selection, as the data plane makes it; the token length stands
    /// in for building the request with it.
    fn pick(&self) -> usize {
        let snapshot = self.snapshot.load();
        let candidates = snapshot.route(MODEL, None);
        let conversation = match self.conversations.len() {
            0 => None,
            n => self
                .conversations
                .get(self.next_conversation.fetch_add(1, Ordering::Relaxed) % n)
                .copied(),
        };
        let Some(Some(selection)) = ready(self.selector.select(
            &candidates,
            &self.cooldowns,
            &[],
            Turn::Take,
            conversation,
        )) else {
            unreachable!("an account is always usable here")
        };
        let Some(Ok(token)) = ready(self.credentials.token(
            &selection.chosen.account,
            selection.entry.provider.kind,
            &selection.chosen.egress,
        )) else {
            unreachable!("the token is cached")
        };
        black_box(&selection.chosen.egress);
        token.expose().len()
    }
}

/// What a gateway that re-reads its accounts per request does at best.
struct Baseline {
    accounts: Mutex<HashMap<String, Vec<Account>>>,
    counters: Mutex<HashMap<String, u64>>,
    tokens: Mutex<HashMap<AccountId, String>>,
    rules: Vec<aigateway::services::routing::PrefixRule>,
}

impl Baseline {
    fn new(accounts: usize) -> Self {
        let list: Vec<Account> = (0..accounts).map(oauth_account).collect();
        let tokens = list
            .iter()
            .map(|a| {
                let token = match &a.auth_data {
                    AuthData::Oauth(o) => o
                        .access_token
                        .as_ref()
                        .map(|t| t.expose().to_owned())
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                (a.id, token)
            })
            .collect();
        Self {
            accounts: Mutex::new(HashMap::from([("openai".to_owned(), list)])),
            counters: Mutex::new(HashMap::new()),
            tokens: Mutex::new(tokens),
            rules: default_rules(),
        }
    }

    fn pick(&self) -> usize {
        let Some(provider) = self
            .rules
            .iter()
            .find(|r| r.matches(MODEL))
            .map(|r| &r.provider)
        else {
            unreachable!("gpt- routes to openai")
        };
        let accounts = self
            .accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(provider)
            .cloned()
            .unwrap_or_default();
        let usable: Vec<&Account> = accounts.iter().filter(|a| a.is_active).collect();
        let n = {
            let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
            let counter = counters
                .entry(format!("rr:{provider}:{MODEL}"))
                .or_insert(0);
            *counter += 1;
            *counter
        };
        let account = usable[((n - 1) % usable.len() as u64) as usize];
        let token = self
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&account.id)
            .cloned()
            .unwrap_or_default();
        black_box(account.proxy_id);
        token.len()
    }
}

/// Allocations (count) per pick over `n` picks.
fn allocations_per_pick(n: usize, pick: impl Fn() -> usize) -> f64 {
    let region = Region::new(GLOBAL);
    for _ in 0..n {
        black_box(pick());
    }
    region.change().allocations as f64 / n as f64
}

/// Wall time of `iters` picks on each of `THREADS` threads, per pick.
fn contended(iters: u64, pick: &(dyn Fn() -> usize + Sync)) -> Duration {
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..iters {
                    black_box(pick());
                }
            });
        }
    });
    started.elapsed() / THREADS as u32
}

#[expect(
    clippy::print_stderr,
    reason = "allocation counts are the bench's output"
)]
fn selection(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| unreachable!("{e}"));
    for &size in &SIZES {
        let fixture = Fixture::new(&rt, size, false);
        let affinity = Fixture::new(&rt, size, true);
        let baseline = Baseline::new(size);
        eprintln!(
            "selection/{size} accounts: {:.2} allocations per pick (gateway), {:.2} (gateway, \
             session affinity), {:.2} (baseline)",
            allocations_per_pick(10_000, || fixture.pick()),
            allocations_per_pick(10_000, || affinity.pick()),
            allocations_per_pick(10_000, || baseline.pick()),
        );
        let mut group = c.benchmark_group("selection");
        group.bench_with_input(BenchmarkId::new("gateway", size), &size, |b, _| {
            b.iter(|| fixture.pick());
        });
        group.bench_with_input(BenchmarkId::new("gateway_affinity", size), &size, |b, _| {
            b.iter(|| affinity.pick());
        });
        group.bench_with_input(BenchmarkId::new("baseline", size), &size, |b, _| {
            b.iter(|| baseline.pick());
        });
        group.bench_with_input(
            BenchmarkId::new("gateway_8_threads", size),
            &size,
            |b, _| b.iter_custom(|iters| contended(iters, &|| fixture.pick())),
        );
        group.bench_with_input(
            BenchmarkId::new("gateway_affinity_8_threads", size),
            &size,
            |b, _| b.iter_custom(|iters| contended(iters, &|| affinity.pick())),
        );
        group.bench_with_input(
            BenchmarkId::new("baseline_8_threads", size),
            &size,
            |b, _| b.iter_custom(|iters| contended(iters, &|| baseline.pick())),
        );
        group.finish();
    }
}

criterion_group!(benches, selection);
criterion_main!(benches);
