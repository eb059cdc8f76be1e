//! A deadline on silence: it passes once nothing was heard for a whole period.
//!
//! Hearing something only marks the deadline to move; it moves when the listener next finds
//! nothing at hand, so a burst of arrivals reads the clock once, not once per arrival.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep};

/// A period of silence to wait out, restarted by what is heard.
#[derive(Debug)]
pub(crate) struct Silence {
    /// Boxed so that its owner stays `Unpin`.
    deadline: Pin<Box<Sleep>>,
    period: Duration,
    heard: bool,
}

impl Silence {
    /// A silence that passes `period` from now unless something is heard.
    pub(crate) fn new(period: Duration) -> Self {
        Self {
            deadline: Box::pin(sleep(period)),
            period,
            heard: false,
        }
    }

    /// Something arrived.
    pub(crate) fn heard(&mut self) {
        self.heard = true;
    }

    /// Polled when nothing is at hand: ready once a whole period passed without anything
    /// heard, and then a new period starts.
    pub(crate) fn poll_passed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::take(&mut self.heard) {
            self.restart();
        }
        ready!(self.deadline.as_mut().poll(cx));
        self.restart();
        Poll::Ready(())
    }

    fn restart(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.period);
    }
}
