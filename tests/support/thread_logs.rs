//! Capturing tracing output per test thread through one process-wide subscriber.
//!
//! `tracing::subscriber::set_default` (see [`super::logs`]) is per thread, and with several test
//! threads installing and dropping their own subscribers, tracing's cached callsite interest can miss
//! events (a callsite first hit while no thread wanted it stays disabled). A single global subscriber
//! keeps every callsite enabled; its writer appends to a buffer owned by the thread that logs. Under
//! `#[tokio::test]`'s current-thread runtime the proxy's tasks run on the test's thread, so each test
//! sees exactly its own guard's lines.

use std::cell::RefCell;
use std::io::Write;
use std::sync::Once;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static CAPTURING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread captures its lines: a guard started here must then serve on this thread
/// (`GuardBuilder::serve_on_caller_runtime`), not on its own serving threads.
pub fn capturing() -> bool {
    CAPTURING.with(std::cell::Cell::get)
}

/// Records that this thread captures its lines (here or through `super::logs`).
pub fn mark_capturing() {
    CAPTURING.with(|c| c.set(true));
}

struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        BUFFER.with(|b| b.borrow_mut().extend_from_slice(bytes));
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A handle on this thread's captured lines.
pub struct ThreadLogs(());

/// Installs the global JSON subscriber (once per process) and starts this thread's capture afresh.
pub fn capture() -> ThreadLogs {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(|| ThreadWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
    BUFFER.with(|b| b.borrow_mut().clear());
    mark_capturing();
    ThreadLogs(())
}

impl ThreadLogs {
    /// Every line this thread logged since [`capture`], parsed (`{"level", "target", "fields"}`).
    pub fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = BUFFER.with(|b| b.borrow().clone());
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
