//! A fast local Bedrock Runtime double for the end-to-end benchmark (`benches/e2e/run.sh`).
//!
//! Unlike the test double (`tests/support/double.rs`) it records nothing and verifies no signature:
//! it must cost as little as possible so the benchmark measures the proxy, not the double. Answers:
//!
//! - `POST /model/{id}/converse`: a fixed Converse JSON answer.
//! - `POST /model/{id}/converse-stream`: the six ConverseStream event-stream frames, each its own
//!   HTTP chunk. For a model id containing `hold`, only `messageStart` is sent and the stream then
//!   stays open until the client goes away (or 10 minutes), to count the memory of open streams.
//!
//! Usage: `bench_double [ADDR]` (default `127.0.0.1:0`); prints `listening on ADDR` once bound.
//! `BENCH_DOUBLE_THREADS` sets the runtime's worker threads (default 1: the benchmark machine has two
//! cores and the double should take as little of them as it can).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

type DoubleBody = UnsyncBoxBody<Bytes, Infallible>;

const CONVERSE_ANSWER: &str = r#"{"output":{"message":{"role":"assistant","content":[{"text":"hello from the benchmark double"}]}},"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":6,"totalTokens":18},"metrics":{"latencyMs":3}}"#;

/// How long a `hold` stream stays open at most.
const HOLD_LIMIT: Duration = Duration::from_secs(600);

struct Frames {
    converse_stream: Vec<Bytes>,
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let threads = std::env::var("BENCH_DOUBLE_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(serve(addr));
}

async fn serve(addr: String) {
    let listener = TcpListener::bind(&addr).await.unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    let frames = Arc::new(Frames {
        converse_stream: converse_stream_frames(),
    });
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let frames = frames.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(frames.clone(), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    frames: Arc<Frames>,
    request: Request<Incoming>,
) -> Result<Response<DoubleBody>, Infallible> {
    let path = request.uri().path().to_owned();
    // Read the whole request body, as Bedrock would before answering.
    let _ = request.into_body().collect().await;
    let response = if path.ends_with("/converse-stream") {
        let hold = path.contains("hold");
        let frames: Vec<Bytes> = if hold {
            frames.converse_stream[..1].to_vec()
        } else {
            frames.converse_stream.clone()
        };
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/vnd.amazon.eventstream")
            .header("x-amzn-requestid", "bench-double")
            .body(
                FrameBody {
                    frames: frames.into_iter(),
                    hold: hold.then(|| Box::pin(tokio::time::sleep(HOLD_LIMIT))),
                }
                .boxed_unsync(),
            )
            .unwrap()
    } else if path.ends_with("/converse") {
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .header("x-amzn-requestid", "bench-double")
            .body(Full::new(Bytes::from_static(CONVERSE_ANSWER.as_bytes())).boxed_unsync())
            .unwrap()
    } else {
        Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header("content-type", "application/json")
            .header("x-amzn-errortype", "UnknownOperationException")
            .body(
                Full::new(Bytes::from_static(
                    br#"{"message":"not in the bench double"}"#,
                ))
                .boxed_unsync(),
            )
            .unwrap()
    };
    Ok(response)
}

/// Sends each frame as its own chunk; a `hold` body then stays pending until its timer ends.
struct FrameBody {
    frames: std::vec::IntoIter<Bytes>,
    hold: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for FrameBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(frame) = self.frames.next() {
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
        match self.hold.as_mut() {
            Some(sleep) => sleep.as_mut().poll(cx).map(|()| None),
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

use std::future::Future;

fn converse_stream_frames() -> Vec<Bytes> {
    [
        ("messageStart", r#"{"role":"assistant"}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"hello "}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"world"}}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
        ("messageStop", r#"{"stopReason":"end_turn"}"#),
        (
            "metadata",
            r#"{"usage":{"inputTokens":9,"outputTokens":2,"totalTokens":11},"metrics":{"latencyMs":4}}"#,
        ),
    ]
    .iter()
    .map(|(event, payload)| {
        let message = Message::new(Bytes::from_static(payload.as_bytes()))
            .add_header(string_header(":message-type", "event"))
            .add_header(string_header(":event-type", event))
            .add_header(string_header(":content-type", "application/json"));
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        Bytes::from(out)
    })
    .collect()
}

fn string_header(name: &str, value: &str) -> Header {
    Header::new(
        name.to_owned(),
        HeaderValue::String(value.to_owned().into()),
    )
}
