//! A waker for polling, inside one task, futures that wake each other.
//!
//! hyper joins a connection to the requests and responses on it through channels: the
//! connection wakes a body's reader when a piece arrives, and the reader wakes the connection
//! when it wants more. When one task polls both sides (the server's connection task polls the
//! handler that reads the request body; a request polls its own upstream connection, see
//! `client_pool::h1`), those wakes land on the task while it is running, and tokio reschedules
//! a task woken during its own poll as a yield: at the back of the queue, with an idle worker
//! thread woken to take it over. That cost a futex wake-up and a move to the other thread on
//! every request.
//!
//! [`InlineWaker::poll`] polls with a waker of its own instead: a wake that comes while the
//! poll is running is noted and the poll runs again, since everything it could concern is
//! polled again anyway; a wake at any other time (a socket became readable, a timer fired)
//! goes to the task.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use parking_lot::Mutex;

/// Not polling: wakes go to the task.
const IDLE: u8 = 0;
/// Polling: a wake is noted instead.
const POLLING: u8 = 1;
/// Polling, and something woke meanwhile.
const WOKEN: u8 = 2;

/// Runs of the poll in a row that may be caused by wakes during the previous run. A future
/// that keeps waking itself (hyper yields after a number of pieces) then gets a real wake,
/// and the task a real yield.
const MAX_RUNS: usize = 4;

/// A waker that keeps the wakes of a poll's own run from waking the task (see the module
/// docs). Made once per connection, not per poll.
pub struct InlineWaker {
    relay: Arc<Relay>,
    /// `relay` as a waker, made once per connection.
    waker: Waker,
}

impl Default for InlineWaker {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for InlineWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineWaker").finish_non_exhaustive()
    }
}

struct Relay {
    state: AtomicU8,
    /// The task polling now, or last.
    task: Mutex<Option<Waker>>,
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(WOKEN) => {}
            Err(_) => {
                if let Some(task) = &*self.task.lock() {
                    task.wake_by_ref();
                }
            }
        }
    }
}

impl InlineWaker {
    /// A waker with no task yet.
    pub fn new() -> Self {
        let relay = Arc::new(Relay {
            state: AtomicU8::new(IDLE),
            task: Mutex::new(None),
        });
        let waker = Waker::from(Arc::clone(&relay));
        Self { relay, waker }
    }

    /// Runs `poll` with this waker, again while it is pending and something it polled woke
    /// during the run; wakes after it returns go to `cx`'s task.
    pub fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        {
            let mut task = self.relay.task.lock();
            if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        let mut inner = Context::from_waker(&self.waker);
        for _ in 0..MAX_RUNS {
            self.relay.state.store(POLLING, Ordering::Release);
            let polled = poll(&mut inner);
            let woken = self.relay.state.swap(IDLE, Ordering::AcqRel) == WOKEN;
            if polled.is_ready() || !woken {
                return polled;
            }
        }
        // Still waking itself: let the task yield for real.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Lets go of the last task's waker (the connection goes idle).
    pub fn forget_task(&self) {
        *self.relay.task.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A task's waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_task() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        let waker = Waker::from(Arc::clone(&count));
        (count, waker)
    }

    #[test]
    fn a_wake_during_the_poll_runs_it_again_instead_of_waking_the_task() {
        let (count, task) = counting_task();
        let inline = InlineWaker::new();
        let mut runs = 0;
        let polled = inline.poll(&mut Context::from_waker(&task), |cx| {
            runs += 1;
            if runs == 1 {
                // As a channel's sender does for its receiver polled in the same run.
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(runs)
            }
        });
        assert_eq!(polled, Poll::Ready(2));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_wake_after_the_poll_wakes_the_task() {
        let (count, task) = counting_task();
        let inline = InlineWaker::new();
        let mut kept = None;
        let polled: Poll<()> = inline.poll(&mut Context::from_waker(&task), |cx| {
            kept = Some(cx.waker().clone());
            Poll::Pending
        });
        assert!(polled.is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        // As a socket becoming readable does, from the I/O driver.
        kept.as_ref().map(Waker::wake_by_ref);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // The task that polled last is the one woken.
        let (second, task) = counting_task();
        let _: Poll<()> = inline.poll(&mut Context::from_waker(&task), |_| Poll::Pending);
        kept.as_ref().map(Waker::wake_by_ref);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        inline.forget_task();
        kept.as_ref().map(Waker::wake_by_ref);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_poll_that_keeps_waking_itself_makes_the_task_yield() {
        let (count, task) = counting_task();
        let inline = InlineWaker::new();
        let mut runs = 0;
        let polled: Poll<()> = inline.poll(&mut Context::from_waker(&task), |cx| {
            runs += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        });
        assert!(polled.is_pending());
        assert_eq!(runs, MAX_RUNS);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }
}
