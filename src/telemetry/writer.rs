//! Where log lines go: one writer thread, fed through a bounded channel, writes to stderr whatever
//! has piled up with a single `write(2)`.
//!
//! Why: every forwarded call logs at least one line (the audit event). Written straight to unbuffered
//! stderr that is a system call per line on the request path; in the end-to-end profile
//! (docs/BENCHMARKS.md) the two lines then logged per call were about 9% of the proxy's CPU at
//! saturation. Through the
//! channel, the lines of a few milliseconds cost one system call, off the request path (a line waits
//! at most about [`GATHER`] before it is written).
//!
//! Nothing is dropped: when the writer falls behind, the channel fills and logging blocks, as a slow
//! stderr would. Lines still queued when the process exits are written by [`flush`], which the
//! command line calls before returning.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::OnceLock;
use std::time::Duration;

/// Lines that may wait for the writer before logging blocks.
const QUEUE: usize = 16 * 1024;
/// How long lines gather before the next write: the most a line waits behind the previous write.
const GATHER: Duration = Duration::from_millis(2);
/// Write out at least this much at once while lines keep arriving.
const BATCH_BYTES: usize = 256 * 1024;

enum Message {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

static QUEUE_TX: OnceLock<SyncSender<Message>> = OnceLock::new();

/// A `MakeWriter` for `tracing_subscriber`: each event (formatted whole) becomes one queued line.
/// Falls back to writing stderr directly if the writer thread could not be started.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueuedStderr;

impl QueuedStderr {
    /// Starts the writer thread (once).
    pub fn start() -> Self {
        QUEUE_TX.get_or_init(|| {
            let (tx, rx) = sync_channel(QUEUE);
            // If the thread cannot start, the receiver is dropped with the closure: every send then
            // fails and the line goes to stderr directly.
            let _ = std::thread::Builder::new()
                .name("bedrock-guard-log".to_owned())
                .spawn(move || write_lines(rx));
            tx
        });
        QueuedStderr
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for QueuedStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter
    }
}

pub struct LineWriter;

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let sent = QUEUE_TX
            .get()
            .is_some_and(|tx| tx.send(Message::Line(buf.to_vec())).is_ok());
        if !sent {
            io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn write_lines(rx: Receiver<Message>) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    let mut acks = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut drained = false;
        while let Some(message) = next.take() {
            match message {
                Message::Line(line) => batch.extend_from_slice(&line),
                Message::Flush(ack) => acks.push(ack),
            }
            if batch.len() >= BATCH_BYTES {
                break;
            }
            next = rx.try_recv().ok();
            drained = next.is_none();
        }
        if !batch.is_empty() {
            // Nowhere to report a failing stderr; the lines are dropped, as `eprintln!` would panic.
            let _ = io::stderr().write_all(&batch);
            batch.clear();
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        // Caught up: let lines pile up. While this thread sleeps rather than waits in `recv`,
        // sending a line wakes nobody, so a busy proxy pays neither a wake-up nor a write per line.
        // Behind: write the next batch at once, or the sleep would cap the rate of logged lines.
        if drained {
            std::thread::sleep(GATHER);
        }
    }
}

/// Writes out every line logged so far (waits at most a second).
pub fn flush() {
    let Some(tx) = QUEUE_TX.get() else { return };
    let (ack, done) = sync_channel(1);
    if tx.send(Message::Flush(ack)).is_ok() {
        let _ = done.recv_timeout(Duration::from_secs(1));
    }
}
