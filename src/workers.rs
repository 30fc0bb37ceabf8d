//! Serving threads, each running a single-threaded tokio runtime. The accept loop hands every new
//! connection to one of them in turn, so a connection, the requests on it and the upstream
//! connections serving them live on one thread: no work stealing and no cross-thread wake-up per
//! request, the layout of nginx workers and pingora's per-thread runtimes (figures in
//! docs/BENCHMARKS.md, decision in docs/DESIGN.md). Each thread also has its own upstream connection
//! pool (`upstream::Upstream` picks it by [`current`]).

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

thread_local! {
    /// This thread's index among the serving threads, if it is one.
    static INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The index of the serving thread running the caller, `None` on any other thread.
pub(crate) fn current() -> Option<usize> {
    INDEX.with(Cell::get)
}

/// The number of serving threads for a `worker_threads` setting (0: one per CPU).
pub(crate) fn count(setting: usize) -> usize {
    if setting > 0 {
        return setting;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The serving threads; they stop when this is dropped (tasks still on them are cancelled).
pub(crate) struct Workers {
    handles: Vec<Handle>,
    _stop: Vec<oneshot::Sender<()>>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `count` threads (at least one).
    pub(crate) fn start(count: usize) -> io::Result<Self> {
        let mut handles = Vec::with_capacity(count);
        let mut stop = Vec::with_capacity(count);
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            stop.push(stop_tx);
            std::thread::Builder::new()
                .name(format!("bedrock-guard-worker-{index}"))
                .spawn(move || {
                    INDEX.with(|i| i.set(Some(index)));
                    // Runs the thread's tasks until the sender is dropped.
                    let _ = runtime.block_on(stop_rx);
                })?;
        }
        Ok(Self {
            handles,
            _stop: stop,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `task` on the next serving thread (round robin).
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let next = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles[next].spawn(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_go_round_robin_and_know_their_thread() {
        let workers = Workers::start(2).unwrap();
        assert_eq!(current(), None);
        let mut seen = Vec::new();
        for _ in 0..4 {
            let (tx, rx) = oneshot::channel();
            workers.spawn(async move {
                let _ = tx.send((current(), std::thread::current().name().map(str::to_owned)));
            });
            seen.push(rx.await.unwrap());
        }
        let indices: Vec<_> = seen.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, [Some(0), Some(1), Some(0), Some(1)]);
        assert_eq!(seen[1].1.as_deref(), Some("bedrock-guard-worker-1"));
    }

    #[test]
    fn zero_means_one_per_cpu() {
        assert_eq!(count(3), 3);
        assert!(count(0) >= 1);
    }
}
