//! The bounded pool that runs RPC work which reads storage or checks signatures, so that no RPC
//! load holds the async workers that drive consensus.
//!
//! Work runs on tokio's blocking threads (`spawn_blocking`), at most [`Pool::threads`] at once.
//! Calls wait for a turn without holding a thread; when [`MAX_WAITING_CALLS`] already wait, a
//! further call is refused at once with 1010 "node busy" instead of queueing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use jsonrpsee::types::ErrorObjectOwned;
use paychain_api::ErrorCode;
use tokio::sync::Semaphore;

/// Most calls waiting for a thread (over all clients) before further calls are refused.
pub const MAX_WAITING_CALLS: usize = 4096;

/// The pool (cheap to clone: one pool per server).
#[derive(Clone)]
pub struct Pool {
    threads: usize,
    turns: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

/// One call counted in [`Pool::waiting`] until dropped (also when its caller goes away).
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pool {
    /// A pool of `threads` threads (0: one per core).
    pub fn new(threads: usize) -> Pool {
        let threads = match threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        };
        Pool {
            threads,
            turns: Arc::new(Semaphore::new(threads)),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How many run at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Calls waiting for a thread now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Runs `work` on a blocking thread once one is free; refused with [`ErrorCode::Busy`] when
    /// [`MAX_WAITING_CALLS`] calls already wait.
    pub async fn call<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, ErrorObjectOwned> {
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        let waiting = Waiting(self.waiting.clone());
        if before >= MAX_WAITING_CALLS {
            return Err(ErrorCode::Busy.err(format!(
                "node busy: {before} calls are waiting for a thread, retry later"
            )));
        }
        let turn = self.turns.clone().acquire_owned().await;
        drop(waiting);
        let turn = turn.map_err(|_| ErrorCode::Busy.err("node shutting down"))?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work()
        })
        .await
        .map_err(|e| super::internal(format!("blocking RPC task failed: {e}")))
    }

    /// [`Pool::call`] for the node's own work whose number is bounded elsewhere (a subscription's
    /// next block): it waits for its turn however many wait.
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, ErrorObjectOwned> {
        let turn = self
            .turns
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ErrorCode::Busy.err("node shutting down"))?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work()
        })
        .await
        .map_err(|e| super::internal(format!("blocking RPC task failed: {e}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// At most `threads` run at once, off the async worker: a current-thread runtime keeps
    /// ticking while the pool's work blocks.
    #[tokio::test(flavor = "current_thread")]
    async fn runs_bounded_and_off_the_worker() {
        let pool = Pool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut calls = Vec::new();
        for _ in 0..8 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            calls.push(tokio::spawn(async move {
                pool.call(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .unwrap()
            }));
        }
        // The only worker thread is free meanwhile: timers fire while every call blocks.
        let mut ticks = 0;
        while calls.iter().any(|c| !c.is_finished()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            ticks += 1;
        }
        for c in calls {
            c.await.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert!(ticks >= 10, "the async worker was held: {ticks} ticks");
        assert_eq!(pool.waiting(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn refuses_when_too_many_wait() {
        let pool = Pool::new(1);
        pool.waiting.store(MAX_WAITING_CALLS, Ordering::SeqCst);
        let e = pool.call(|| ()).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Busy.code());
        assert!(e.message().contains("node busy"), "{}", e.message());
        assert_eq!(
            pool.waiting(),
            MAX_WAITING_CALLS,
            "the refused call is not counted"
        );
    }
}
