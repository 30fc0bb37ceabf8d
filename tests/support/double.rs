//! A local stand-in for the Bedrock Runtime endpoint, used as the proxy's
//! upstream in integration tests.
//!
//! It records every request (raw path, headers, body and the result of
//! verifying its SigV4 signature against the `PROXY_*` credentials), then
//! answers according to the current [`Mode`]. It runs its own accept loop over
//! hyper's HTTP/1 connection API rather than a framework, because two of the
//! modes need the socket itself: `Reset` closes it with an RST, and `Hang` /
//! `GatedStream` must notice when the proxy drops the connection.
//!
//! Waiting is event-driven (`watch` channels), never by sleeping.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Notify};

use super::eventstream::{encode_event, encode_exception};
use super::sigv4::{self, Credentials, SignedRequest};

/// The credentials the proxy must sign upstream calls with (tests hand them to
/// the proxy); the double rejects anything else.
pub const PROXY_ACCESS_KEY: &str = "AKIDPROXYEXAMPLE";
pub const PROXY_SECRET_KEY: &str = "proxy/secret/EXAMPLEKEY";
pub const PROXY_SESSION_TOKEN: &str = "proxy-session-token";

/// Bedrock Runtime's SigV4 signing name (not `bedrock-runtime`).
const SIGNING_NAME: &str = "bedrock";

/// How long `wait_for_*` waits before failing the test with a message instead
/// of hanging it. Generous, because CI builds and tests share two cores.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

type DoubleBody = UnsyncBoxBody<Bytes, Infallible>;

/// How the double answers requests that arrive after [`BedrockDouble::set_mode`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Answer each route as Bedrock would, with fixed bodies (see `answer`).
    #[default]
    Normal,
    /// An AWS-shaped error on every route: `status`, `x-amzn-ErrorType`, `{"message": ...}`.
    Error {
        status: u16,
        error_type: String,
        message: String,
    },
    /// Stream routes send their first frame at once, then wait for
    /// [`BedrockDouble::release_stream`] before sending the rest.
    GatedStream,
    /// Stream routes send one normal frame, then a `modelStreamErrorException`
    /// frame, and end.
    StreamException,
    /// Read the request and never answer; a dropped connection is counted as a
    /// disconnect.
    Hang,
    /// Read the request, then close the TCP connection with an RST.
    Reset,
    /// InvokeModel and InvokeModelWithResponseStream answer as an Anthropic model on Bedrock does
    /// (Messages API JSON; `chunk` events carrying `message_start` ... `message_stop`), for clients
    /// that parse those answers (Claude Code). Other routes answer as in `Normal`.
    Anthropic,
}

/// A request as it reached the double.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Raw, as on the wire (`%3A` stays `%3A`).
    pub path: String,
    pub query: Option<String>,
    /// Names lowercased, in arrival order; repeated headers stay repeated.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// SigV4 verification against the `PROXY_*` credentials; `Err` says why not.
    pub signature: Result<(), String>,
}

impl RecordedRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `SignedHeaders` list from the SigV4 `Authorization` header (empty if
    /// there is none), to check which headers the proxy chose to sign.
    pub fn signed_headers(&self) -> Vec<String> {
        self.header("authorization")
            .and_then(|a| sigv4::parse_authorization(a).ok())
            .map(|a| a.signed_headers)
            .unwrap_or_default()
    }

    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("recorded body is JSON")
    }
}

/// The running double. Dropping it stops the accept loop and closes every
/// connection it holds.
pub struct BedrockDouble {
    pub addr: SocketAddr,
    state: Arc<State>,
    // Never sent on: its drop is the shutdown signal for all tasks.
    _shutdown: watch::Sender<()>,
}

struct State {
    region: String,
    /// Further (access key, secret, session token) triples to accept besides the `PROXY_*` ones,
    /// e.g. credentials of a role the proxy assumed for a principal.
    extra_credentials: Mutex<Vec<(String, String, String)>>,
    mode: Mutex<Mode>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Number of requests recorded so far.
    arrived: watch::Sender<usize>,
    /// Number of hung or streaming responses whose client went away first.
    disconnects: watch::Sender<usize>,
    /// Bumped by `release_stream`; a gated stream waits for a value above the
    /// one it saw when its request arrived, so a release is never lost.
    releases: watch::Sender<u64>,
}

impl BedrockDouble {
    /// Starts on 127.0.0.1:0. Every request's SigV4 signature is verified
    /// against the `PROXY_*` credentials, signing name `bedrock` and `region`.
    pub async fn start(region: &str) -> BedrockDouble {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Bedrock double");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(State {
            region: region.to_owned(),
            extra_credentials: Mutex::new(Vec::new()),
            mode: Mutex::new(Mode::Normal),
            requests: Mutex::new(Vec::new()),
            arrived: watch::Sender::new(0),
            disconnects: watch::Sender::new(0),
            releases: watch::Sender::new(0),
        });
        let (shutdown, shutdown_rx) = watch::channel(());
        tokio::spawn(accept_loop(listener, state.clone(), shutdown_rx));
        BedrockDouble {
            addr,
            state,
            _shutdown: shutdown,
        }
    }

    /// Also accept signatures made with these credentials.
    pub fn accept_credentials(&self, access_key: &str, secret_key: &str, session_token: &str) {
        self.state.extra_credentials.lock().unwrap().push((
            access_key.to_owned(),
            secret_key.to_owned(),
            session_token.to_owned(),
        ));
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything that arrived, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// How to answer the requests that arrive from now on.
    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// For [`Mode::GatedStream`]: lets the rest of every gated stream go,
    /// including streams whose request has not arrived yet.
    pub fn release_stream(&self) {
        self.state.releases.send_modify(|r| *r += 1);
    }

    /// Resolves when at least `n` requests have arrived. Panics after 30 s of
    /// real time so a missing request fails the test instead of hanging it.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut arrived = self.state.arrived.subscribe();
        let waited = within_real_time(WAIT_LIMIT, async move {
            let _ = arrived.wait_for(|count| *count >= n).await;
        })
        .await;
        if waited.is_none() {
            panic!(
                "waited {WAIT_LIMIT:?} for {n} request(s) at the Bedrock double; {} arrived",
                self.state.requests.lock().unwrap().len()
            );
        }
    }

    /// Resolves once the client side of a hung or streaming request has gone
    /// away (the proxy dropped the upstream connection). Panics after 30 s.
    /// Counts from the double's start: a second call returns at once; use
    /// [`wait_for_disconnects`](Self::wait_for_disconnects) for later ones.
    pub async fn wait_for_disconnect(&self) {
        self.wait_for_disconnects(1).await;
    }

    /// Resolves when at least `n` disconnects have been seen. Panics after 30 s.
    pub async fn wait_for_disconnects(&self, n: usize) {
        let mut disconnects = self.state.disconnects.subscribe();
        let waited = within_real_time(WAIT_LIMIT, async move {
            let _ = disconnects.wait_for(|count| *count >= n).await;
        })
        .await;
        if waited.is_none() {
            panic!(
                "waited {WAIT_LIMIT:?} for {n} client(s) to drop a hung or streaming request; saw {}",
                self.disconnects()
            );
        }
    }

    /// How many hung or streaming responses lost their client so far.
    pub fn disconnects(&self) -> usize {
        *self.state.disconnects.borrow()
    }
}

impl State {
    /// Stores the request and returns its 1-based number.
    fn record(&self, request: RecordedRequest) -> usize {
        let mut requests = self.requests.lock().unwrap();
        requests.push(request);
        let n = requests.len();
        // Under the lock, so the count never runs ahead of `requests()`.
        self.arrived.send_replace(n);
        n
    }
}

/// Races `fut` against a real-time deadline. Not `tokio::time::timeout`: a
/// test that pauses tokio's clock would see that fire as soon as the runtime
/// idles waiting on the network.
async fn within_real_time<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let (expired, deadline) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let _ = expired.send(());
    });
    tokio::select! {
        biased;
        out = fut => Some(out),
        _ = deadline => None,
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, mut shutdown: watch::Receiver<()>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = shutdown.changed() => return,
        };
        tokio::spawn(serve_connection(stream, state.clone(), shutdown.clone()));
    }
}

/// Set by a `Reset`-mode request: the connection task drops the connection,
/// and [`ConnIo`]'s drop turns the close into an RST.
#[derive(Default)]
struct ResetSignal {
    requested: AtomicBool,
    notify: Notify,
}

async fn serve_connection(stream: TcpStream, state: Arc<State>, mut shutdown: watch::Receiver<()>) {
    let _ = stream.set_nodelay(true);
    let reset = Arc::new(ResetSignal::default());
    let io = ConnIo {
        stream,
        reset: reset.clone(),
    };
    let service_reset = reset.clone();
    let service = service_fn(move |req| handle(state.clone(), service_reset.clone(), req));
    let connection = http1::Builder::new().serve_connection(TokioIo::new(io), service);
    // Whichever ends first, the connection (and with it any in-flight
    // response future or body) is dropped here.
    tokio::select! {
        _ = connection => {}
        _ = reset.notify.notified() => {}
        _ = shutdown.changed() => {}
    }
}

/// The accepted socket, wrapped so that dropping it after a `Reset` request
/// sets `SO_LINGER` 0 first: the kernel then sends an RST instead of a FIN,
/// which is what a crashed or load-balanced-away upstream looks like.
struct ConnIo {
    stream: TcpStream,
    reset: Arc<ResetSignal>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.reset.requested.load(Ordering::SeqCst) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Counts a disconnect when dropped while still armed, i.e. when hyper drops a
/// response future or body because the connection died before it finished.
struct DisconnectGuard {
    state: Arc<State>,
    armed: bool,
}

impl DisconnectGuard {
    fn new(state: Arc<State>) -> Self {
        DisconnectGuard { state, armed: true }
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if self.armed {
            self.state.disconnects.send_modify(|d| *d += 1);
        }
    }
}

/// A streaming body fed by a channel, so each event-stream frame goes out as
/// its own HTTP chunk when the producer sends it.
struct ChannelBody {
    frames: mpsc::Receiver<Bytes>,
    guard: DisconnectGuard,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.frames.poll_recv(cx) {
            Poll::Ready(Some(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Poll::Ready(None) => {
                // Sent in full: dropping the body now is not a disconnect.
                self.guard.armed = false;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

async fn handle(
    state: Arc<State>,
    reset: Arc<ResetSignal>,
    req: Request<Incoming>,
) -> Result<Response<DoubleBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        // The client went away mid-body; nothing to record or answer.
        Err(_) => return Ok(plain(StatusCode::BAD_REQUEST, 0, Value::Null)),
    };

    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let signed = SignedRequest {
        method: &method,
        path: &path,
        query: query.as_deref(),
        headers: &headers,
        body: &body,
    };
    let mut signature = sigv4::verify(
        &signed,
        &Credentials {
            access_key: PROXY_ACCESS_KEY,
            secret_key: PROXY_SECRET_KEY,
            session_token: Some(PROXY_SESSION_TOKEN),
        },
        &state.region,
        SIGNING_NAME,
    );
    if signature.is_err() {
        let extra = state.extra_credentials.lock().unwrap().clone();
        for (access_key, secret_key, token) in &extra {
            let attempt = sigv4::verify(
                &signed,
                &Credentials {
                    access_key,
                    secret_key,
                    session_token: Some(token),
                },
                &state.region,
                SIGNING_NAME,
            );
            if attempt.is_ok() {
                signature = attempt;
                break;
            }
        }
    }

    // Read before recording: a test may call release_stream() as soon as
    // wait_for_requests() returns, and that release must count for us.
    let release_seen = *state.releases.borrow();
    let mode = state.mode.lock().unwrap().clone();
    let n = state.record(RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query,
        headers,
        body: body.to_vec(),
        signature: signature.clone(),
    });

    match &mode {
        Mode::Reset => {
            reset.requested.store(true, Ordering::SeqCst);
            reset.notify.notify_one();
            return std::future::pending().await;
        }
        Mode::Hang => {
            // Dropped (and counted) only when hyper gives up on the connection.
            let _guard = DisconnectGuard::new(state.clone());
            return std::future::pending().await;
        }
        _ => {}
    }

    // Real Bedrock rejects a bad signature before anything else; doing the
    // same makes a signing bug fail loudly even in tests that do not look at
    // `RecordedRequest::signature`.
    if let Err(reason) = signature {
        return Ok(aws_error(n, 403, "InvalidSignatureException", &reason));
    }
    if let Mode::Error {
        status,
        error_type,
        message,
    } = &mode
    {
        return Ok(aws_error(n, *status, error_type, message));
    }

    if matches!(mode, Mode::Anthropic) {
        if let Route::Model { id, operation } = route(&method, &path) {
            match operation {
                "invoke" => return Ok(plain(StatusCode::OK, n, anthropic_message(&id))),
                "invoke-with-response-stream" => {
                    return Ok(stream(
                        &state,
                        n,
                        anthropic_stream_frames(&id),
                        StreamPlan::All,
                    ))
                }
                _ => {}
            }
        }
    }
    let stream_plan = match mode {
        Mode::GatedStream => StreamPlan::Gated { release_seen },
        Mode::StreamException => StreamPlan::FailAfterFirst,
        _ => StreamPlan::All,
    };
    Ok(answer(&state, n, &method, &path, &body, stream_plan))
}

/// The Normal-mode answer for each route.
fn answer(
    state: &Arc<State>,
    n: usize,
    method: &str,
    path: &str,
    body: &[u8],
    plan: StreamPlan,
) -> Response<DoubleBody> {
    match route(method, path) {
        Route::Model { id, operation } => match operation {
            "invoke" => {
                let echo = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
                let mut response = plain(
                    StatusCode::OK,
                    n,
                    json!({"double": "invoke", "modelId": id, "echo": echo}),
                );
                let headers = response.headers_mut();
                headers.insert("x-amzn-bedrock-input-token-count", 11.into());
                headers.insert("x-amzn-bedrock-output-token-count", 7.into());
                headers.insert("x-amzn-bedrock-invocation-latency", 5.into());
                response
            }
            "converse" => plain(
                StatusCode::OK,
                n,
                json!({
                    "output": {"message": {"role": "assistant", "content": [{"text": "hello from the double"}]}},
                    "stopReason": "end_turn",
                    "usage": {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17},
                    "metrics": {"latencyMs": 3}
                }),
            ),
            "count-tokens" => plain(StatusCode::OK, n, json!({"inputTokens": 42})),
            "converse-stream" => stream(state, n, converse_stream_frames(), plan),
            "invoke-with-response-stream" => {
                let mut response = stream(state, n, invoke_stream_frames(), plan);
                response.headers_mut().insert(
                    "x-amzn-bedrock-content-type",
                    "application/json".parse().unwrap(),
                );
                response
            }
            _ => unknown_operation(n, method, path),
        },
        Route::StartAsyncInvoke => plain(
            StatusCode::OK,
            n,
            json!({"invocationArn": "arn:aws:bedrock:us-east-1:123456789012:async-invoke/double1"}),
        ),
        Route::ListAsyncInvokes => plain(StatusCode::OK, n, json!({"asyncInvokeSummaries": []})),
        Route::GetAsyncInvoke { arn } => plain(
            StatusCode::OK,
            n,
            json!({
                "invocationArn": arn,
                "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-reel-v1:0",
                "status": "InProgress",
                "submitTime": "2025-01-01T00:00:00Z",
                "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://b/o"}}
            }),
        ),
        Route::ApplyGuardrail => plain(
            StatusCode::OK,
            n,
            json!({
                "usage": {
                    "topicPolicyUnits": 0,
                    "contentPolicyUnits": 1,
                    "wordPolicyUnits": 0,
                    "sensitiveInformationPolicyUnits": 0,
                    "sensitiveInformationPolicyFreeUnits": 0,
                    "contextualGroundingPolicyUnits": 0
                },
                "action": "NONE",
                "outputs": [],
                "assessments": []
            }),
        ),
        Route::GuardrailChecks => plain(
            StatusCode::OK,
            n,
            json!({
                "results": {"promptAttack": {"results": [{"category": "JAILBREAK", "severityScore": 0.2}]}},
                "usage": {"promptAttack": {"textUnits": 1}}
            }),
        ),
        Route::ChatCompletions => openai_chat(state, n, body, plan),
        Route::CreateResponse => openai_response(state, n, body, plan),
        Route::StoredResponse { id, action } => match action {
            "get" => plain(
                StatusCode::OK,
                n,
                response_object(&id, "double.model", "completed"),
            ),
            "cancel" => plain(
                StatusCode::OK,
                n,
                response_object(&id, "double.model", "cancelled"),
            ),
            _ => plain(
                StatusCode::OK,
                n,
                json!({"id": id, "object": "response", "deleted": true}),
            ),
        },
        Route::Unknown => unknown_operation(n, method, path),
    }
}

/// The OpenAI-compatible Chat Completions route: a `chat.completion`, or with `"stream": true` SSE
/// chunks (a usage chunk when `stream_options.include_usage`), then `data: [DONE]`.
fn openai_chat(
    state: &Arc<State>,
    n: usize,
    body: &[u8],
    plan: StreamPlan,
) -> Response<DoubleBody> {
    let request = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let model = request["model"].as_str().unwrap_or("").to_owned();
    let usage = json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17});
    if request["stream"] != json!(true) {
        return plain(
            StatusCode::OK,
            n,
            json!({
                "id": format!("chatcmpl-double{n}"),
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "hello from the double"}}],
                "usage": usage
            }),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": format!("chatcmpl-double{n}"), "object": "chat.completion.chunk",
               "created": 1_700_000_000, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = vec![
        chunk(
            json!({"role": "assistant", "content": "hello "}),
            Value::Null,
        ),
        chunk(json!({"content": "from the double"}), Value::Null),
        chunk(json!({}), json!("stop")),
    ];
    if request["stream_options"]["include_usage"] == json!(true) {
        events.push(json!({"id": format!("chatcmpl-double{n}"), "object": "chat.completion.chunk",
                           "created": 1_700_000_000, "model": model, "choices": [], "usage": usage}));
    }
    let mut frames: Vec<Bytes> = events
        .into_iter()
        .map(|e| Bytes::from(format!("data: {e}\n\n")))
        .collect();
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    stream_as(state, n, frames, plan, "text/event-stream")
}

/// A Responses API `response` object.
fn response_object(id: &str, model: &str, status: &str) -> Value {
    json!({
        "id": id,
        "object": "response",
        "created_at": 1_700_000_000,
        "model": model,
        "status": status,
        "output": [{"type": "message", "id": "msg_double", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": "hello from the double", "annotations": []}]}],
        "parallel_tool_calls": true,
        "tool_choice": "auto",
        "tools": [],
        "usage": {"input_tokens": 9, "output_tokens": 4, "total_tokens": 13,
                  "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 0}}
    })
}

/// The OpenAI-compatible Responses route: a response object, or with `"stream": true` the
/// `response.created`, `response.output_text.delta` and `response.completed` events.
fn openai_response(
    state: &Arc<State>,
    n: usize,
    body: &[u8],
    plan: StreamPlan,
) -> Response<DoubleBody> {
    let request = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let model = request["model"].as_str().unwrap_or("");
    let id = format!("resp_double{n}");
    if request["stream"] != json!(true) {
        return plain(StatusCode::OK, n, response_object(&id, model, "completed"));
    }
    let mut created = response_object(&id, model, "in_progress");
    created["output"] = json!([]);
    created["usage"] = Value::Null;
    let events = [
        (
            "response.created",
            json!({"type": "response.created", "sequence_number": 0, "response": created}),
        ),
        (
            "response.output_text.delta",
            json!({"type": "response.output_text.delta", "sequence_number": 1,
            "item_id": "msg_double", "output_index": 0, "content_index": 0, "delta": "hello from the double", "logprobs": []}),
        ),
        (
            "response.completed",
            json!({"type": "response.completed", "sequence_number": 2,
            "response": response_object(&id, model, "completed")}),
        ),
    ];
    let frames = events
        .into_iter()
        .map(|(name, data)| Bytes::from(format!("event: {name}\ndata: {data}\n\n")))
        .collect();
    stream_as(state, n, frames, plan, "text/event-stream")
}

enum Route<'p> {
    /// `/model/{id}/{operation}`; `id` percent-decoded.
    Model {
        id: String,
        operation: &'p str,
    },
    StartAsyncInvoke,
    ListAsyncInvokes,
    GetAsyncInvoke {
        arn: String,
    },
    ApplyGuardrail,
    GuardrailChecks,
    /// `/openai/v1/chat/completions` or `/v1/chat/completions`.
    ChatCompletions,
    CreateResponse,
    /// `/openai/v1/responses/{id}` (`get`, `delete`) or `.../{id}/cancel`.
    StoredResponse {
        id: String,
        action: &'static str,
    },
    Unknown,
}

fn route<'p>(method: &str, path: &'p str) -> Route<'p> {
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    match (method, path) {
        ("POST", "/async-invoke") => Route::StartAsyncInvoke,
        ("GET", "/async-invoke") => Route::ListAsyncInvokes,
        ("GET", p) if p.starts_with("/async-invoke/") => Route::GetAsyncInvoke {
            arn: decode(&p["/async-invoke/".len()..]),
        },
        ("POST", p) if p.starts_with("/guardrail/") && p.ends_with("/apply") => {
            Route::ApplyGuardrail
        }
        ("POST", "/guardrail-checks/invoke") => Route::GuardrailChecks,
        ("POST", "/openai/v1/chat/completions" | "/v1/chat/completions") => Route::ChatCompletions,
        ("POST", "/openai/v1/responses") => Route::CreateResponse,
        ("POST", p) if p.starts_with("/openai/v1/responses/") && p.ends_with("/cancel") => {
            Route::StoredResponse {
                id: p["/openai/v1/responses/".len()..p.len() - "/cancel".len()].to_owned(),
                action: "cancel",
            }
        }
        ("GET" | "DELETE", p) if p.starts_with("/openai/v1/responses/") => Route::StoredResponse {
            id: p["/openai/v1/responses/".len()..]
                .split('?')
                .next()
                .unwrap_or("")
                .to_owned(),
            action: if method == "GET" { "get" } else { "delete" },
        },
        // The operation is the last segment; splitting from the right also
        // copes with clients that send the `/` of an ARN id unencoded.
        ("POST", p) => match p.strip_prefix("/model/").and_then(|r| r.rsplit_once('/')) {
            Some((id, operation)) if !id.is_empty() => Route::Model {
                id: decode(id),
                operation,
            },
            _ => Route::Unknown,
        },
        _ => Route::Unknown,
    }
}

/// How a stream route sends its frames.
#[derive(Clone, Copy)]
enum StreamPlan {
    All,
    /// The first frame now, the rest after a release newer than `release_seen`.
    Gated {
        release_seen: u64,
    },
    /// The first frame, then a `modelStreamErrorException`.
    FailAfterFirst,
}

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
    .map(|(event, payload)| encode_event(event, payload.as_bytes()))
    .collect()
}

/// The text every Anthropic-mode answer carries.
pub const ANTHROPIC_TEXT: &str = "hello from the double";

/// An Anthropic Messages API answer, as InvokeModel returns it for a Claude model.
fn anthropic_message(model: &str) -> Value {
    json!({
        "id": "msg_bdrk_double", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": ANTHROPIC_TEXT}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 5, "output_tokens": 5}
    })
}

/// The Messages API stream, one `chunk` event per Anthropic event; the last carries the invocation
/// metrics, as on Bedrock.
fn anthropic_stream_frames(model: &str) -> Vec<Bytes> {
    let mut start = anthropic_message(model);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    let events = [
        json!({"type": "message_start", "message": start}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ANTHROPIC_TEXT}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 5}}),
        json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 5, "outputTokenCount": 5, "invocationLatency": 10, "firstByteLatency": 2}}),
    ];
    events
        .iter()
        .map(|event| {
            let payload = json!({"bytes": aws_smithy_types::base64::encode(event.to_string())});
            encode_event("chunk", payload.to_string().as_bytes())
        })
        .collect()
}

/// Three `chunk` events; as with real Anthropic models on Bedrock, the last
/// chunk's inner JSON carries the invocation metrics.
fn invoke_stream_frames() -> Vec<Bytes> {
    (1..=3)
        .map(|i| {
            let metrics = if i == 3 {
                r#","amazon-bedrock-invocationMetrics":{"inputTokenCount":8,"outputTokenCount":3,"invocationLatency":10,"firstByteLatency":2}"#
            } else {
                ""
            };
            let inner = format!(
                r#"{{"type":"content_block_delta","delta":{{"text":"part {i}"}}{metrics}}}"#
            );
            let payload = json!({"bytes": aws_smithy_types::base64::encode(inner)});
            encode_event("chunk", payload.to_string().as_bytes())
        })
        .collect()
}

fn stream(
    state: &Arc<State>,
    n: usize,
    frames: Vec<Bytes>,
    plan: StreamPlan,
) -> Response<DoubleBody> {
    stream_as(state, n, frames, plan, "application/vnd.amazon.eventstream")
}

fn stream_as(
    state: &Arc<State>,
    n: usize,
    frames: Vec<Bytes>,
    plan: StreamPlan,
    content_type: &'static str,
) -> Response<DoubleBody> {
    let (tx, rx) = mpsc::channel(frames.len() + 1);
    let state_for_gate = state.clone();
    tokio::spawn(async move {
        let mut frames = frames.into_iter();
        let first = frames.next().expect("a stream has frames");
        if tx.send(first).await.is_err() {
            return;
        }
        match plan {
            StreamPlan::All => {}
            StreamPlan::Gated { release_seen } => {
                let mut releases = state_for_gate.releases.subscribe();
                tokio::select! {
                    _ = releases.wait_for(|r| *r > release_seen) => {}
                    // The body was dropped (client gone): stop producing.
                    _ = tx.closed() => return,
                }
            }
            StreamPlan::FailAfterFirst => {
                let exception = encode_exception(
                    "modelStreamErrorException",
                    br#"{"message":"upstream model failed mid-stream","originalStatusCode":500,"originalMessage":"boom"}"#,
                );
                let _ = tx.send(exception).await;
                return;
            }
        }
        for frame in frames {
            if tx.send(frame).await.is_err() {
                return;
            }
        }
    });

    let body = ChannelBody {
        frames: rx,
        guard: DisconnectGuard::new(state.clone()),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .header("x-amzn-requestid", format!("double-{n}"))
        .body(body.boxed_unsync())
        .unwrap()
}

/// A JSON response with the double's request id.
fn plain(status: StatusCode, n: usize, body: Value) -> Response<DoubleBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", format!("double-{n}"))
        .body(Full::new(Bytes::from(body.to_string())).boxed_unsync())
        .unwrap()
}

/// The restJson1 error shape SDKs read: status, `x-amzn-ErrorType`, `{"message"}`.
fn aws_error(n: usize, status: u16, error_type: &str, message: &str) -> Response<DoubleBody> {
    let status = StatusCode::from_u16(status).expect("a valid HTTP status for Mode::Error");
    let mut response = plain(status, n, json!({ "message": message }));
    response.headers_mut().insert(
        "x-amzn-errortype",
        error_type
            .parse()
            .expect("error type is a valid header value"),
    );
    response
}

fn unknown_operation(n: usize, method: &str, path: &str) -> Response<DoubleBody> {
    aws_error(
        n,
        404,
        "UnknownOperationException",
        &format!("the Bedrock double has no operation for {method} {path}"),
    )
}
