//! The JSON log format: one object per line, `{"timestamp", "level", <fields>, "target"}`, with the
//! event's fields (its message included) at the top level. Same shape as `tracing_subscriber`'s JSON
//! format with `flatten_event(true)`, written straight into the line buffer.
//!
//! Why not that formatter: it serializes through `serde_json` into an `io::Write` adaptor that checks
//! every small write for valid UTF-8 before passing it on, which made formatting the one audit line
//! about 14% of the proxy's instructions per forwarded call (callgrind, docs/BENCHMARKS.md). Field
//! values here are already `str`, numbers or `Display`, so they are escaped and written directly.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        super::timestamp::write_timestamp(&mut writer, std::time::SystemTime::now())?;
        write!(writer, "\",\"level\":\"{}\"", meta.level())?;
        let mut fields = Fields {
            out: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str(",\"target\":")?;
        write_escaped(&mut writer, meta.target())?;
        writer.write_str("}\n")
    }
}

/// Writes each field as `,"name":value`; the first error is kept and reported after the visit.
struct Fields<'w, W: Write> {
    out: &'w mut W,
    result: fmt::Result,
}

impl<W: Write> Fields<'_, W> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = (|| {
                self.out.write_char(',')?;
                write_escaped(self.out, field.name())?;
                self.out.write_char(':')?;
                value(self.out)
            })();
        }
    }
}

impl<W: Write> Visit for Fields<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |out| write_escaped(out, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |out| {
            out.write_str(if value { "true" } else { "false" })
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes null for them too.
        self.field(field, |out| {
            if value.is_finite() {
                write!(out, "{value}")
            } else {
                out.write_str("null")
            }
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields and the message arrive here; both are formatted into the escaper directly.
        self.field(field, |out| {
            out.write_char('"')?;
            write!(Escaper(out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// `"text"` with JSON escapes.
fn write_escaped(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaper(out).write_str(text)?;
    out.write_char('"')
}

/// Escapes what passes through it for a JSON string (without the quotes).
struct Escaper<'w, W: Write>(&'w mut W);

impl<W: Write> Write for Escaper<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain = 0;
        for (at, b) in text.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            // Runs without escapes are written whole; `at` is an ASCII byte, so a char boundary.
            self.0.write_str(&text[plain..at])?;
            if escape.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            plain = at + 1;
        }
        self.0.write_str(&text[plain..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    fn capture(log: impl FnOnce()) -> String {
        let out = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLines)
            .with_writer(out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn one_flat_object_per_line_with_every_kind_of_field() {
        let name = "quote\" backslash\\ newline\n tab\t bell\u{7} é";
        let text = capture(|| {
            tracing::info!(
                target: "bedrock_guard::audit",
                request_id = "r-1",
                display = %name,
                missing = None::<&str>,
                present = Some("x"),
                status = 200u16,
                delta = -3i64,
                latency_ms = 1.25f64,
                infinite = f64::INFINITY,
                enforced = true,
                "audit"
            );
        });
        assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], "bedrock_guard::audit");
        assert_eq!(line["message"], "audit");
        assert_eq!(line["request_id"], "r-1");
        assert_eq!(line["display"], name);
        assert!(line.get("missing").is_none());
        assert_eq!(line["present"], "x");
        assert_eq!(line["status"], 200);
        assert_eq!(line["delta"], -3);
        assert_eq!(line["latency_ms"], 1.25);
        assert!(line["infinite"].is_null());
        assert_eq!(line["enforced"], true);
        // RFC 3339, UTC, as tracing's own formats write it.
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            timestamp.len() >= 20 && timestamp.ends_with('Z'),
            "{timestamp}"
        );
    }

    #[test]
    fn messages_with_arguments_are_escaped() {
        let text = capture(|| tracing::warn!("listening on {} \"{}\"", "127.0.0.1:1", "x\ny"));
        let line: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "listening on 127.0.0.1:1 \"x\ny\"");
    }

    proptest::proptest! {
        /// Whatever the text, the line parses back to it.
        #[test]
        fn escaping_round_trips(value in "\\PC*|[\\x00-\\x1f\"\\\\]{0,8}") {
            let text = capture(|| tracing::info!(value = value.as_str(), "m"));
            let line: serde_json::Value = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(line["value"].as_str(), Some(value.as_str()));
        }
    }
}
