//! A Bedrock stand-in for InvokeModelWithBidirectionalStream: HTTP/2 only (h2c, prior knowledge), as
//! Bedrock requires. It checks the request's SigV4 signature against the proxy's credentials (over the
//! empty payload, as the SDKs sign it), then every inbound frame's chained `:chunk-signature`
//! (seeded by the request signature) with `aws-sigv4`'s event-stream signer, and answers each event
//! with an output `chunk` event echoing it. On the signed end frame it sends a Nova Sonic-style
//! `usageEvent` and ends the response. Everything it saw is recorded for the test.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::event_stream::{sign_empty_message, sign_message, SigningParams};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::{read_message_from, DecodedFrame, MessageFrameDecoder};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::event_stream::Message;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::eventstream::{encode_event, encode_exception};
use super::sigv4::{self, Credentials, SignedRequest};
use super::{PROXY_ACCESS_KEY, PROXY_SECRET_KEY, PROXY_SESSION_TOKEN};

/// How the double ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BidiMode {
    /// Echo every event; usage and the end of the response after the client's end frame.
    Echo,
    /// Answer the first event, then a `modelStreamErrorException` frame, and end.
    FailAfterFirst,
    /// Like Bedrock when a client stops sending: after this long without a frame, a
    /// `validationException` frame ends the session.
    IdleTimeout(std::time::Duration),
}

/// What the double saw in one session.
#[derive(Debug, Default, Clone)]
pub struct Session {
    pub path: String,
    pub request_signature: Option<Result<(), String>>,
    /// Each inbound event's `bytes` (decoded), or why its frame failed verification.
    pub frames: Vec<Result<String, String>>,
    /// The signed empty end frame arrived and verified.
    pub ended: bool,
    /// The request body ended (END_STREAM) or broke.
    pub body_closed: bool,
}

pub struct BidiDouble {
    pub addr: std::net::SocketAddr,
    sessions: Arc<Mutex<Vec<Session>>>,
    mode: Arc<Mutex<BidiMode>>,
    changed: watch::Receiver<u64>,
}

impl BidiDouble {
    pub async fn start(region: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(BidiMode::Echo));
        let (changed_tx, changed) = watch::channel(0u64);
        let changed_tx = Arc::new(changed_tx);
        let region = region.to_owned();
        let (s, m) = (sessions.clone(), mode.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, m, c, r) = (s.clone(), m.clone(), changed_tx.clone(), region.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let (s, m, c, r) = (s.clone(), m.clone(), c.clone(), r.clone());
                        async move { Ok::<_, Infallible>(session(req, s, m, c, r).await) }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            sessions,
            mode,
            changed,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: BidiMode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }

    /// Waits (event-driven) until `done` holds for the recorded sessions.
    pub async fn wait_for(&self, done: impl Fn(&[Session]) -> bool) -> Vec<Session> {
        let mut changed = self.changed.clone();
        let wait = async {
            loop {
                if done(&self.sessions()) {
                    return;
                }
                changed.changed().await.unwrap();
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("bidi double: condition not met: {:#?}", self.sessions()));
        self.sessions()
    }
}

type Out = Result<Frame<Bytes>, Infallible>;

async fn session(
    req: Request<Incoming>,
    sessions: Arc<Mutex<Vec<Session>>>,
    mode: Arc<Mutex<BidiMode>>,
    changed: Arc<watch::Sender<u64>>,
    region: String,
) -> Response<http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>> {
    let mode = *mode.lock().unwrap();
    let (parts, mut body) = req.into_parts();
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    // HTTP/2 carries the host as `:authority`; SigV4 signs it as `host`.
    if let Some(authority) = parts.uri.authority() {
        if !headers.iter().any(|(n, _)| n == "host") {
            headers.push(("host".to_owned(), authority.as_str().to_owned()));
        }
    }
    let path = parts.uri.path().to_owned();
    let signature = sigv4::verify(
        &SignedRequest {
            method: parts.method.as_str(),
            path: &path,
            query: parts.uri.query(),
            headers: &headers,
            body: &[],
        },
        &Credentials {
            access_key: PROXY_ACCESS_KEY,
            secret_key: PROXY_SECRET_KEY,
            session_token: Some(PROXY_SESSION_TOKEN),
        },
        &region,
        "bedrock",
    );
    let seed = headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .and_then(|(_, v)| v.rsplit_once("Signature="))
        .map(|(_, s)| s.to_owned())
        .unwrap_or_default();
    let index = {
        let mut all = sessions.lock().unwrap();
        all.push(Session {
            path: path.clone(),
            request_signature: Some(signature.clone()),
            ..Session::default()
        });
        all.len() - 1
    };
    changed.send_modify(|n| *n += 1);
    if let Err(e) = signature {
        return Response::builder()
            .status(StatusCode::FORBIDDEN)
            .header("x-amzn-errortype", "InvalidSignatureException")
            .body(
                http_body_util::Full::new(Bytes::from(json!({ "message": e }).to_string()))
                    .boxed_unsync(),
            )
            .unwrap();
    }

    let (tx, rx) = mpsc::channel::<Out>(4);
    let record = move |f: &dyn Fn(&mut Session)| {
        f(&mut sessions.lock().unwrap()[index]);
        changed.send_modify(|n| *n += 1);
    };
    tokio::spawn(async move {
        let identity: Identity =
            AwsCredentials::new(PROXY_ACCESS_KEY, PROXY_SECRET_KEY, None, None, "double").into();
        let mut last = seed;
        let mut buffer = BytesMut::new();
        let mut decoder = MessageFrameDecoder::new();
        let mut answered = 0usize;
        loop {
            while let Ok(DecodedFrame::Complete(frame)) = decoder.decode_frame(&mut buffer) {
                match verify(&identity, &region, &mut last, &frame) {
                    Ok(None) => {
                        record(&|s| s.ended = true);
                        let usage = json!({"event": {"usageEvent": {
                            "totalInputTokens": 30, "totalOutputTokens": 8, "totalTokens": 38}}});
                        let _ = tx.send(Ok(Frame::data(chunk(&usage.to_string())))).await;
                        // Dropping the sender ends the response.
                        return;
                    }
                    Ok(Some(text)) => {
                        record(&|s| s.frames.push(Ok(text.clone())));
                        let echo =
                            json!({"event": {"textOutput": {"content": format!("echo: {text}")}}});
                        let _ = tx.send(Ok(Frame::data(chunk(&echo.to_string())))).await;
                        answered += 1;
                        if mode == BidiMode::FailAfterFirst && answered == 1 {
                            let exception = encode_exception(
                                "modelStreamErrorException",
                                br#"{"message":"the model failed mid-session","originalStatusCode":500}"#,
                            );
                            let _ = tx.send(Ok(Frame::data(exception))).await;
                            return;
                        }
                    }
                    Err(e) => {
                        record(&|s| s.frames.push(Err(e.clone())));
                        return;
                    }
                }
            }
            let next = match mode {
                BidiMode::IdleTimeout(idle) => match tokio::time::timeout(idle, body.frame()).await
                {
                    Ok(next) => next,
                    Err(_) => {
                        let exception = encode_exception(
                            "validationException",
                            br#"{"message":"Timed out waiting for input events"}"#,
                        );
                        let _ = tx.send(Ok(Frame::data(exception))).await;
                        return;
                    }
                },
                _ => body.frame().await,
            };
            match next {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buffer.extend_from_slice(&data);
                    }
                }
                _ => {
                    record(&|s| s.body_closed = true);
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", "double-bidi")
        .body(StreamBody::new(stream).boxed_unsync())
        .unwrap()
}

/// An output `chunk` event carrying `json` as its base64 `bytes`.
fn chunk(json: &str) -> Bytes {
    let encoded = base64::engine::general_purpose::STANDARD.encode(json);
    encode_event("chunk", json!({ "bytes": encoded }).to_string().as_bytes())
}

/// Verifies one frame of the proxy's chain; returns the event's decoded `bytes`, `None` for the end
/// frame.
fn verify(
    identity: &Identity,
    region: &str,
    last: &mut String,
    frame: &Message,
) -> Result<Option<String>, String> {
    let header = |name: &str| {
        frame
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .map(|h| h.value().clone())
    };
    let signature = header(":chunk-signature")
        .and_then(|v| v.as_byte_array().ok().cloned())
        .ok_or("no :chunk-signature")?;
    let date = header(":date")
        .and_then(|v| v.as_timestamp().ok())
        .ok_or("no :date")?;
    let time = SystemTime::try_from(date).map_err(|e| e.to_string())?;
    let params: SigningParams<'_> = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("bedrock")
        .time(time)
        .settings(())
        .build()
        .unwrap();
    let (event, expected) = if frame.payload().is_empty() {
        (None, sign_empty_message(last, &params).unwrap())
    } else {
        let event = read_message_from(frame.payload().clone()).map_err(|e| e.to_string())?;
        let expected = sign_message(&event, last, &params).unwrap();
        (Some(event), expected)
    };
    let (_, expected) = expected.into_parts();
    if hex::encode(&signature) != expected {
        return Err("frame signature does not match the proxy's chain".to_owned());
    }
    *last = expected;
    let Some(event) = event else {
        return Ok(None);
    };
    let payload: serde_json::Value =
        serde_json::from_slice(event.payload()).map_err(|e| e.to_string())?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload["bytes"].as_str().unwrap_or(""))
        .map_err(|e| e.to_string())?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}
