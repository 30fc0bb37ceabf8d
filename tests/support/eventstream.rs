//! `application/vnd.amazon.eventstream` frames: encoding for the double's
//! stream responses and decoding so tests can inspect raw bytes the proxy
//! passed through. Framing and both CRCs are done by `aws-smithy-eventstream`,
//! the same code the AWS SDKs use to read these streams.

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Buf, Bytes};

/// One decoded frame. Header values that are not strings are rendered with
/// `Debug`, which is enough for assertions; Bedrock only sends strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedFrame {
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl DecodedFrame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `:event-type` for events, `:exception-type` for exceptions.
    pub fn kind(&self) -> Option<&str> {
        self.header(":event-type")
            .or_else(|| self.header(":exception-type"))
    }

    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("frame payload is JSON")
    }
}

/// An `event` frame with a JSON payload.
pub fn encode_event(event_type: &str, payload: &[u8]) -> Bytes {
    encode(":event-type", event_type, "event", payload)
}

/// An `exception` frame with a JSON payload: a failure after the 200.
pub fn encode_exception(exception_type: &str, payload: &[u8]) -> Bytes {
    encode(":exception-type", exception_type, "exception", payload)
}

fn encode(type_header: &str, type_value: &str, message_type: &str, payload: &[u8]) -> Bytes {
    let message = Message::new(Bytes::copy_from_slice(payload))
        .add_header(string_header(":message-type", message_type))
        .add_header(string_header(type_header, type_value))
        .add_header(string_header(":content-type", "application/json"));
    let mut out = Vec::new();
    write_message_to(&message, &mut out).expect("event-stream frame encodes");
    Bytes::from(out)
}

fn string_header(name: &str, value: &str) -> Header {
    Header::new(
        name.to_owned(),
        HeaderValue::String(value.to_owned().into()),
    )
}

/// Decodes every frame in `buf`, checking both CRCs. Panics on a corrupt or
/// truncated stream, since for a test that is the failure to report.
pub fn decode_frames(buf: &[u8]) -> Vec<DecodedFrame> {
    try_decode_frames(buf).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`decode_frames`], but returns an error instead of panicking.
pub fn try_decode_frames(mut buf: &[u8]) -> Result<Vec<DecodedFrame>, String> {
    let mut frames = Vec::new();
    while buf.has_remaining() {
        let offset_hint = frames.len();
        let message = read_message_from(&mut buf)
            .map_err(|e| format!("event-stream frame #{offset_hint} does not decode: {e}"))?;
        frames.push(DecodedFrame {
            headers: message
                .headers()
                .iter()
                .map(|h| {
                    let value = match h.value() {
                        HeaderValue::String(s) => s.as_str().to_owned(),
                        other => format!("{other:?}"),
                    };
                    (h.name().as_str().to_owned(), value)
                })
                .collect(),
            payload: message.payload().to_vec(),
        });
    }
    Ok(frames)
}
