//! The text log format for lines that go to a file or a collector (no colours): byte for byte
//! `tracing_subscriber`'s default ("full") format, with the fields written straight into the line
//! buffer the subscriber reuses for every event.
//!
//! Why not that formatter: it writes every field through `nu_ansi_term` styles (empty ones, without
//! colours) and `Debug`-escapes strings a character at a time; for the one audit line per call that
//! was about 23,000 instructions, a seventh of the proxy's own per request (callgrind,
//! docs/BENCHMARKS.md). Lines for a terminal (colours), events inside spans (the AWS SDK's) and
//! records bridged from the `log` crate keep the default formatter: they are rare and it knows them.

use std::fmt;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::VisitOutput;
use tracing_subscriber::fmt::format::{DefaultVisitor, Format, Full, Writer};
use tracing_subscriber::fmt::time;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::timestamp::write_timestamp;

#[derive(Debug, Default)]
pub struct TextLines {
    full: Format<Full, time::SystemTime>,
}

impl<S, N> FormatEvent<S, N> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if writer.has_ansi_escapes()
            || ctx.event_scope().is_some()
            || meta.fields().field("log.target").is_some()
        {
            return self.full.format_event(ctx, writer, event);
        }
        write_timestamp(&mut writer, SystemTime::now())?;
        writer.write_char(' ')?;
        writer.write_str(level(meta.level()))?;
        writer.write_char(' ')?;
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        let mut fields = Fields {
            out: writer.by_ref(),
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// The level as the default format pads it.
fn level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

/// Writes `name=value` pairs separated by spaces, as `DefaultVisitor` does; the message and raw
/// identifiers (`r#type`) are handed to `DefaultVisitor` itself, which escapes and renames them.
struct Fields<'w> {
    out: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_> {
    /// Writes the separator and `name=`; `false` when `DefaultVisitor` should write the field.
    fn start(&mut self, field: &Field) -> bool {
        let name = field.name();
        if name == "message" || name.starts_with("r#") {
            return false;
        }
        if !std::mem::replace(&mut self.first, false) {
            self.result = self.out.write_char(' ');
        }
        if self.result.is_ok() {
            self.result = self
                .out
                .write_str(name)
                .and_then(|()| self.out.write_char('='));
        }
        self.result.is_ok()
    }

    fn default_visitor(&mut self, visit: impl FnOnce(&mut DefaultVisitor<'_>)) {
        let mut visitor = DefaultVisitor::new(self.out.by_ref(), self.first);
        visit(&mut visitor);
        self.result = visitor.finish();
        self.first = false;
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if !self.start(field) {
            return self.default_visitor(|v| v.record_str(field, value));
        }
        self.result = write_debug_str(&mut self.out, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.result.is_err() {
            return;
        }
        if !self.start(field) {
            return self.default_visitor(|v| v.record_u64(field, value));
        }
        self.result = self.out.write_str(itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.result.is_err() {
            return;
        }
        if !self.start(field) {
            return self.default_visitor(|v| v.record_bool(field, value));
        }
        self.result = self.out.write_str(if value { "true" } else { "false" });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        self.default_visitor(|v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        if !self.start(field) {
            return self.default_visitor(|v| v.record_debug(field, value));
        }
        self.result = write!(self.out, "{value:?}");
    }
}

/// `value` as `{:?}` prints it: quoted, escaped. Plain printable ASCII (every audit field in
/// practice) is written as it is, which is what the escaping would produce.
fn write_debug_str(out: &mut Writer<'_>, value: &str) -> fmt::Result {
    let plain = value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    if !plain {
        return write!(out, "{value:?}");
    }
    out.write_char('"')?;
    out.write_str(value)?;
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Everything written, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn events() {
        let unset: Option<&str> = None;
        tracing::info!(target: "bedrock_guard::audit", request_id = %"3f1c-22", principal = "arn:aws:iam::123456789012:user/a", model = Some("anthropic.claude-v2:1"), unset, status = 200u16, latency_ms = 0.561, neg = -3i64, big = u64::MAX, zero = 0u64, ok = true, "audit");
        tracing::warn!(
            quoted = "say \"hi\"\\now",
            tab = "a\tb",
            unicode = "é→",
            control = "\u{1b}[31mred",
            "plain {} message",
            7
        );
        tracing::error!(r#type = "raw", list = ?["a", "b"], error = %std::io::Error::other("boom"), "message with \u{1b}[2J escape");
        tracing::debug!(only = "fields", empty = "");
        tracing::info!("message only");
        let err = std::io::Error::other("inner");
        tracing::error!(
            error = &err as &(dyn std::error::Error + 'static),
            "an error value"
        );
        let span = tracing::info_span!("invoke", service = "sts");
        span.in_scope(|| tracing::warn!(inside = "a span", "from the SDK"));
    }

    /// The lines of `events` through `format` (without the timestamp, which differs by run).
    fn lines<F>(format: F) -> Vec<String>
    where
        F: FormatEvent<
                tracing_subscriber::Registry,
                tracing_subscriber::fmt::format::DefaultFields,
            > + Send
            + Sync
            + 'static,
    {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(Level::TRACE)
            .with_writer(captured.clone())
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, events);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| {
                assert_eq!(&line[26..28], "Z ", "timestamp shape: {line}");
                line[28..].to_owned()
            })
            .collect()
    }

    #[test]
    fn lines_are_the_default_format_byte_for_byte() {
        let ours = lines(TextLines::default());
        let default = lines(Format::default());
        assert_eq!(ours.len(), 7);
        assert_eq!(ours, default);
        assert!(ours[0].starts_with(" INFO bedrock_guard::audit: audit request_id=3f1c-22 principal=\"arn:aws:iam::123456789012:user/a\" model=\"anthropic.claude-v2:1\" status=200"), "{}", ours[0]);
    }
}
