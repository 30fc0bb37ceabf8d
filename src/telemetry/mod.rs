//! Logging set-up and the operational signals: decision lines go to the `bedrock_guard::decision`
//! target and the per-request audit event to `bedrock_guard::audit`, so either can be filtered or routed
//! on its own.
//!
//! - [`audit`]: the one audit event per request.
//! - [`body`]: the response body wrapper that emits it when the answer completes.
//! - [`tokens`]: token usage read from responses as they pass through (over `eventstream` framing,
//!   or `sse` lines for the OpenAI-compatible routes).
//! - [`json`], [`text`]: the two log line formats (and their [`timestamp`]).
//! - [`metrics`]: Prometheus metrics behind the `metrics` facade.
//! - [`request_id`]: request ids without a system call each.

pub mod audit;
pub mod body;
mod eventstream;
mod json;
pub mod metrics;
pub mod request_id;
mod sse;
mod text;
mod timestamp;
pub mod tokens;
mod writer;

pub use writer::flush;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` wins over the configured level.
pub fn init(format: LogFormat, level: Option<&str>) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let spec = from_env.as_deref().or(level).unwrap_or("info");
    let filter = EnvFilter::try_new(default_directives(spec))
        .or_else(|_| EnvFilter::try_new(default_directives(level.unwrap_or("info"))))
        .unwrap_or_else(|_| EnvFilter::new(default_directives("info")));
    // Colour codes only for a person at a terminal, never into log files or collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer::QueuedStderr::start());
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.event_format(json::JsonLines).try_init(),
        LogFormat::Text => builder.event_format(text::TextLines::default()).try_init(),
    };
}

/// The filter for a level (`RUST_LOG`, else `[log] level`, else `info`). The AWS SDK's credential
/// and region chains warn once per provider they try, with internal debug dumps, before the guard's
/// own line that says what is missing: below debug they are kept to errors, unless the level names
/// an `aws_` target itself.
fn default_directives(level: &str) -> String {
    if level.contains("aws_") {
        return level.to_owned();
    }
    let verbose = level.contains("debug") || level.contains("trace");
    let sdk = if verbose { "debug" } else { "error" };
    format!("{level},aws_config={sdk},aws_smithy_runtime={sdk}")
}

#[cfg(test)]
mod tests {
    use super::default_directives;

    #[test]
    fn the_sdk_speaks_up_only_at_debug_or_when_named() {
        for (level, expected) in [
            ("info", "info,aws_config=error,aws_smithy_runtime=error"),
            ("warn", "warn,aws_config=error,aws_smithy_runtime=error"),
            ("debug", "debug,aws_config=debug,aws_smithy_runtime=debug"),
            (
                "info,bedrock_guard=debug",
                "info,bedrock_guard=debug,aws_config=debug,aws_smithy_runtime=debug",
            ),
            ("info,aws_config=trace", "info,aws_config=trace"),
        ] {
            assert_eq!(default_directives(level), expected, "{level}");
        }
    }
}
