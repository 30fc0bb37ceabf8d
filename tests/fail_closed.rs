//! Failing closed, probed as an attacker would through the real listener: reloads that would weaken
//! what start-up refuses, unauthenticated resource exhaustion (slow bodies, parallel HTTP/2 streams,
//! idle admin connections), an identity header sent twice, browsers driving the unauthenticated
//! proxy, and error bodies that would reveal internals.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use bedrock_guard::auth::api_key;
use bedrock_guard::config::{
    load, ApiKeyEntry, Config, Overrides, ReloadOutcome, ReloadTrigger, TrustedHeaderConfig,
};
use bedrock_guard::Guard;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use support::guard::{serve_with_admin, start_guard, GuardOptions, RunningGuard, FULL_ACCESS};
use support::logs::capture;
use support::{BedrockDouble, Mode};

const REGION: &str = "us-east-1";
const CONVERSE: &str = "/model/anthropic.claude-v2/converse";
const API_KEY: &str = "bgk_fail_closed_test_key_000000000000000000000000000000000000000000";
/// An upper bound so a broken guard fails the test instead of hanging it; never what decides it.
const WAIT: Duration = Duration::from_secs(20);

/// A gateway whose only client is `app`, with an API key; `extra` adjusts the config further.
async fn gateway(
    double: &BedrockDouble,
    extra: impl Fn(&mut Config) + Send + Sync + 'static,
) -> RunningGuard {
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.configure = Some(Arc::new(move |config: &mut Config| {
        config.principals = vec![support::principal("app")];
        config.auth.api_keys = vec![ApiKeyEntry {
            principal: "app".into(),
            sha256: api_key::hash_hex(API_KEY),
        }];
        extra(config);
    }));
    start_guard(double, options).await
}

/// A guard with no `[auth]` (sidecar, local development); `extra` adjusts the config further.
async fn local_proxy(
    double: &BedrockDouble,
    extra: impl Fn(&mut Config) + Send + Sync + 'static,
) -> RunningGuard {
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.configure = Some(Arc::new(extra));
    start_guard(double, options).await
}

/// One HTTP/1.1 response read off a raw socket: status, headers (lower-case), body.
struct RawResponse {
    status: u16,
    head: String,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }
}

/// Reads one response (head and a `content-length` body) without waiting for the connection to end.
async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(": ")?;
                        n.eq_ignore_ascii_case("content-length")
                            .then(|| v.parse().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    let body =
                        String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
                    return RawResponse {
                        status: head[9..12].parse().unwrap(),
                        head,
                        body,
                    };
                }
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "connection closed before a full response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("the guard answers")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends `request` as is on a fresh connection and reads the answer.
async fn send_raw(addr: SocketAddr, request: &str) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_response(&mut stream).await
}

fn converse_request(extra_headers: &str) -> String {
    let body = r#"{"messages":[]}"#;
    format!(
        "POST {CONVERSE} HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

fn proxy_credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        "AKIDPROXY",
        "proxy-secret",
        None,
        None,
        "t",
    ))
}

// ---------------------------------------------------------------------------------------------
// Requirement 2: a reload can never weaken what start-up refuses.

const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// A valid gateway: loopback, one principal with an API key.
fn gateway_toml(top: &str, auth: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
region = "us-east-1"
account_id = "123456789012"
{top}
[upstream]
endpoint = "http://127.0.0.1:9"
[policy]
files = ["p.json"]
[[principals]]
name = "app"
arn = "arn:aws:iam::123456789012:role/app"
{auth}
"#
    )
}

fn api_key_auth() -> String {
    format!(
        "[[auth.api_keys]]\nprincipal = \"app\"\nsha256 = \"{}\"\n",
        api_key::hash_hex(API_KEY)
    )
}

async fn build(path: &Path) -> Result<Guard, String> {
    let config = load(Some(path), &Overrides::default()).map_err(|e| e.to_string())?;
    Guard::builder(config)
        .credentials_provider(proxy_credentials())
        .config_source(path.to_owned(), Overrides::default())
        .build()
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn every_start_up_refusal_is_a_reload_refusal() {
    let auth = api_key_auth();
    let valid = gateway_toml("", &auth);
    // (what is wrong, the config text, a word the error must contain)
    let cases: Vec<(&str, String, &str)> = vec![
        ("unknown key", gateway_toml("regoin = \"x\"", &auth), "regoin"),
        ("region", valid.replace("region = \"us-east-1\"", "region = \"moon\""), "region"),
        ("account id", valid.replace("\"123456789012\"", "\"12\""), "account_id"),
        ("endpoint", valid.replace("http://127.0.0.1:9", "ftp://x"), "endpoint"),
        ("body cap", gateway_toml("[limits]\nmax_body_bytes = 0", &auth), "max_body_bytes"),
        (
            "body deadline",
            gateway_toml("[limits]\nbody_read_timeout_secs = 0", &auth),
            "body_read_timeout_secs",
        ),
        (
            "body budgets",
            gateway_toml("[limits]\nmax_body_bytes_total = 10", &auth),
            "max_body_bytes_total",
        ),
        ("policy file", valid.replace("p.json", "broken.json"), "broken.json"),
        (
            "api key of an unknown principal",
            valid.replace("principal = \"app\"", "principal = \"ghost\""),
            "ghost",
        ),
        (
            "failing policy test",
            format!("{valid}[[policy_tests]]\nname = \"nova is denied\"\nprincipal = \"app\"\nmodel = \"amazon.nova-lite-v1:0\"\nexpect = \"deny\"\n"),
            "nova is denied",
        ),
        (
            "unauthenticated on the network",
            gateway_toml("", "").replace("127.0.0.1:0", "0.0.0.0:0"),
            "without client authentication",
        ),
        (
            "identity header without trusted networks",
            gateway_toml("", "[auth.trusted_header]\nheader = \"x-principal\"\ntrusted_cidrs = []"),
            "trusted_cidrs",
        ),
        (
            "unknown fixed principal",
            gateway_toml("[principal]\nname = \"nobody\"", &auth),
            "nobody",
        ),
        (
            "bad local host name",
            gateway_toml("", "[auth]\nlocal_host_names = [\"http://x\"]"),
            "local_host_names",
        ),
    ];

    for (what, text, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.json"), ALLOW_ALL).unwrap();
        std::fs::write(dir.path().join("broken.json"), "{ not json").unwrap();
        let path = dir.path().join("guard.toml");

        // Start-up refuses it...
        std::fs::write(&path, &text).unwrap();
        let err = build(&path)
            .await
            .err()
            .unwrap_or_else(|| panic!("{what}: start-up accepted it"));
        assert!(err.contains(needle), "{what}: start-up error {err}");

        // ...and so does a reload into it from a running guard, keeping what was live.
        std::fs::write(&path, &valid).unwrap();
        let guard = build(&path)
            .await
            .unwrap_or_else(|e| panic!("{what}: valid base: {e}"));
        let before = guard.reloader().current().version.clone();
        std::fs::write(&path, &text).unwrap();
        let outcome = guard.reloader().reload(ReloadTrigger::Api).await;
        let ReloadOutcome::Failed { version, error } = outcome else {
            panic!("{what}: reload published it: {outcome:?}")
        };
        assert_eq!(version, before, "{what}");
        assert!(error.contains(needle), "{what}: reload error {error}");
        assert_eq!(guard.reloader().current().version, before, "{what}");
        let status = guard.reloader().status();
        assert_eq!(status.last_result, "failed", "{what}");
        assert!(status.last_error.unwrap().contains(needle), "{what}");
    }
}

/// Serves a guard built from `path` with its admin listener; both stop when the senders drop.
async fn serve_from_file(path: &Path) -> (Guard, SocketAddr, SocketAddr, [oneshot::Sender<()>; 2]) {
    let guard = build(path).await.unwrap();
    let serving = serve_with_admin(&guard).await;
    (
        guard,
        serving.addr,
        serving.admin_addr,
        [serving.stop, serving.admin_stop],
    )
}

#[tokio::test]
async fn removing_every_auth_method_over_the_admin_api_is_refused() {
    let double = BedrockDouble::start(REGION).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.json"), ALLOW_ALL).unwrap();
    let path = dir.path().join("guard.toml");
    let with_auth = gateway_toml("", &api_key_auth()).replace("http://127.0.0.1:9", &double.url());
    std::fs::write(&path, &with_auth).unwrap();
    let (guard, addr, admin, _stop) = serve_from_file(&path).await;
    let before = guard.reloader().current().version.clone();
    let http = reqwest::Client::new();

    // Even on loopback, "some methods" -> "none" needs the explicit opt-in.
    std::fs::write(&path, with_auth.replace(&api_key_auth(), "")).unwrap();
    let response = http
        .post(format!("http://{admin}/admin/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["result"], "failed");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("allow_unauthenticated_network"),
        "{body}"
    );
    let status = http
        .get(format!("http://{admin}/admin/status"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["last_result"], "failed");
    assert!(
        status["last_error"].as_str().unwrap().contains("[auth]"),
        "{status}"
    );
    assert_eq!(status["version"], before.as_str());
    let metrics = http
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bedrock_guard_config_reloads_total{result=\"failed\"")),
        "{metrics}"
    );

    // The old snapshot still answers: no credentials, no call.
    let refused = send_raw(addr, &converse_request("host: localhost\r\n")).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        refused.header("x-amzn-errortype"),
        Some("MissingAuthenticationTokenException")
    );
    assert!(double.requests().is_empty());

    // Said explicitly, it is published.
    std::fs::write(
        &path,
        with_auth.replace(
            &api_key_auth(),
            "[auth]\nallow_unauthenticated_network = true\n",
        ),
    )
    .unwrap();
    let response = http
        .post(format!("http://{admin}/admin/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Requirement 4: the trusted identity header appears exactly once.

#[tokio::test]
async fn an_identity_header_sent_twice_is_refused() {
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double, |config| {
        config.principals.push(support::principal("admin"));
        config.auth.trusted_header = Some(TrustedHeaderConfig {
            header: "x-principal".into(),
            trusted_cidrs: vec!["127.0.0.0/8".into()],
        });
    })
    .await;

    // A mesh that appends: the client's own value, then the mesh's.
    for headers in [
        "x-principal: admin\r\nx-principal: app\r\n",
        "x-principal: admin, app\r\n",
    ] {
        let response = send_raw(
            guard.addr,
            &converse_request(&format!("host: localhost\r\n{headers}")),
        )
        .await;
        assert_eq!(response.status, 403, "{headers}: {}", response.body);
        assert_eq!(
            response.header("x-amzn-errortype"),
            Some("AccessDeniedException")
        );
        assert!(response.body.contains("exactly once"), "{}", response.body);
    }
    assert!(double.requests().is_empty());

    let once = send_raw(
        guard.addr,
        &converse_request("host: localhost\r\nx-principal: app\r\n"),
    )
    .await;
    assert_eq!(once.status, 200, "{}", once.body);
}

// ---------------------------------------------------------------------------------------------
// Requirement 7: client error bodies carry no upstream URL, error chain or credential detail.

#[tokio::test]
async fn an_unreachable_upstream_is_reported_without_internals() {
    let logs = capture();
    let double = BedrockDouble::start(REGION).await;
    // A port nobody listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.endpoint = Some(endpoint.clone());
    let guard = start_guard(&double, options).await;

    let response = send_raw(guard.addr, &converse_request("host: localhost\r\n")).await;
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(
        response.header("x-amzn-errortype"),
        Some("ServiceUnavailableException")
    );
    let port = endpoint.rsplit(':').next().unwrap();
    for internal in [
        "127.0.0.1",
        port,
        "http://",
        "error",
        "tcp",
        "refused",
        "{region}",
    ] {
        assert!(
            !response.body.contains(internal),
            "{internal:?} in {}",
            response.body
        );
    }
    // The operator's log has it all, under the request id the client got.
    let request_id = response.header("x-amzn-requestid").unwrap().to_owned();
    let line = logs
        .lines()
        .into_iter()
        .find(|l| {
            l["fields"]["request_id"] == request_id.as_str() && l["fields"]["message"] == "failed"
        })
        .expect("a failure line with the request id");
    let error = line["fields"]["error"].as_str().unwrap();
    assert!(error.contains(&endpoint), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Requirement 5: browsers cannot drive the unauthenticated proxy.

#[tokio::test]
async fn browsers_cannot_drive_the_unauthenticated_proxy() {
    let double = BedrockDouble::start(REGION).await;
    let guard = local_proxy(&double, |config| {
        config.auth.local_host_names = vec!["dev-box.internal".into()];
    })
    .await;
    let port = guard.addr.port();

    let refused = [
        // DNS rebinding: the page's own name now resolves to 127.0.0.1.
        format!("host: rebind.attacker.example:{port}\r\n"),
        // A cross-site form post (text/plain needs no preflight).
        format!("host: 127.0.0.1:{port}\r\norigin: https://attacker.example\r\n"),
        format!("host: 127.0.0.1:{port}\r\norigin: null\r\n"),
        format!("host: localhost:{port}\r\nsec-fetch-site: cross-site\r\n"),
    ];
    for headers in &refused {
        let response = send_raw(guard.addr, &converse_request(headers)).await;
        assert_eq!(response.status, 403, "{headers}: {}", response.body);
        assert_eq!(
            response.header("x-amzn-errortype"),
            Some("AccessDeniedException"),
            "{headers}"
        );
    }
    assert!(
        double.requests().is_empty(),
        "nothing was signed or forwarded"
    );

    let accepted = [
        format!("host: 127.0.0.1:{port}\r\n"),
        format!("host: localhost:{port}\r\norigin: http://localhost:3000\r\nsec-fetch-site: same-site\r\n"),
        format!("host: [::1]:{port}\r\n"),
        format!("host: dev-box.internal:{port}\r\n"),
    ];
    for headers in &accepted {
        let response = send_raw(guard.addr, &converse_request(headers)).await;
        assert_eq!(response.status, 200, "{headers}: {}", response.body);
    }
}

// ---------------------------------------------------------------------------------------------
// Requirement 1: no unauthenticated resource exhaustion.

/// `Content-Length: 100` and one byte, as a slowloris client sends.
fn slow_head(extra_headers: &str) -> String {
    format!(
        "POST {CONVERSE} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n{extra_headers}\r\n{{"
    )
}

#[tokio::test]
async fn unauthenticated_slow_bodies_take_no_slot() {
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double, |config| config.limits.max_concurrent_requests = 2).await;

    // Far more slow unauthenticated bodies than slots: each is refused from its head at once.
    let mut held = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(guard.addr).await.unwrap();
        stream.write_all(slow_head("").as_bytes()).await.unwrap();
        let response = read_response(&mut stream).await;
        assert_eq!(response.status, 403, "{}", response.body);
        held.push(stream);
    }
    // A bad SigV4 key id is refused from the head too.
    let mut stream = TcpStream::connect(guard.addr).await.unwrap();
    let sigv4 = "authorization: AWS4-HMAC-SHA256 Credential=NOSUCHKEY/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\nx-amz-date: 20250101T000000Z\r\n";
    stream.write_all(slow_head(sigv4).as_bytes()).await.unwrap();
    let response = read_response(&mut stream).await;
    assert_eq!(
        response.header("x-amzn-errortype"),
        Some("UnrecognizedClientException")
    );
    held.push(stream);

    // The authenticated caller is served while they all stay connected.
    let ok = send_raw(
        guard.addr,
        &converse_request(&format!(
            "host: localhost\r\nauthorization: Bearer {API_KEY}\r\n"
        )),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(double.requests().len(), 1);
}

#[tokio::test]
async fn slow_bodies_time_out_and_give_their_slots_back() {
    let double = BedrockDouble::start(REGION).await;
    let guard = local_proxy(&double, |config| {
        config.limits.max_concurrent_requests = 2;
        config.limits.body_read_timeout_secs = 1;
    })
    .await;

    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(guard.addr).await.unwrap();
        stream.write_all(slow_head("").as_bytes()).await.unwrap();
        slow.push(stream);
    }
    for stream in &mut slow {
        let response = read_response(stream).await;
        assert_eq!(response.status, 408, "{}", response.body);
        assert_eq!(
            response.header("x-amzn-errortype"),
            Some("RequestTimeoutException")
        );
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    let ok = send_raw(guard.addr, &converse_request("host: localhost\r\n")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        double.requests().len(),
        1,
        "the slow bodies were never forwarded"
    );
}

#[tokio::test]
async fn a_trickling_body_is_cut_off_by_the_minimum_rate() {
    let double = BedrockDouble::start(REGION).await;
    // The deadline (60 s) is far beyond the test's wait: only the rate check can answer in time.
    let guard = local_proxy(&double, |config| {
        config.limits.body_read_timeout_secs = 60;
        config.limits.body_min_bytes_per_sec = 1_024;
    })
    .await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(guard.addr).await.unwrap();
    stream.write_all(slow_head("").as_bytes()).await.unwrap();
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 408, "{}", response.body);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(double.requests().is_empty());
}

#[tokio::test]
async fn bodies_held_at_once_are_bounded_in_bytes() {
    let double = BedrockDouble::start(REGION).await;
    // Bodies in flight upstream stay held (their bytes are being sent).
    double.set_mode(Mode::Hang);
    let guard = local_proxy(&double, |config| {
        config.limits.max_body_bytes = 600;
        config.limits.max_body_bytes_per_connection = 600;
        config.limits.max_body_bytes_total = 1_000;
    })
    .await;
    let body = format!(r#"{{"messages":[],"pad":"{}"}}"#, "x".repeat(560));
    let request = format!(
        "POST {CONVERSE} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut first = TcpStream::connect(guard.addr).await.unwrap();
    first.write_all(request.as_bytes()).await.unwrap();
    double.wait_for_requests(1).await;

    // A second body of that size would pass the total: refused before it is read, retryable.
    let second = send_raw(guard.addr, &request).await;
    assert_eq!(second.status, 503, "{}", second.body);
    assert_eq!(
        second.header("x-amzn-errortype"),
        Some("ServiceUnavailableException")
    );
    assert!(
        second.body.contains("bytes of request bodies"),
        "{}",
        second.body
    );
    assert_eq!(double.requests().len(), 1);

    // Small bodies still fit beside it.
    double.set_mode(Mode::Normal);
    let small = send_raw(guard.addr, &converse_request("host: localhost\r\n")).await;
    assert_eq!(small.status, 200, "{}", small.body);
    drop(first);
}

type H2Body = BoxBody<Bytes, std::io::Error>;

async fn h2c(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<H2Body> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    sender
}

/// A body that never sends a byte and never ends.
fn stalled() -> H2Body {
    BodyExt::boxed(StreamBody::new(futures_util::stream::pending::<
        Result<hyper::body::Frame<Bytes>, std::io::Error>,
    >()))
}

fn full(body: impl Into<Bytes>) -> H2Body {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Opens `count` streams without an API key whose bodies never come; each must be answered with
/// `status` (without waiting for its body).
async fn assert_stalled_streams_answered(
    sender: &mut hyper::client::conn::http2::SendRequest<H2Body>,
    addr: SocketAddr,
    count: usize,
    status: u16,
) {
    let mut pending = Vec::new();
    for _ in 0..count {
        sender.ready().await.unwrap();
        pending.push(sender.send_request(h2_request(addr, None, stalled())));
    }
    for response in pending {
        let response = tokio::time::timeout(WAIT, response)
            .await
            .expect("answered")
            .unwrap();
        assert_eq!(response.status(), status);
    }
}

fn h2_request(addr: SocketAddr, api_key: Option<&str>, body: H2Body) -> http::Request<H2Body> {
    let mut builder = http::Request::post(format!("http://{addr}{CONVERSE}"))
        .header("content-type", "application/json");
    if let Some(key) = api_key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    builder.body(body).unwrap()
}

#[tokio::test]
async fn http2_streams_without_credentials_are_refused_from_their_headers() {
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double, |config| config.limits.max_concurrent_requests = 2).await;
    let mut sender = h2c(guard.addr).await;

    // Many HEADERS frames, bodies that never come: every stream is answered at once.
    assert_stalled_streams_answered(&mut sender, guard.addr, 60, 403).await;
    sender.ready().await.unwrap();
    let ok = sender
        .send_request(h2_request(
            guard.addr,
            Some(API_KEY),
            full(r#"{"messages":[]}"#),
        ))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(double.requests().len(), 1);
}

#[tokio::test]
async fn http2_streams_of_one_connection_share_its_body_budget() {
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::Hang);
    let guard = local_proxy(&double, |config| {
        config.limits.max_body_bytes = 600;
        config.limits.max_body_bytes_per_connection = 600;
    })
    .await;
    let big = Bytes::from(format!(r#"{{"messages":[],"pad":"{}"}}"#, "x".repeat(420)));
    let with_length = |addr| {
        let mut request = h2_request(addr, None, full(big.clone()));
        request
            .headers_mut()
            .insert("content-length", big.len().into());
        request
    };
    let mut sender = h2c(guard.addr).await;
    sender.ready().await.unwrap();
    let first = sender.send_request(with_length(guard.addr));
    let first = tokio::spawn(first);
    double.wait_for_requests(1).await;

    // The first stream's body is still held (its call is in flight): a second one does not fit.
    sender.ready().await.unwrap();
    let second = sender.send_request(with_length(guard.addr)).await.unwrap();
    assert_eq!(second.status(), 503);
    let text = second.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&text).contains("this connection"),
        "{text:?}"
    );

    // Another connection has its own budget.
    double.set_mode(Mode::Normal);
    let mut other = h2c(guard.addr).await;
    other.ready().await.unwrap();
    let ok = other.send_request(with_length(guard.addr)).await.unwrap();
    assert_eq!(ok.status(), 200);
    first.abort();
}

#[tokio::test]
async fn http2_streams_that_send_no_body_time_out() {
    let double = BedrockDouble::start(REGION).await;
    let guard = local_proxy(&double, |config| {
        config.limits.max_concurrent_requests = 4;
        config.limits.body_read_timeout_secs = 1;
        config.limits.max_concurrent_streams = 4;
    })
    .await;
    let mut sender = h2c(guard.addr).await;
    assert_stalled_streams_answered(&mut sender, guard.addr, 4, 408).await;
    // Their slots are back.
    sender.ready().await.unwrap();
    let ok = sender
        .send_request(h2_request(guard.addr, None, full(r#"{"messages":[]}"#)))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn idle_admin_connections_are_closed() {
    let double = BedrockDouble::start(REGION).await;
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.idle_timeout_secs = 1;
    options.header_read_timeout_secs = 1;
    let guard = start_guard(&double, options).await;

    let started = Instant::now();
    let mut idle = TcpStream::connect(guard.admin_addr).await.unwrap();
    let mut half = TcpStream::connect(guard.admin_addr).await.unwrap();
    half.write_all(b"GET /heal").await.unwrap();
    for stream in [&mut idle, &mut half] {
        let mut buf = [0u8; 1024];
        let read = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("the admin listener closes the connection instead of holding it");
        if let Ok(n) = read {
            let text = String::from_utf8_lossy(&buf[..n]);
            assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
}
