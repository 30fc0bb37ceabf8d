//! Capturing this thread's tracing output as JSON lines, to assert on what the proxy logs.
//! Works with `#[tokio::test]`'s current-thread runtime, where the proxy's tasks run on the test thread.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;

#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct CapturedLogs {
    buffer: SharedBuffer,
    _guard: DefaultGuard,
}

/// Captures everything logged on this thread (at debug and above) until the value is dropped.
pub fn capture() -> CapturedLogs {
    super::thread_logs::mark_capturing();
    let buffer = SharedBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    CapturedLogs {
        buffer,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}

impl CapturedLogs {
    /// Every line so far, parsed (`{"level", "target", "fields": {"message", ...}}`).
    pub fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.buffer.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
