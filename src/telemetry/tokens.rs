//! Token accounting from the responses as they pass through, in the four places Bedrock reports usage:
//!
//! | operation | where |
//! |---|---|
//! | InvokeModel | `X-Amzn-Bedrock-Input-Token-Count` / `-Output-Token-Count` response headers |
//! | Converse | `usage.inputTokens` / `usage.outputTokens` in the JSON body |
//! | ConverseStream | the `metadata` event frame's `usage` |
//! | InvokeModelWithResponseStream | `amazon-bedrock-invocationMetrics` inside a `chunk` event's base64 `bytes` |
//! | OpenAI Chat Completions | `usage.prompt_tokens` / `usage.completion_tokens` in the JSON body, or in the last SSE chunk (sent when the request sets `stream_options.include_usage`) |
//! | InvokeModelWithBidirectionalStream | the latest `usageEvent` (`totalInputTokens` / `totalOutputTokens`, cumulative) inside an output `chunk` event's base64 `bytes` (Nova Sonic) |
//! | OpenAI Responses | `usage.input_tokens` / `usage.output_tokens` in the JSON body, or `response.usage` in the `response.completed` SSE event |
//!
//! Nothing here delays a byte: the meter sees copies of chunks already on their way to the client.
//! Only the usage numbers are kept; prompt and completion text are never stored beyond the one frame
//! (or the capped Converse body) being parsed.

use base64::Engine;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::eventstream::FrameScanner;
use super::sse::SseScanner;
use crate::classify::Operation;

/// Converse bodies larger than this are passed through without counting their tokens: the meter must
/// not hold an unbounded copy of a response.
pub const CONVERSE_OBSERVE_CAP: usize = 4 * 1024 * 1024;

const INPUT_HEADER: &str = "x-amzn-bedrock-input-token-count";
const OUTPUT_HEADER: &str = "x-amzn-bedrock-output-token-count";
const CACHE_READ_HEADER: &str = "x-amzn-bedrock-cache-read-input-token-count";
const CACHE_WRITE_HEADER: &str = "x-amzn-bedrock-cache-write-input-token-count";
const INVOCATION_METRICS: &[u8] = b"amazon-bedrock-invocationMetrics";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: Option<u64>,
    pub output: Option<u64>,
    /// Prompt-cache reads and writes, where Bedrock reports them (priced apart for quotas).
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
}

#[derive(Debug)]
enum Source {
    /// Nothing to count (errors, other operations), or already known from the headers.
    Done,
    ConverseJson {
        body: Vec<u8>,
        overflowed: bool,
    },
    ConverseStream(FrameScanner),
    InvokeStream(FrameScanner),
    /// An OpenAI-compatible JSON body, capped like Converse's.
    OpenAiJson {
        body: Vec<u8>,
        overflowed: bool,
    },
    OpenAiSse(SseScanner),
    BidirectionalStream(FrameScanner),
}

/// Collects the token usage of one response.
#[derive(Debug)]
pub struct TokenMeter {
    source: Source,
    tokens: Tokens,
}

impl TokenMeter {
    /// A meter for an upstream response; only successful responses carry usage.
    pub fn for_response(
        operation: Option<Operation>,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Self {
        let mut meter = TokenMeter {
            source: Source::Done,
            tokens: Tokens::default(),
        };
        if !status.is_success() {
            return meter;
        }
        match operation {
            Some(Operation::InvokeModel) => {
                meter.tokens = Tokens {
                    input: header_u64(headers, INPUT_HEADER),
                    output: header_u64(headers, OUTPUT_HEADER),
                    cache_read: header_u64(headers, CACHE_READ_HEADER),
                    cache_write: header_u64(headers, CACHE_WRITE_HEADER),
                };
            }
            Some(Operation::Converse) => {
                meter.source = Source::ConverseJson {
                    body: Vec::new(),
                    overflowed: false,
                };
            }
            Some(Operation::ConverseStream) => {
                meter.source = Source::ConverseStream(FrameScanner::new(&["metadata"]));
            }
            Some(Operation::InvokeModelWithResponseStream) => {
                meter.source = Source::InvokeStream(FrameScanner::new(&["chunk"]));
            }
            Some(Operation::InvokeModelWithBidirectionalStream) => {
                meter.source = Source::BidirectionalStream(FrameScanner::new(&["chunk"]));
            }
            Some(op) if op.is_openai() => {
                // What the upstream sent decides, not what was asked: `stream` may be absent or
                // ignored.
                let sse = headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("text/event-stream"));
                meter.source = if sse {
                    Source::OpenAiSse(SseScanner::new())
                } else {
                    Source::OpenAiJson {
                        body: Vec::new(),
                        overflowed: false,
                    }
                };
            }
            _ => {}
        }
        meter
    }

    /// Sees one chunk of the response body.
    pub fn observe(&mut self, chunk: &[u8]) {
        let tokens = &mut self.tokens;
        match &mut self.source {
            Source::Done => {}
            Source::ConverseJson { body, overflowed } | Source::OpenAiJson { body, overflowed } => {
                if *overflowed {
                    return;
                }
                if body.len() + chunk.len() > CONVERSE_OBSERVE_CAP {
                    *overflowed = true;
                    body.clear();
                    body.shrink_to_fit();
                    tracing::debug!(
                        cap = CONVERSE_OBSERVE_CAP,
                        "Converse response too large to count its tokens"
                    );
                    return;
                }
                body.extend_from_slice(chunk);
            }
            Source::ConverseStream(scanner) => scanner.feed(chunk, &mut |_, payload| {
                if let Some(found) = converse_usage(payload) {
                    *tokens = found;
                }
            }),
            Source::InvokeStream(scanner) => scanner.feed(chunk, &mut |_, payload| {
                if let Some(found) = invocation_metrics(payload) {
                    *tokens = found;
                }
            }),
            Source::BidirectionalStream(scanner) => scanner.feed(chunk, &mut |_, payload| {
                if let Some(found) = usage_event(payload) {
                    *tokens = found;
                }
            }),
            Source::OpenAiSse(scanner) => scanner.feed(chunk, &mut |data| {
                if let Some(found) = openai_usage(data) {
                    *tokens = found;
                }
            }),
        }
    }

    /// The usage seen so far (final once the body has ended).
    pub fn finish(&mut self) -> Tokens {
        if let Source::ConverseStream(scanner)
        | Source::InvokeStream(scanner)
        | Source::BidirectionalStream(scanner) = &self.source
        {
            if scanner.is_broken() {
                tracing::debug!("response is not a well-formed event stream; tokens not counted");
            }
        }
        if let Source::ConverseJson { body, overflowed } = &mut self.source {
            if !*overflowed {
                if let Some(found) = converse_usage(body) {
                    self.tokens = found;
                }
            }
            self.source = Source::Done;
        }
        if let Source::OpenAiJson { body, overflowed } = &mut self.source {
            if !*overflowed {
                if let Some(found) = openai_usage(body) {
                    self.tokens = found;
                }
            }
            self.source = Source::Done;
        }
        self.tokens
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[derive(Deserialize)]
struct WithUsage {
    usage: Option<Usage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Usage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_write_input_tokens: Option<u64>,
}

/// `{"usage": {"inputTokens": .., "outputTokens": ..}, ...}`: a Converse body or a ConverseStream
/// `metadata` payload.
fn converse_usage(json: &[u8]) -> Option<Tokens> {
    let usage = serde_json::from_slice::<WithUsage>(json).ok()?.usage?;
    Some(Tokens {
        input: usage.input_tokens,
        output: usage.output_tokens,
        cache_read: usage.cache_read_input_tokens,
        cache_write: usage.cache_write_input_tokens,
    })
}

const USAGE: &[u8] = b"\"usage\"";
const USAGE_EVENT: &[u8] = b"usageEvent";

#[derive(Deserialize)]
struct SonicOutput {
    event: Option<SonicEvent>,
}

#[derive(Deserialize)]
struct SonicEvent {
    #[serde(rename = "usageEvent")]
    usage_event: Option<SonicUsage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SonicUsage {
    total_input_tokens: Option<u64>,
    total_output_tokens: Option<u64>,
}

/// A bidirectional stream's output `chunk` payload `{"bytes": "<base64 JSON>"}`; Nova Sonic reports
/// cumulative usage in `{"event": {"usageEvent": {...}}}`, so the last one seen is the session's.
fn usage_event(payload: &[u8]) -> Option<Tokens> {
    let encoded = serde_json::from_slice::<Chunk>(payload).ok()?.bytes?;
    let inner = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    if !inner.windows(USAGE_EVENT.len()).any(|w| w == USAGE_EVENT) {
        return None;
    }
    let usage = serde_json::from_slice::<SonicOutput>(&inner)
        .ok()?
        .event?
        .usage_event?;
    Some(Tokens {
        input: usage.total_input_tokens,
        output: usage.total_output_tokens,
        ..Tokens::default()
    })
}

#[derive(Deserialize)]
struct OpenAiEnvelope {
    usage: Option<OpenAiUsage>,
    /// Responses API stream events (`response.completed`) nest the response.
    response: Option<OpenAiInner>,
}

#[derive(Deserialize)]
struct OpenAiInner {
    usage: Option<OpenAiUsage>,
}

/// Chat Completions names them prompt/completion, the Responses API input/output.
#[derive(Deserialize)]
struct OpenAiUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

/// Usage from an OpenAI-compatible JSON body or SSE `data:` payload. Payloads without a `"usage"` key
/// (every content delta) are passed over without a JSON parse.
fn openai_usage(json: &[u8]) -> Option<Tokens> {
    if !json.windows(USAGE.len()).any(|w| w == USAGE) {
        return None;
    }
    let envelope = serde_json::from_slice::<OpenAiEnvelope>(json).ok()?;
    let usage = envelope
        .usage
        .or_else(|| envelope.response.and_then(|r| r.usage))?;
    Some(Tokens {
        input: usage.prompt_tokens.or(usage.input_tokens),
        output: usage.completion_tokens.or(usage.output_tokens),
        ..Tokens::default()
    })
}

#[derive(Deserialize)]
struct Chunk {
    bytes: Option<String>,
}

#[derive(Deserialize)]
struct ChunkBody {
    #[serde(rename = "amazon-bedrock-invocationMetrics")]
    metrics: Option<InvocationMetrics>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvocationMetrics {
    input_token_count: Option<u64>,
    output_token_count: Option<u64>,
    cache_read_input_token_count: Option<u64>,
    cache_write_input_token_count: Option<u64>,
}

/// A `chunk` event payload `{"bytes": "<base64 model JSON>"}`; the model JSON of the last chunk carries
/// `amazon-bedrock-invocationMetrics`. Most chunks do not, so they are rejected before a JSON parse.
fn invocation_metrics(payload: &[u8]) -> Option<Tokens> {
    let encoded = serde_json::from_slice::<Chunk>(payload).ok()?.bytes?;
    let inner = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    if !inner
        .windows(INVOCATION_METRICS.len())
        .any(|w| w == INVOCATION_METRICS)
    {
        return None;
    }
    let metrics = serde_json::from_slice::<ChunkBody>(&inner).ok()?.metrics?;
    Some(Tokens {
        input: metrics.input_token_count,
        output: metrics.output_token_count,
        cache_read: metrics.cache_read_input_token_count,
        cache_write: metrics.cache_write_input_token_count,
    })
}

#[cfg(test)]
mod tests {
    use super::super::eventstream::tests::event;
    use super::*;

    fn meter(op: Operation) -> TokenMeter {
        TokenMeter::for_response(Some(op), StatusCode::OK, &HeaderMap::new())
    }

    fn feed_in_pieces(meter: &mut TokenMeter, bytes: &[u8], piece: usize) {
        for chunk in bytes.chunks(piece) {
            meter.observe(chunk);
        }
    }

    #[test]
    fn invoke_model_reads_the_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(INPUT_HEADER, "11".parse().unwrap());
        headers.insert(OUTPUT_HEADER, "7".parse().unwrap());
        let mut m =
            TokenMeter::for_response(Some(Operation::InvokeModel), StatusCode::OK, &headers);
        m.observe(b"{\"whatever\":1}");
        assert_eq!(
            m.finish(),
            Tokens {
                input: Some(11),
                output: Some(7),
                ..Tokens::default()
            }
        );
    }

    #[test]
    fn prompt_cache_tokens_are_read_where_bedrock_reports_them() {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_READ_HEADER, "100".parse().unwrap());
        headers.insert(CACHE_WRITE_HEADER, "20".parse().unwrap());
        let mut m =
            TokenMeter::for_response(Some(Operation::InvokeModel), StatusCode::OK, &headers);
        let tokens = m.finish();
        assert_eq!(
            (tokens.cache_read, tokens.cache_write),
            (Some(100), Some(20))
        );
        let mut m = meter(Operation::Converse);
        m.observe(br#"{"usage":{"inputTokens":3,"outputTokens":1,"cacheReadInputTokens":50,"cacheWriteInputTokens":7}}"#);
        let tokens = m.finish();
        assert_eq!((tokens.cache_read, tokens.cache_write), (Some(50), Some(7)));
    }

    #[test]
    fn converse_reads_usage_from_the_body_in_pieces() {
        let body = br#"{"output":{"message":{"content":[{"text":"hi"}]}},"usage":{"inputTokens":12,"outputTokens":5,"totalTokens":17}}"#;
        let mut m = meter(Operation::Converse);
        feed_in_pieces(&mut m, body, 5);
        assert_eq!(
            m.finish(),
            Tokens {
                input: Some(12),
                output: Some(5),
                ..Tokens::default()
            }
        );
    }

    #[test]
    fn converse_bodies_over_the_cap_are_not_counted() {
        let mut m = meter(Operation::Converse);
        m.observe(&vec![b' '; CONVERSE_OBSERVE_CAP]);
        m.observe(br#"{"usage":{"inputTokens":1,"outputTokens":1}}"#);
        assert_eq!(m.finish(), Tokens::default());
    }

    #[test]
    fn converse_stream_reads_the_metadata_frame() {
        let mut stream = event("messageStart", r#"{"role":"assistant"}"#);
        stream.extend(event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"hello"}}"#,
        ));
        stream.extend(event(
            "metadata",
            r#"{"usage":{"inputTokens":9,"outputTokens":2,"totalTokens":11},"metrics":{"latencyMs":4}}"#,
        ));
        for piece in [1, 10, stream.len()] {
            let mut m = meter(Operation::ConverseStream);
            feed_in_pieces(&mut m, &stream, piece);
            assert_eq!(
                m.finish(),
                Tokens {
                    input: Some(9),
                    output: Some(2),
                    ..Tokens::default()
                }
            );
        }
    }

    #[test]
    fn invoke_stream_reads_invocation_metrics_from_the_last_chunk() {
        let chunk = |inner: &str| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(inner);
            event("chunk", &format!(r#"{{"bytes":"{encoded}"}}"#))
        };
        let mut stream = chunk(r#"{"type":"content_block_delta","delta":{"text":"part 1"}}"#);
        stream.extend(chunk(
            r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":8,"outputTokenCount":3,"invocationLatency":10,"firstByteLatency":2}}"#,
        ));
        let mut m = meter(Operation::InvokeModelWithResponseStream);
        feed_in_pieces(&mut m, &stream, 3);
        assert_eq!(
            m.finish(),
            Tokens {
                input: Some(8),
                output: Some(3),
                ..Tokens::default()
            }
        );
    }

    #[test]
    fn errors_and_other_operations_count_nothing() {
        let mut m = TokenMeter::for_response(
            Some(Operation::Converse),
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
        );
        m.observe(br#"{"usage":{"inputTokens":1}}"#);
        assert_eq!(m.finish(), Tokens::default());
        let mut m = meter(Operation::CountTokens);
        m.observe(br#"{"inputTokens":42}"#);
        assert_eq!(m.finish(), Tokens::default());
    }

    fn openai_meter(op: Operation, content_type: &str) -> TokenMeter {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
        TokenMeter::for_response(Some(op), StatusCode::OK, &headers)
    }

    #[test]
    fn openai_bodies_and_streams() {
        let both = |input, output| Tokens {
            input: Some(input),
            output: Some(output),
            ..Tokens::default()
        };
        let chat_sse = concat!(
            "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17}}\n\n",
            "data: [DONE]\n\n",
        );
        let responses_sse = concat!(
            "event: response.output_text.delta\n",
            "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n",
            "event: response.completed\n",
            "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":9,\"output_tokens\":4,\"total_tokens\":13}}}\n\n",
        );
        let cases: Vec<(Operation, &str, &str, Tokens)> = vec![
            (
                Operation::ChatCompletions,
                "application/json",
                r#"{"choices":[{"message":{"content":"usage"}}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
                both(3, 2),
            ),
            (
                Operation::CreateResponse,
                "application/json",
                r#"{"id":"resp_1","usage":{"input_tokens":7,"output_tokens":1}}"#,
                both(7, 1),
            ),
            (
                Operation::ChatCompletionsStream,
                "text/event-stream",
                chat_sse,
                both(12, 5),
            ),
            (
                Operation::CreateResponseStream,
                "text/event-stream; charset=utf-8",
                responses_sse,
                both(9, 4),
            ),
            // No include_usage: nothing to count.
            (
                Operation::ChatCompletionsStream,
                "text/event-stream",
                "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: [DONE]\n\n",
                Tokens::default(),
            ),
        ];
        for (op, content_type, body, want) in cases {
            for piece in [1, 5, 4096] {
                let mut m = openai_meter(op, content_type);
                feed_in_pieces(&mut m, body.as_bytes(), piece);
                assert_eq!(m.finish(), want, "{op} piece {piece}");
            }
        }
    }

    #[test]
    fn bidirectional_stream_takes_the_last_usage_event() {
        let chunk = |json: &str| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(json);
            event("chunk", &format!(r#"{{"bytes":"{encoded}"}}"#))
        };
        let mut stream = chunk(r#"{"event":{"textOutput":{"content":"hi"}}}"#);
        stream.extend(chunk(
            r#"{"event":{"usageEvent":{"totalInputTokens":10,"totalOutputTokens":2,"totalTokens":12}}}"#,
        ));
        stream.extend(chunk(
            r#"{"event":{"usageEvent":{"details":{"total":{}},"totalInputTokens":30,"totalOutputTokens":8,"totalTokens":38}}}"#,
        ));
        let mut m = meter(Operation::InvokeModelWithBidirectionalStream);
        feed_in_pieces(&mut m, &stream, 7);
        assert_eq!(
            m.finish(),
            Tokens {
                input: Some(30),
                output: Some(8),
                ..Tokens::default()
            }
        );
    }
}
