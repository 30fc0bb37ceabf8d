//! An incremental reader of `application/vnd.amazon.eventstream` framing, for observing a stream as it
//! passes through. It never holds bytes back from the client: it is fed copies of the chunks already on
//! their way, keeps only the prelude and headers of the frame in progress, and buffers a payload only
//! when the caller asked for that event type (token usage lives in one small frame per stream).
//!
//! Frame layout (big-endian): `[total len u32][headers len u32][prelude CRC u32][headers][payload]
//! [message CRC u32]`. CRCs are not checked: the bytes are the client's to verify, and a corrupt frame
//! only costs us the token count.

/// Frames larger than this are treated as corruption (the AWS limit is 16 MiB per message).
const MAX_FRAME: usize = 24 * 1024 * 1024;
const PRELUDE: usize = 12;
const MESSAGE_CRC: usize = 4;

#[derive(Debug)]
enum Phase {
    Prelude,
    Headers { total: usize, headers_len: usize },
    Payload { len: usize, event_type: String },
}

/// Feeds on chunks, calls back with `(event type, payload)` for `event` frames whose type is wanted.
#[derive(Debug)]
pub struct FrameScanner {
    wanted: &'static [&'static str],
    phase: Phase,
    buf: Vec<u8>,
    /// Bytes still to pass over without looking (an unwanted payload, a CRC).
    skip: usize,
    broken: bool,
}

impl FrameScanner {
    pub fn new(wanted: &'static [&'static str]) -> Self {
        Self {
            wanted,
            phase: Phase::Prelude,
            buf: Vec::new(),
            skip: 0,
            broken: false,
        }
    }

    /// True once the framing made no sense; the scanner then ignores everything.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    pub fn feed(&mut self, mut data: &[u8], on_event: &mut impl FnMut(&str, &[u8])) {
        while !self.broken && !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            match &self.phase {
                Phase::Prelude => {
                    if !self.fill(&mut data, PRELUDE) {
                        return;
                    }
                    let total = be_u32(&self.buf[0..4]);
                    let headers_len = be_u32(&self.buf[4..8]);
                    if total > MAX_FRAME || total < PRELUDE + headers_len + MESSAGE_CRC {
                        self.broken = true;
                        return;
                    }
                    self.phase = Phase::Headers { total, headers_len };
                }
                Phase::Headers { total, headers_len } => {
                    let (total, headers_len) = (*total, *headers_len);
                    if !self.fill(&mut data, PRELUDE + headers_len) {
                        return;
                    }
                    let payload_len = total - PRELUDE - headers_len - MESSAGE_CRC;
                    let event_type = match parse_headers(&self.buf[PRELUDE..]) {
                        Some(event_type) => event_type,
                        None => {
                            self.broken = true;
                            return;
                        }
                    };
                    self.buf.clear();
                    match event_type {
                        Some(event_type) if self.wanted.contains(&event_type.as_str()) => {
                            self.phase = Phase::Payload {
                                len: payload_len,
                                event_type,
                            };
                        }
                        _ => {
                            self.skip = payload_len + MESSAGE_CRC;
                            self.phase = Phase::Prelude;
                        }
                    }
                }
                Phase::Payload { len, .. } => {
                    let len = *len;
                    if !self.fill(&mut data, len) {
                        return;
                    }
                    if let Phase::Payload { event_type, .. } =
                        std::mem::replace(&mut self.phase, Phase::Prelude)
                    {
                        on_event(&event_type, &self.buf);
                    }
                    self.buf.clear();
                    self.skip = MESSAGE_CRC;
                }
            }
        }
    }

    /// Moves bytes from `data` into `buf` until it holds `target`; false while short.
    fn fill(&mut self, data: &mut &[u8], target: usize) -> bool {
        let missing = target.saturating_sub(self.buf.len());
        let n = missing.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        *data = &data[n..];
        self.buf.len() >= target
    }
}

fn be_u32(bytes: &[u8]) -> usize {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(word) as usize
}

/// The `:event-type` of an `event` message (`Some(None)` for other messages or no type); `None` when the
/// header block is malformed.
fn parse_headers(mut block: &[u8]) -> Option<Option<String>> {
    let mut message_type = None;
    let mut event_type = None;
    while !block.is_empty() {
        let name_len = *block.first()? as usize;
        let name = block.get(1..1 + name_len)?;
        let value_type = *block.get(1 + name_len)?;
        block = &block[2 + name_len..];
        let fixed = match value_type {
            0 | 1 => Some(0),
            2 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 | 8 => Some(8),
            9 => Some(16),
            6 | 7 => None,
            _ => return None,
        };
        let value = match fixed {
            Some(n) => {
                let v = block.get(..n)?;
                block = &block[n..];
                v
            }
            None => {
                let len = u16::from_be_bytes([*block.first()?, *block.get(1)?]) as usize;
                let v = block.get(2..2 + len)?;
                block = &block[2 + len..];
                v
            }
        };
        if value_type == 7 {
            match name {
                b":message-type" => message_type = Some(value),
                b":event-type" => event_type = std::str::from_utf8(value).ok().map(str::to_owned),
                _ => {}
            }
        }
    }
    Some(match message_type {
        Some(b"event") => event_type,
        _ => None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Encodes one frame (CRCs zeroed: the scanner does not read them).
    pub(crate) fn frame(
        message_type: &str,
        type_header: &str,
        kind: &str,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut headers = Vec::new();
        for (name, value) in [
            (":message-type", message_type),
            (type_header, kind),
            (":content-type", "application/json"),
        ] {
            headers.push(name.len() as u8);
            headers.extend_from_slice(name.as_bytes());
            headers.push(7);
            headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
            headers.extend_from_slice(value.as_bytes());
        }
        // A non-string header too, to check they are stepped over.
        headers.push(2);
        headers.extend_from_slice(b":n");
        headers.push(4);
        headers.extend_from_slice(&7u32.to_be_bytes());
        let total = PRELUDE + headers.len() + payload.len() + MESSAGE_CRC;
        let mut out = Vec::new();
        out.extend_from_slice(&(total as u32).to_be_bytes());
        out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&headers);
        out.extend_from_slice(payload);
        out.extend_from_slice(&[0; 4]);
        out
    }

    pub(crate) fn event(kind: &str, payload: &str) -> Vec<u8> {
        frame("event", ":event-type", kind, payload.as_bytes())
    }

    fn scan(stream: &[u8], chunk: usize) -> (Vec<(String, String)>, bool) {
        let mut scanner = FrameScanner::new(&["metadata"]);
        let mut seen = Vec::new();
        for piece in stream.chunks(chunk) {
            scanner.feed(piece, &mut |kind, payload| {
                seen.push((
                    kind.to_owned(),
                    String::from_utf8_lossy(payload).into_owned(),
                ))
            });
        }
        (seen, scanner.is_broken())
    }

    #[test]
    fn wanted_events_are_found_whatever_the_chunking() {
        let mut stream = event("messageStart", r#"{"role":"assistant"}"#);
        stream.extend(frame(
            "exception",
            ":exception-type",
            "metadata",
            b"{\"not\":\"an event\"}",
        ));
        stream.extend(event("contentBlockDelta", r#"{"delta":{"text":"secret"}}"#));
        stream.extend(event("metadata", r#"{"usage":{"inputTokens":9}}"#));
        for chunk in [1, 2, 3, 7, 13, 64, stream.len()] {
            let (seen, broken) = scan(&stream, chunk);
            assert!(!broken, "chunk {chunk}");
            assert_eq!(
                seen,
                vec![(
                    "metadata".to_owned(),
                    r#"{"usage":{"inputTokens":9}}"#.to_owned()
                )],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn garbage_breaks_the_scanner_without_panicking() {
        let (seen, broken) = scan(b"HTTP/1.1 200 OK\r\n\r\nnot an event stream at all", 5);
        assert!(seen.is_empty());
        assert!(broken);
        let mut scanner = FrameScanner::new(&["metadata"]);
        // A prelude announcing headers longer than the frame.
        let mut bad = Vec::new();
        bad.extend_from_slice(&20u32.to_be_bytes());
        bad.extend_from_slice(&100u32.to_be_bytes());
        bad.extend_from_slice(&[0; 12]);
        scanner.feed(&bad, &mut |_, _| panic!("no event"));
        assert!(scanner.is_broken());
    }
}
