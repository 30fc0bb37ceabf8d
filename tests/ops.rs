//! Operating the guard: the audit event and its token counts for each operation, the admin listener
//! (health, readiness, metrics that move), graceful shutdown with a stream still open, the concurrency
//! cap, and slow-header clients. Everything binds port 0 on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use support::client::{sdk_client, user_message};

use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{ConverseStreamOutput, ResponseStream};
use serde_json::Value;
use support::guard::{start_guard, GuardOptions, FULL_ACCESS};
use support::thread_logs::{capture, ThreadLogs as CapturedLogs};
use support::{BedrockDouble, Mode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REGION: &str = "us-east-1";
const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const WAIT: Duration = Duration::from_secs(20);

/// The fields of every audit event logged so far.
fn audit_events(logs: &CapturedLogs) -> Vec<Value> {
    logs.lines()
        .into_iter()
        .filter(|l| l["target"] == "bedrock_guard::audit")
        .map(|l| l["fields"].clone())
        .collect()
}

/// Waits for the audit event of the call whose upstream request id is `upstream_id` (or, for calls
/// that never reached upstream, the only one with `operation`).
async fn audit_for(logs: &CapturedLogs, key: &str, value: impl Into<Value>) -> Value {
    let value: Value = value.into();
    let deadline = Instant::now() + WAIT;
    loop {
        let events = audit_events(logs);
        let matching: Vec<&Value> = events.iter().filter(|e| e[key] == value).collect();
        assert!(
            matching.len() <= 1,
            "one audit event per request: {matching:?}"
        );
        if let Some(found) = matching.first() {
            return (*found).clone();
        }
        assert!(
            Instant::now() < deadline,
            "no audit event with {key}={value}; audit events: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_common(event: &Value, operation: &str, status: u64) {
    assert_eq!(event["operation"], operation, "{event}");
    assert_eq!(event["status"], status, "{event}");
    assert_eq!(
        event["principal"], "arn:aws:iam::000000000000:user/bedrock-guard-local",
        "{event}"
    );
    assert!(
        event["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{event}"
    );
    assert!(
        event["config_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("1-")),
        "{event}"
    );
    assert!(event["latency_ms"].as_f64().is_some(), "{event}");
}

fn assert_tokens(event: &Value, input: u64, output: u64) {
    assert_eq!(
        (
            event["input_tokens"].as_u64(),
            event["output_tokens"].as_u64()
        ),
        (Some(input), Some(output)),
        "{event}"
    );
}

/// Nothing a caller sent or received as text, and no credential, may appear in a log line.
fn assert_no_secrets_or_text(logs: &CapturedLogs) {
    let all = logs
        .lines()
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "secret prompt",
        "hello from the double",
        "hello ",
        "part 1",
        "client/secret/KEY",
        "client-session-token",
        support::PROXY_SECRET_KEY,
        support::PROXY_SESSION_TOKEN,
    ] {
        assert!(!all.contains(needle), "{needle:?} leaked into the logs");
    }
}

#[tokio::test]
async fn every_operation_is_audited_once_with_its_tokens() {
    let logs = capture();
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let client = sdk_client(&guard.url());

    // InvokeModel: tokens from the response headers.
    client
        .invoke_model()
        .model_id(CLAUDE)
        .body(Blob::new(br#"{"prompt":"secret prompt"}"#.to_vec()))
        .send()
        .await
        .unwrap();
    let event = audit_for(&logs, "upstream_request_id", "double-1").await;
    assert_common(&event, "InvokeModel", 200);
    assert_tokens(&event, 11, 7);
    assert_eq!(event["model"], CLAUDE);
    assert_eq!(
        event["model_sent"],
        "anthropic.claude-sonnet-4-5-20250929-v1%3A0"
    );
    assert_eq!(
        event["resources"],
        format!("arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE}")
    );
    assert_eq!(event["decision"], "allow");
    assert_eq!(event["rule"], "policy-0#All");
    assert_eq!(event["upstream_status"], 200);
    assert_eq!(event["outcome"], "complete");
    // An allowed call logs one line at info: the audit event (the decision line is at debug).
    assert!(
        logs.lines()
            .iter()
            .all(|l| l["target"] != "bedrock_guard::decision"),
        "no decision line at info for an allowed call"
    );
    assert!(event["upstream_latency_ms"].as_f64().is_some(), "{event}");
    assert!(event["ttfb_ms"].as_f64().is_some(), "{event}");

    // Converse: tokens from the JSON body's usage.
    client
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("secret prompt"))
        .send()
        .await
        .unwrap();
    let event = audit_for(&logs, "upstream_request_id", "double-2").await;
    assert_common(&event, "Converse", 200);
    assert_tokens(&event, 12, 5);
    assert_eq!(event["outcome"], "complete");

    // ConverseStream: tokens from the metadata frame.
    let mut out = client
        .converse_stream()
        .model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .messages(user_message("secret prompt"))
        .send()
        .await
        .unwrap();
    while out.stream.recv().await.unwrap().is_some() {}
    let event = audit_for(&logs, "upstream_request_id", "double-3").await;
    assert_common(&event, "ConverseStream", 200);
    assert_tokens(&event, 9, 2);
    assert_eq!(
        event["model"],
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    );
    // An inference profile is authorized against the profile and each destination region's model.
    let resources = event["resources"].as_str().unwrap();
    assert!(
        resources.starts_with(
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0,"
        ),
        "{resources}"
    );
    assert!(
        resources.contains(&format!(
            "arn:aws:bedrock:us-west-2::foundation-model/{CLAUDE}"
        )),
        "{resources}"
    );

    // InvokeModelWithResponseStream: tokens from the invocation metrics in the last chunk.
    let mut out = client
        .invoke_model_with_response_stream()
        .model_id(CLAUDE)
        .body(Blob::new(br#"{"prompt":"secret prompt"}"#.to_vec()))
        .send()
        .await
        .unwrap();
    let mut chunks = 0;
    while let Some(event) = out.body.recv().await.unwrap() {
        if let ResponseStream::Chunk(_) = event {
            chunks += 1;
        }
    }
    assert_eq!(chunks, 3);
    let event = audit_for(&logs, "upstream_request_id", "double-4").await;
    assert_common(&event, "InvokeModelWithResponseStream", 200);
    assert_tokens(&event, 8, 3);

    let event_count = audit_events(&logs).len();
    assert_eq!(event_count, 4, "one event per request");
    assert_no_secrets_or_text(&logs);
}

#[tokio::test]
async fn refusals_are_audited_with_the_deciding_rule() {
    let logs = capture();
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(
        &double,
        GuardOptions::policy(include_str!("../config/policies/org-allowlist.json")),
    )
    .await;
    let err = sdk_client(&guard.url())
        .converse()
        .model_id("deepseek.r1-v1:0")
        .messages(user_message("secret prompt"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
    let event = audit_for(&logs, "model", "deepseek.r1-v1:0").await;
    assert_common(&event, "Converse", 403);
    assert_eq!(event["decision"], "deny");
    assert_eq!(event["rule"], "policy-0#DenyDeepSeekEverywhere");
    assert_eq!(event["outcome"], "refused");
    // A denial also logs the decision line with its reasoning, at info.
    let decision = logs
        .lines()
        .into_iter()
        .find(|l| l["target"] == "bedrock_guard::decision")
        .expect("a decision line for the denial");
    assert_eq!(decision["level"], "INFO");
    assert_eq!(
        decision["fields"]["rule"],
        "policy-0#DenyDeepSeekEverywhere"
    );
    assert_eq!(decision["fields"]["outcome"], "explicit deny", "{decision}");
    assert!(event["upstream_status"].is_null(), "{event}");
    assert!(event["input_tokens"].is_null(), "{event}");
    assert!(
        event["error"]
            .as_str()
            .unwrap()
            .contains("is not authorized to perform: bedrock:InvokeModel"),
        "{event}"
    );
    assert!(double.requests().is_empty());
    assert_no_secrets_or_text(&logs);
}

/// The value of the sample whose line starts with `name{` and contains every label in `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(http: &reqwest::Client, admin: &str) -> String {
    let response = http.get(format!("{admin}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text().await.unwrap()
}

#[tokio::test]
async fn admin_listener_reports_health_readiness_and_moving_metrics() {
    let double = BedrockDouble::start(REGION).await;
    let options = GuardOptions::policy(FULL_ACCESS);
    let guard = start_guard(&double, options).await;
    let admin = guard.admin_url();
    let http = reqwest::Client::new();

    let health = http.get(format!("{admin}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = http.get(format!("{admin}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = serde_json::from_str(&ready.text().await.unwrap()).unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    // The proxy port does not serve admin routes.
    let on_proxy = http
        .get(format!("{}/metrics", guard.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(on_proxy.status(), 404);

    // A model no other test in this binary uses, so its token counters move only here.
    let model = "cohere.command-r-v1:0";
    let labels_in = [r#"model="cohere.command-r-v1:0""#, r#"direction="input""#];
    let labels_out = [r#"model="cohere.command-r-v1:0""#, r#"direction="output""#];
    let requests = [
        r#"operation="Converse""#,
        r#"decision="allow""#,
        r#"status="200""#,
    ];
    let before = scrape(&http, &admin).await;
    let requests_before = sample(&before, "bedrock_guard_requests_total", &requests).unwrap_or(0.0);

    let client = sdk_client(&guard.url());
    client
        .converse()
        .model_id(model)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap();
    // The counters are recorded when the body completes, just after the client has it.
    let deadline = Instant::now() + WAIT;
    let after = loop {
        let text = scrape(&http, &admin).await;
        if sample(&text, "bedrock_guard_tokens_total", &labels_in) == Some(12.0) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "token counters never moved:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        sample(&after, "bedrock_guard_tokens_total", &labels_out),
        Some(5.0)
    );
    assert!(
        sample(&after, "bedrock_guard_requests_total", &requests).unwrap() >= requests_before + 1.0,
        "{after}"
    );
    for histogram in [
        "bedrock_guard_policy_evaluation_seconds_count",
        "bedrock_guard_upstream_latency_seconds_count",
        "bedrock_guard_upstream_ttfb_seconds_count",
        "bedrock_guard_request_duration_seconds_count",
    ] {
        assert!(
            sample(&after, histogram, &[]).is_some_and(|n| n >= 1.0),
            "{histogram} missing:\n{after}"
        );
    }
    assert!(
        after.contains("bedrock_guard_upstream_ttfb_seconds_bucket{"),
        "histograms have buckets"
    );
    let version = reqwest::Client::new()
        .post(format!("{}/model/{model}/converse", guard.url()))
        .body(r#"{"messages":[]}"#)
        .send()
        .await
        .unwrap()
        .headers()["x-bedrock-guard-config-version"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = scrape(&http, &admin).await;
    // The recorder is per process and other tests in this binary start guards of their own, each
    // publishing its version: this guard's version is a series, and exactly one version is live.
    assert!(
        sample(
            &text,
            "bedrock_guard_config_version_info",
            &[&format!(r#"version="{version}""#)]
        )
        .is_some(),
        "{text}"
    );
    let live = text
        .lines()
        .filter(|l| l.starts_with("bedrock_guard_config_version_info{") && l.ends_with(" 1"))
        .count();
    assert_eq!(live, 1, "{text}");

    // Open streams move while a stream is in flight.
    double.set_mode(Mode::GatedStream);
    let mut stream = client
        .converse_stream()
        .model_id(model)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap();
    stream.stream.recv().await.unwrap().unwrap();
    let text = scrape(&http, &admin).await;
    assert!(
        sample(&text, "bedrock_guard_open_streams", &[]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    double.release_stream();
    while stream.stream.recv().await.unwrap().is_some() {}

    // The reload API is on the admin listener, and reloads are counted.
    let reload = http
        .post(format!("{admin}/admin/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    let text = scrape(&http, &admin).await;
    assert!(
        sample(&text, "bedrock_guard_config_reloads_total", &[]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
}

#[tokio::test]
async fn readiness_fails_without_upstream_credentials() {
    let double = BedrockDouble::start(REGION).await;
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.no_credentials = true;
    let guard = start_guard(&double, options).await;
    let ready = reqwest::get(format!("{}/readyz", guard.admin_url()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = serde_json::from_str(&ready.text().await.unwrap()).unwrap();
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .contains("credentials"),
        "{body}"
    );
    let health = reqwest::get(format!("{}/healthz", guard.admin_url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "alive even when not ready");
}

#[tokio::test]
async fn shutdown_lets_an_open_stream_finish_then_stops() {
    let logs = capture();
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::GatedStream);
    let options = GuardOptions::policy(FULL_ACCESS);
    let mut guard = start_guard(&double, options).await;
    let client = sdk_client(&guard.url());

    let mut out = client
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap();
    let first = out.stream.recv().await.unwrap().unwrap();
    assert!(matches!(first, ConverseStreamOutput::MessageStart(_)));

    guard.begin_shutdown();
    // New connections are refused once accepting has stopped, and readiness turns false.
    let addr = guard.addr;
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = reqwest::get(format!("{}/readyz", guard.admin_url()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    // The stream is still open, so serving has not ended.
    assert!(guard
        .stopped_within(Duration::from_millis(200))
        .await
        .is_none());

    double.release_stream();
    let mut kinds = Vec::new();
    while let Some(event) = out.stream.recv().await.unwrap() {
        kinds.push(match event {
            ConverseStreamOutput::Metadata(meta) => {
                format!("metadata:{}", meta.usage().unwrap().output_tokens())
            }
            _ => "event".to_owned(),
        });
    }
    assert_eq!(kinds.last().map(String::as_str), Some("metadata:2"));
    let served = guard.stopped_within(WAIT).await;
    assert!(
        matches!(served, Some(Ok(()))),
        "serving ends cleanly once the stream is done: {served:?}"
    );
    let event = audit_for(&logs, "operation", "ConverseStream").await;
    assert_eq!(event["outcome"], "complete");
    assert_tokens(&event, 9, 2);
}

#[tokio::test]
async fn shutdown_cuts_streams_left_open_after_the_grace_period() {
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::GatedStream);
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.shutdown_grace_secs = 1;
    let mut guard = start_guard(&double, options).await;
    let mut out = sdk_client(&guard.url())
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap();
    out.stream.recv().await.unwrap().unwrap();

    guard.begin_shutdown();
    let served = guard.stopped_within(WAIT).await;
    assert!(
        matches!(served, Some(Ok(()))),
        "serving ends after the grace period: {served:?}"
    );
    // The client's stream ends early, without the metadata frame.
    let mut saw_metadata = false;
    while let Ok(Some(event)) = out.stream.recv().await {
        saw_metadata |= matches!(event, ConverseStreamOutput::Metadata(_));
    }
    assert!(!saw_metadata);
    tokio::time::timeout(WAIT, double.wait_for_disconnect())
        .await
        .expect("the upstream stream is dropped too");
}

#[tokio::test]
async fn requests_beyond_the_concurrency_cap_get_503() {
    let logs = capture();
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::GatedStream);
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.max_concurrent_requests = 1;
    let guard = start_guard(&double, options).await;
    let client = sdk_client(&guard.url());

    // A stream holds its slot until its last byte.
    let mut stream = client
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap();
    stream.stream.recv().await.unwrap().unwrap();

    let err = client
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
    let err = err.into_service_error();
    assert!(err.is_service_unavailable_exception(), "{err:?}");
    assert!(
        err.message().unwrap().contains("limit of 1 concurrent"),
        "{err:?}"
    );
    assert_eq!(double.requests().len(), 1, "refused before upstream");
    let event = audit_for(&logs, "status", 503).await;
    assert_eq!(event["outcome"], "refused");

    double.release_stream();
    while stream.stream.recv().await.unwrap().is_some() {}
    // The slot comes back when the stream's body is done.
    let deadline = Instant::now() + WAIT;
    loop {
        match client
            .converse()
            .model_id(CLAUDE)
            .messages(user_message("hi"))
            .send()
            .await
        {
            Ok(_) => break,
            Err(err) => {
                assert!(Instant::now() < deadline, "slot never came back: {err:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn slow_header_clients_are_cut_off() {
    let double = BedrockDouble::start(REGION).await;
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.header_read_timeout_secs = 1;
    let guard = start_guard(&double, options).await;

    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(guard.addr).await.unwrap();
    slow.write_all(b"POST /model/anthropic.claude-v2/inv")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(WAIT, slow.read(&mut buf))
        .await
        .expect("the guard closes the connection instead of waiting forever");
    // Closed (EOF) or reset; any bytes must be an error answer, never a forwarded call.
    if let Ok(n) = read {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(double.requests().is_empty());

    // A prompt client on a fresh connection is served as usual.
    let response = reqwest::Client::new()
        .post(format!("{}/model/{CLAUDE}/converse", guard.url()))
        .body(r#"{"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let double = BedrockDouble::start(REGION).await;
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.idle_timeout_secs = 1;
    let guard = start_guard(&double, options).await;

    let mut client = tokio::net::TcpStream::connect(guard.addr).await.unwrap();
    let body = r#"{"messages":[]}"#;
    let request = format!(
        "POST /model/anthropic.claude-v2/converse HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    client.write_all(request.as_bytes()).await.unwrap();
    // Keep-alive: the answer arrives, then the connection stays open until it has been idle a while.
    let mut received = Vec::new();
    let mut answered_at = None;
    let mut buf = [0u8; 4096];
    let closed_at = tokio::time::timeout(WAIT, async {
        loop {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(n) => {
                    answered_at.get_or_insert_with(Instant::now);
                    received.extend_from_slice(&buf[..n]);
                }
            }
        }
    })
    .await
    .expect("the idle connection is closed by the guard");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        !text.contains("connection: close"),
        "kept alive first: {text}"
    );
    let idle_for = closed_at - answered_at.unwrap();
    assert!(
        idle_for >= Duration::from_millis(900),
        "closed after {idle_for:?}"
    );
    assert_eq!(double.requests().len(), 1);
}

#[tokio::test]
async fn a_client_leaving_before_the_answer_is_still_audited() {
    let logs = capture();
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::Hang);
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let url = format!("{}/model/{CLAUDE}/converse", guard.url());
    let call = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .body(r#"{"messages":[]}"#)
            .send()
            .await
    });
    double.wait_for_requests(1).await;
    call.abort();
    double.wait_for_disconnect().await;
    let event = audit_for(&logs, "outcome", "client_gone").await;
    assert_common(&event, "Converse", 499);
    assert_eq!(event["decision"], "allow");
    assert!(event["upstream_status"].is_null(), "{event}");
}

#[tokio::test]
async fn an_http2_stream_finishes_during_shutdown() {
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::GatedStream);
    let mut guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut response = client
        .post(format!("{}/model/{CLAUDE}/converse-stream", guard.url()))
        .header("content-type", "application/json")
        .body(r#"{"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("the first frame");
    assert_eq!(
        support::decode_frames(&first)[0].kind(),
        Some("messageStart")
    );

    guard.begin_shutdown();
    // Draining has begun once new connections are refused.
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(guard.addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    double.release_stream();
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    let frames = support::decode_frames(&rest);
    assert_eq!(frames.last().and_then(|f| f.kind()), Some("metadata"));
    let served = guard.stopped_within(WAIT).await;
    assert!(matches!(served, Some(Ok(()))), "{served:?}");
}
