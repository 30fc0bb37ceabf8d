//! InvokeModelWithBidirectionalStream (Nova Sonic and the like): an HTTP/2 request whose body is an
//! event stream the client keeps writing while the response event stream comes back.
//!
//! The session, in order:
//! 1. **Head only.** Authentication and authorization use the request head; the body is never read
//!    first (it is the session). The AWS SDKs sign this request with the empty payload's hash and
//!    sign every frame instead, so `authenticate` sees an empty body.
//! 2. **Upstream** is opened over HTTP/2 (`Upstream::send_duplex`), signed by the proxy the same way,
//!    and the proxy's request signature seeds the proxy's own frame chain.
//! 3. **Inbound, frame by frame.** Each client frame is decoded (`aws-smithy-eventstream`). From a
//!    SigV4 client it is a signed wrapper (`:date`, `:chunk-signature`, payload = the event); the
//!    signature must be the next link of the client's chain, seeded by its request signature, which
//!    is recomputed with `aws-sigv4`'s event-stream signer over the same bytes. The event is then
//!    signed into the proxy's chain (`sign_message`) and sent upstream; the client's empty end frame
//!    becomes the proxy's. Callers that are not SigV4 (API keys, fixed principal, trusted header)
//!    were authenticated by the head; their frames are unwrapped if wrapped and re-signed the same way.
//! 4. **Outbound.** Response bytes pass through as they come (the token meter watches `usageEvent`s).
//!
//! Back-pressure: one frame at a time is handed to the upstream body (a channel of one), so a client
//! is read no faster than HTTP/2 flow control lets the upstream take; the response is polled only as
//! fast as the client reads. Nothing is buffered beyond the frame in progress.
//!
//! Limits: a session ends after [`MAX_SESSION`] (Bedrock's own limit) with a `validationException`
//! frame. Idle time is Bedrock's to judge (it ends a session that stops sending with an exception
//! frame, which is relayed); the guard adds no idle timeout to an open session. A frame that fails
//! verification ends the session: the upstream request is reset and the client gets a
//! `validationException` frame. On shutdown an open session holds its connection like any other
//! request until the grace period ends, then it is dropped.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use aws_sigv4::event_stream::{sign_empty_message, sign_message, SigningParams};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::{
    read_message_from, write_message_to, DecodedFrame, MessageFrameDecoder,
};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::event_stream::{Header, HeaderValue as FrameValue, Message};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::header::HeaderValue;
use http::request::Parts;
use http::Method;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

use super::context::Inbound;
use super::error::GuardError;
use super::headers::{forwardable_request_headers, strip_hop_by_hop};
use super::proxy::{admit, authorize, Call};
use crate::auth::sigv4::ClientChain;
use crate::auth::{AuthMethod, IncomingRequest, RequestHead};
use crate::aws::{sign_request, signed_header_map, SigningError, SIGNING_NAME};
use crate::classify;
use crate::config::Snapshot;
use crate::state::Shared;
use crate::telemetry::audit::Audit;

/// Bedrock ends a bidirectional session after 8 minutes; the guard does too, so a session cannot
/// outlive the policy snapshot it was authorized under by more than that.
pub const MAX_SESSION: Duration = Duration::from_secs(8 * 60);
/// How far a signed frame's `:date` may be from the guard's clock (as for SigV4 requests).
const MAX_FRAME_SKEW: Duration = Duration::from_secs(5 * 60);
const SUFFIX: &str = "/invoke-with-bidirectional-stream";

/// True for the requests this module serves (the same test `classify` applies to the path).
pub(super) fn is_bidirectional(method: &Method, path: &str) -> bool {
    *method == Method::POST && path.starts_with("/model/") && path.ends_with(SUFFIX)
}

/// Why an inbound frame ended the session.
#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("malformed event stream frame: {0}")]
    Malformed(String),
    #[error("frame {0}: SigV4 callers must sign every frame (:chunk-signature and :date)")]
    Unsigned(u64),
    #[error("frame {0}: the frame signature does not match the chain")]
    BadSignature(u64),
    #[error("frame {0}: :date is more than 5 minutes from the guard's clock")]
    Skewed(u64),
    #[error("frame {0} arrived after the end frame")]
    AfterEnd(u64),
    #[error("cannot sign the frame for Bedrock: {0}")]
    Sign(String),
    #[error("reading the client's stream failed: {0}")]
    Read(String),
}

/// Serves one bidirectional session. Errors before the response are ordinary guard errors.
pub(super) async fn relay(
    shared: &Shared,
    snapshot: &Snapshot,
    parts: Parts,
    body: Body,
    request_id: &str,
    audit: &mut Audit,
) -> Result<(Response, OwnedSemaphorePermit), GuardError> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    // HTTP/2 has no Host header: the SDKs sign `:authority` as `host`.
    let mut parts = parts;
    if !parts.headers.contains_key(http::header::HOST) {
        if let Some(host) = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            parts.headers.insert(http::header::HOST, host);
        }
    }
    let head = IncomingRequest {
        head: RequestHead {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            authority: parts.uri.authority().map(|a| a.as_str()),
            headers: &parts.headers,
        },
        body: &[],
    };
    let caller = snapshot
        .auth
        .authenticate(&head, peer, &shared.region, SystemTime::now())?;
    audit.principal(&caller.principal);
    // A session holds a concurrency slot for its whole life, taken once the caller is known.
    let permit = admit(shared)?;
    let client_chain = match caller.method {
        AuthMethod::SigV4 => snapshot.auth.sigv4_chain(&parts.headers),
        _ => None,
    };
    if caller.method == AuthMethod::SigV4 && client_chain.is_none() {
        return Err(GuardError::Signing(SigningError::from_message(
            "the SigV4 caller's key vanished between checks",
        )));
    }
    let region = caller.region.as_deref().unwrap_or(&shared.region);
    let route = classify::classify(&parts.method, parts.uri.path(), parts.uri.query())?;
    if parts.version != http::Version::HTTP_2 {
        // Bedrock serves this operation over HTTP/2 only, as the SDKs send it.
        return Err(GuardError::Classify(classify::ClassifyError::Unsupported {
            operation: route.operation.name(),
            reason: format!(
                "over {:?}: it needs HTTP/2 (the AWS SDKs use h2c on a plain-http endpoint)",
                parts.version
            ),
        }));
    }
    audit.route(&route, parts.uri.path());
    let call = Call {
        caller: &caller,
        region,
        route: &route,
        body_model: None,
        body: &[],
    };
    // Nothing in a bidirectional stream's head names a body key; its events are never read as policy
    // inputs (a policy that reads one sees it unset, as for any call that does not carry it).
    let body_keys = crate::classify::body::BodyKeys::default();
    let inbound = Inbound {
        headers: &parts.headers,
        body: &body_keys,
        client_ip: peer,
    };
    authorize(shared, snapshot, &call, &inbound, request_id, audit).await?;
    // A session counts against the caller's quotas like any call (its tokens are charged when it ends).
    let allowance =
        crate::quota::enforce::admit_call(shared, snapshot, &caller, &route, None, &[], audit)
            .await?;

    // The upstream request: signed over the empty payload, as the SDKs sign it; its signature seeds
    // the proxy's frame chain.
    let url = shared.upstream.url(region, &route.upstream_path)?;
    let headers = forwardable_request_headers(&parts.headers)?;
    let credentials = shared.credentials_for(&caller).await?;
    let signature = {
        let to_sign = headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        sign_request(
            "POST",
            url.as_str(),
            to_sign,
            &[],
            &credentials,
            region,
            SystemTime::now(),
        )?
    };
    let seed = signature
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| value.rsplit_once("Signature="))
        .map(|(_, sig)| sig.to_owned())
        .ok_or_else(|| SigningError::from_message("no signature in the signed request"))?;
    let outgoing = signed_header_map(headers, signature)?;

    // Inbound relay first: Bedrock may wait for the first event before it answers.
    let (frames_tx, frames_rx) = mpsc::channel::<Result<Bytes, FrameError>>(1);
    let (failed_tx, failed_rx) = oneshot::channel::<String>();
    let proxy_chain = ProxyChain {
        identity: Identity::from((*credentials).clone()),
        region: region.to_owned(),
        last: seed,
    };
    let inbound_task = tokio::spawn(relay_inbound(
        body,
        client_chain,
        proxy_chain,
        frames_tx,
        failed_tx,
    ));
    let inbound_task = AbortOnDrop(inbound_task);
    let upstream_body = reqwest::Body::wrap_stream(futures_util::stream::unfold(
        frames_rx,
        |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
    ));

    audit.upstream_sent();
    let mut upstream = shared
        .upstream
        .send_duplex(url, outgoing, upstream_body)
        .await?;
    audit.upstream_response(upstream.status().as_u16(), upstream.headers());
    let status = upstream.status();
    strip_hop_by_hop(upstream.headers_mut());
    let headers = std::mem::take(upstream.headers_mut());
    let outbound = Outbound {
        upstream: Box::pin(upstream.bytes_stream()),
        failed: Some(failed_rx),
        deadline: Box::pin(tokio::time::sleep(MAX_SESSION)),
        _inbound: inbound_task,
        done: false,
    };
    let mut response = Response::new(Body::from_stream(futures_util::stream::unfold(
        outbound,
        Outbound::next,
    )));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    allowance.write_headers(response.headers_mut());
    Ok((response, permit))
}

/// The proxy's own signature chain toward Bedrock.
struct ProxyChain {
    identity: Identity,
    region: String,
    last: String,
}

impl ProxyChain {
    /// Wraps `event` (or, for `None`, the end frame) into the next signed frame.
    fn sign(&mut self, event: Option<&Message>) -> Result<Bytes, FrameError> {
        let params: SigningParams<'_> = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(SIGNING_NAME)
            .time(SystemTime::now())
            .settings(())
            .build()
            .map_err(|e| FrameError::Sign(e.to_string()))?;
        let signed = match event {
            Some(event) => sign_message(event, &self.last, &params),
            None => sign_empty_message(&self.last, &params),
        }
        .map_err(|e| FrameError::Sign(e.to_string()))?;
        let (frame, signature) = signed.into_parts();
        self.last = signature;
        encode(&frame)
    }
}

fn encode(message: &Message) -> Result<Bytes, FrameError> {
    let mut out = Vec::new();
    write_message_to(message, &mut out).map_err(|e| FrameError::Malformed(e.to_string()))?;
    Ok(Bytes::from(out))
}

/// Checks one client frame against the client's chain; returns the event it carries (`None` for the
/// end frame).
fn verify_frame(
    chain: &mut ClientChain,
    frame: &Message,
    index: u64,
) -> Result<Option<Message>, FrameError> {
    let header = |name: &str| frame.headers().iter().find(|h| h.name().as_str() == name);
    let (Some(signature), Some(date)) = (header(":chunk-signature"), header(":date")) else {
        return Err(FrameError::Unsigned(index));
    };
    let (Ok(signature), Ok(date)) = (
        signature.value().as_byte_array(),
        date.value().as_timestamp(),
    ) else {
        return Err(FrameError::Unsigned(index));
    };
    let time = SystemTime::try_from(date).map_err(|_| FrameError::Skewed(index))?;
    let now = SystemTime::now();
    let skew = match now.duration_since(time) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > MAX_FRAME_SKEW {
        return Err(FrameError::Skewed(index));
    }
    let params: SigningParams<'_> = v4::SigningParams::builder()
        .identity(&chain.identity)
        .region(&chain.region)
        .name(SIGNING_NAME)
        .time(time)
        .settings(())
        .build()
        .map_err(|e| FrameError::Sign(e.to_string()))?;
    let payload = frame.payload();
    let (event, expected) = if payload.is_empty() {
        let expected = sign_empty_message(&chain.seed, &params)
            .map_err(|e| FrameError::Sign(e.to_string()))?;
        (None, expected)
    } else {
        let event =
            read_message_from(payload.clone()).map_err(|e| FrameError::Malformed(e.to_string()))?;
        // The signature is recomputed over the event as re-encoded; requiring the same bytes means
        // what was verified is exactly what is forwarded.
        if encode(&event)? != *payload {
            return Err(FrameError::Malformed(format!(
                "frame {index}: the event is not canonically encoded"
            )));
        }
        let expected = sign_message(&event, &chain.seed, &params)
            .map_err(|e| FrameError::Sign(e.to_string()))?;
        (Some(event), expected)
    };
    let (_, expected) = expected.into_parts();
    if !crate::auth::api_key::constant_time_eq(hex(signature).as_bytes(), expected.as_bytes()) {
        return Err(FrameError::BadSignature(index));
    }
    // The chain moves on: `seed` now holds the last verified signature.
    chain.seed = expected;
    Ok(event)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Reads the client's frames, checks and re-signs each, and hands them to the upstream body one at a
/// time. On a bad frame: an error item (the upstream request is reset) and a message for the client.
async fn relay_inbound(
    mut body: Body,
    mut client: Option<ClientChain>,
    mut proxy: ProxyChain,
    upstream: mpsc::Sender<Result<Bytes, FrameError>>,
    failed: oneshot::Sender<String>,
) {
    let result = async {
        let mut buffer = BytesMut::new();
        let mut decoder = MessageFrameDecoder::new();
        let mut index = 0u64;
        let mut ended = false;
        loop {
            // Decode every complete frame in the buffer before reading more.
            loop {
                let frame = match decoder.decode_frame(&mut buffer) {
                    Ok(DecodedFrame::Complete(frame)) => frame,
                    Ok(DecodedFrame::Incomplete) => break,
                    Err(e) => return Err(FrameError::Malformed(e.to_string())),
                };
                index += 1;
                if ended {
                    return Err(FrameError::AfterEnd(index));
                }
                let event = match client.as_mut() {
                    Some(chain) => verify_frame(chain, &frame, index)?,
                    None => unwrap_unverified(frame)?,
                };
                ended = event.is_none();
                let signed = proxy.sign(event.as_ref())?;
                if upstream.send(Ok(signed)).await.is_err() {
                    // Bedrock stopped reading: the outbound side reports what happened.
                    return Ok(());
                }
            }
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Err(FrameError::Read(e.to_string())),
                None => break,
            }
        }
        if !buffer.is_empty() {
            return Err(FrameError::Malformed(
                "the stream ended inside a frame".to_owned(),
            ));
        }
        if !ended {
            // A client that closed without the signed end frame: end the proxy's chain properly.
            let _ = upstream.send(Ok(proxy.sign(None)?)).await;
        }
        Ok(())
    }
    .await;
    if let Err(err) = result {
        tracing::info!(error = %err, "bidirectional stream: inbound frame refused; ending the session");
        // The client's explanation first: the reset of the upstream request ends the response too.
        let _ = failed.send(err.to_string());
        let _ = upstream.send(Err(err)).await;
    }
}

/// A frame from a caller authenticated by other means than SigV4: a signed wrapper is unwrapped (its
/// signature is by a key the guard does not hold), a bare event is the event.
fn unwrap_unverified(frame: Message) -> Result<Option<Message>, FrameError> {
    let wrapped = frame
        .headers()
        .iter()
        .any(|h| h.name().as_str() == ":chunk-signature");
    if !wrapped {
        return Ok(Some(frame));
    }
    if frame.payload().is_empty() {
        return Ok(None);
    }
    read_message_from(frame.payload().clone())
        .map(Some)
        .map_err(|e| FrameError::Malformed(e.to_string()))
}

/// An exception frame for the client, in the shape the SDKs turn into a modeled error.
fn exception_frame(exception_type: &'static str, message: &str) -> Bytes {
    let payload = serde_json::json!({ "message": message }).to_string();
    let frame = Message::new(Bytes::from(payload))
        .add_header(Header::new(
            ":message-type",
            FrameValue::String("exception".into()),
        ))
        .add_header(Header::new(
            ":exception-type",
            FrameValue::String(exception_type.into()),
        ))
        .add_header(Header::new(
            ":content-type",
            FrameValue::String("application/json".into()),
        ));
    encode(&frame).unwrap_or_default()
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The response side of a session.
struct Outbound {
    upstream: ByteStream,
    failed: Option<oneshot::Receiver<String>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// The inbound relay lives as long as the response: a client that goes away ends both.
    _inbound: AbortOnDrop,
    done: bool,
}

impl Outbound {
    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        if self.done {
            return None;
        }
        loop {
            tokio::select! {
                biased;
                failed = async { self.failed.as_mut()?.await.ok() }, if self.failed.is_some() => {
                    match failed {
                        Some(message) => {
                            self.done = true;
                            return Some((Ok(exception_frame("validationException", &message)), self));
                        }
                        // The inbound side finished without a failure.
                        None => self.failed = None,
                    }
                }
                () = &mut self.deadline => {
                    self.done = true;
                    let message = format!(
                        "bidirectional session ended by bedrock-guard after {} minutes (Bedrock's limit)",
                        MAX_SESSION.as_secs() / 60
                    );
                    return Some((Ok(exception_frame("validationException", &message)), self));
                }
                item = self.upstream.next() => {
                    return match item {
                        Some(Ok(bytes)) => Some((Ok(bytes), self)),
                        Some(Err(e)) => {
                            self.done = true;
                            Some((Err(std::io::Error::other(e)), self))
                        }
                        None => None,
                    };
                }
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    fn chain(secret: &str, seed: &str) -> ClientChain {
        ClientChain {
            identity: Credentials::new("AKIDCLIENT", secret, None, None, "test").into(),
            region: "us-east-1".into(),
            seed: seed.into(),
        }
    }

    fn event(text: &str) -> Message {
        Message::new(Bytes::from(format!(r#"{{"bytes":"{text}"}}"#)))
            .add_header(Header::new(
                ":message-type",
                FrameValue::String("event".into()),
            ))
            .add_header(Header::new(
                ":event-type",
                FrameValue::String("chunk".into()),
            ))
    }

    /// What a client's SDK sends: events wrapped into its chain, then the end frame.
    fn client_frames(secret: &str, seed: &str, events: &[Message]) -> Vec<Message> {
        let mut client = ProxyChain {
            identity: Credentials::new("AKIDCLIENT", secret, None, None, "test").into(),
            region: "us-east-1".into(),
            last: seed.into(),
        };
        let mut frames: Vec<Message> = events
            .iter()
            .map(|e| read_message_from(client.sign(Some(e)).unwrap()).unwrap())
            .collect();
        frames.push(read_message_from(client.sign(None).unwrap()).unwrap());
        frames
    }

    #[test]
    fn a_chain_verifies_frame_by_frame_and_only_in_order() {
        let events = [event("a"), event("b")];
        let frames = client_frames("s3cret", "seed0", &events);
        let mut good = chain("s3cret", "seed0");
        for (i, frame) in frames.iter().enumerate() {
            let got = verify_frame(&mut good, frame, i as u64 + 1).unwrap();
            assert_eq!(got.as_ref(), events.get(i), "frame {i}");
        }
        // Another secret, another seed, a reordered or replayed frame: refused.
        assert!(matches!(
            verify_frame(&mut chain("other", "seed0"), &frames[0], 1),
            Err(FrameError::BadSignature(1))
        ));
        assert!(matches!(
            verify_frame(&mut chain("s3cret", "seed1"), &frames[0], 1),
            Err(FrameError::BadSignature(1))
        ));
        assert!(matches!(
            verify_frame(&mut chain("s3cret", "seed0"), &frames[1], 1),
            Err(FrameError::BadSignature(1))
        ));
        let mut replay = chain("s3cret", "seed0");
        verify_frame(&mut replay, &frames[0], 1).unwrap();
        assert!(verify_frame(&mut replay, &frames[0], 2).is_err());
    }

    #[test]
    fn tampered_and_unsigned_frames_are_refused() {
        let frames = client_frames("s3cret", "seed0", &[event("a")]);
        // Same signature and date, another event.
        let tampered = Message::new_from_parts(
            frames[0].headers().to_vec(),
            encode(&event("evil")).unwrap(),
        );
        assert!(matches!(
            verify_frame(&mut chain("s3cret", "seed0"), &tampered, 1),
            Err(FrameError::BadSignature(1))
        ));
        assert!(matches!(
            verify_frame(&mut chain("s3cret", "seed0"), &event("a"), 1),
            Err(FrameError::Unsigned(1))
        ));
    }

    #[test]
    fn unverified_callers_frames_are_unwrapped() {
        let frames = client_frames("anything", "seed", &[event("a")]);
        assert_eq!(
            unwrap_unverified(frames[0].clone()).unwrap(),
            Some(event("a"))
        );
        assert_eq!(unwrap_unverified(frames[1].clone()).unwrap(), None);
        assert_eq!(unwrap_unverified(event("b")).unwrap(), Some(event("b")));
    }

    #[test]
    fn the_path_test_matches_classify() {
        for (method, path) in [
            (
                Method::POST,
                "/model/amazon.nova-sonic-v1%3A0/invoke-with-bidirectional-stream",
            ),
            (Method::POST, "/model/x/invoke"),
            (Method::GET, "/model/x/invoke-with-bidirectional-stream"),
            (
                Method::POST,
                "/guardrail/x/invoke-with-bidirectional-stream",
            ),
        ] {
            let classified = classify::classify(&method, path, None).is_ok_and(|r| {
                r.operation == classify::Operation::InvokeModelWithBidirectionalStream
            });
            assert_eq!(
                is_bidirectional(&method, path),
                classified,
                "{method} {path}"
            );
        }
    }
}
