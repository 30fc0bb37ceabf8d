//! An incremental reader of server-sent events (`text/event-stream`), for the token usage of the
//! OpenAI-compatible streaming routes. It keeps only the line in progress, and only while that line
//! may carry usage: a `data:` line longer than [`MAX_LINE`] is skipped (its tokens go uncounted rather
//! than the meter holding an unbounded copy of a response).

/// Longest `data:` line kept for parsing. Usage arrives in a short final chunk; content deltas can be
/// long, but they carry no usage.
pub const MAX_LINE: usize = 1024 * 1024;

#[derive(Debug, Default)]
pub struct SseScanner {
    line: Vec<u8>,
    /// The line in progress is over the cap: drop bytes until its end.
    skipping: bool,
}

impl SseScanner {
    pub fn new() -> Self {
        SseScanner::default()
    }

    /// Feeds one chunk; `on_data` sees the payload of each complete `data:` line (leading space and
    /// trailing `\r` removed).
    pub fn feed(&mut self, mut chunk: &[u8], on_data: &mut impl FnMut(&[u8])) {
        while !chunk.is_empty() {
            let newline = chunk.iter().position(|&b| b == b'\n');
            let (part, rest) = match newline {
                Some(i) => (&chunk[..i], Some(&chunk[i + 1..])),
                None => (chunk, None),
            };
            if !self.skipping {
                if self.line.len() + part.len() > MAX_LINE {
                    self.skipping = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(part);
                }
            }
            match rest {
                Some(rest) => {
                    if !self.skipping {
                        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
                        if let Some(data) = line.strip_prefix(b"data:") {
                            on_data(data.strip_prefix(b" ").unwrap_or(data));
                        }
                    }
                    self.line.clear();
                    self.skipping = false;
                    chunk = rest;
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(input: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let mut scanner = SseScanner::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            scanner.feed(chunk, &mut |d| out.push(d.to_vec()));
        }
        out
    }

    #[test]
    fn data_lines() {
        let input = b"event: response.completed\ndata: {\"a\":1}\r\n\n: comment\ndata:{\"b\":2}\ndata: [DONE]\n\ndata: unterminated";
        let want: Vec<Vec<u8>> = vec![
            b"{\"a\":1}".to_vec(),
            b"{\"b\":2}".to_vec(),
            b"[DONE]".to_vec(),
        ];
        for piece in [1, 2, 3, 7, 1000] {
            assert_eq!(collect(input, piece), want, "piece {piece}");
        }
    }

    #[test]
    fn over_long_lines_are_skipped_not_kept() {
        let mut input = b"data: ".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend_from_slice(b"\ndata: short\n");
        assert_eq!(collect(&input, 4096), vec![b"short".to_vec()]);
    }

    proptest! {
        #[test]
        fn chunking_never_changes_the_lines(lines in prop::collection::vec("[a-z{}\":, ]{0,40}", 0..8), piece in 1usize..64) {
            let mut input = Vec::new();
            for l in &lines {
                input.extend_from_slice(b"data: ");
                input.extend_from_slice(l.as_bytes());
                input.extend_from_slice(b"\n\n");
            }
            let want: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
            prop_assert_eq!(collect(&input, piece), want);
        }
    }
}
