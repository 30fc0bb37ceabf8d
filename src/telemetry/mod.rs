//! Logging set-up and the operational signals: decision lines go to the `bedrock_guard::decision`
//! target and the per-request audit event to `bedrock_guard::audit`, so either can be filtered or routed
//! on its own.
//!
//! - [`audit`]: the one audit event per request.
//! - [`body`]: the response body wrapper that emits it when the answer completes.
//! - [`tokens`]: token usage read from responses as they pass through (over `eventstream` framing,
//!   or `sse` lines for the OpenAI-compatible routes).
//! - [`json`]: the JSON log line format.
//! - [`metrics`]: Prometheus metrics behind the `metrics` facade.
//! - [`request_id`]: request ids without a system call each.

pub mod audit;
pub mod body;
mod eventstream;
mod json;
pub mod metrics;
pub mod request_id;
mod sse;
pub mod tokens;
mod writer;

pub use writer::flush;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` wins over the configured level.
pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a person at a terminal, never into log files or collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer::QueuedStderr::start());
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.event_format(json::JsonLines).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
