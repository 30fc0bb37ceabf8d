//! The OpenAI-compatible APIs through the guard: the official OpenAI Python SDK (chat completions plain
//! and streaming, the Responses API, denials it raises as `PermissionDeniedError`), and raw HTTP for
//! what the SDK cannot show (a stream passed through before it ends, the streaming-only deny).
//!
//! The SDK runs from the virtualenv `.ci/run` creates (`BEDROCK_GUARD_OPENAI_PYTHON`), or from a
//! `python3` that has `openai`. Without either the SDK test is skipped locally, and fails when
//! `BEDROCK_GUARD_REQUIRE_CLIENTS=1` (CI sets it), so CI can never pass without running it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bedrock_guard::auth::api_key;
use bedrock_guard::config::{ApiKeyEntry, Config, NamedPrincipalConfig};
use serde_json::{json, Value};
use support::guard::{start_guard, GuardOptions, RunningGuard};
use support::thread_logs::{capture, ThreadLogs};
use support::{BedrockDouble, Mode};

const REGION: &str = "us-east-1";
const ALLOWED: &str = "openai.gpt-oss-120b-1:0";
const DENIED: &str = "deepseek.r1-v1:0";
const KEY: &str = "bgk_test_key_for_openai_app_00000000000000000000000000000000000000";
const PRINCIPAL_ARN: &str = "arn:aws:iam::123456789012:role/openai-app";
const WAIT: Duration = Duration::from_secs(30);

/// Inference on one model (streaming or not), and the stored-response actions.
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"OneModel","Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],
   "Resource":"arn:aws:bedrock:us-east-1::foundation-model/openai.gpt-oss-120b-1:0"},
  {"Sid":"StoredResponses","Effect":"Allow","Action":["bedrock:GetInvoke","bedrock:CancelInvoke","bedrock:DeleteInvoke"],"Resource":"*"}]}"#;

async fn gateway(double: &BedrockDouble, policy: &str) -> RunningGuard {
    let mut options = GuardOptions::policy(policy);
    options.configure = Some(Arc::new(|config: &mut Config| {
        config.principals = vec![NamedPrincipalConfig::new("openai-app", PRINCIPAL_ARN)];
        config.auth.api_keys = vec![ApiKeyEntry {
            principal: "openai-app".into(),
            sha256: api_key::hash_hex(KEY),
        }];
    }));
    start_guard(double, options).await
}

/// The Python interpreter with the `openai` package, if there is one.
fn openai_python() -> Option<PathBuf> {
    let candidate = std::env::var_os("BEDROCK_GUARD_OPENAI_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let imports = Command::new(&candidate)
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|out| out.status.success());
    imports.then_some(candidate)
}

fn audit_events(logs: &ThreadLogs) -> Vec<Value> {
    logs.lines()
        .into_iter()
        .filter(|l| l["target"] == "bedrock_guard::audit")
        .map(|l| l["fields"].clone())
        .collect()
}

fn tokens(event: &Value) -> (Option<u64>, Option<u64>) {
    (
        event["input_tokens"].as_u64(),
        event["output_tokens"].as_u64(),
    )
}

#[tokio::test]
async fn the_openai_python_sdk_works_through_the_guard() {
    let Some(python) = openai_python() else {
        let required = std::env::var("BEDROCK_GUARD_REQUIRE_CLIENTS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "BEDROCK_GUARD_REQUIRE_CLIENTS=1 but no Python with the openai package was found \
             (set BEDROCK_GUARD_OPENAI_PYTHON; .ci/run creates the virtualenv)"
        );
        eprintln!("skipped: no Python with the openai package (pip install openai)");
        return;
    };
    let logs = capture();
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double, POLICY).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/openai_sdk.py");
    let base_url = format!("{}/openai/v1", guard.url());
    // The proxy runs on this thread's runtime while the SDK blocks another thread.
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args([script, &base_url, KEY, ALLOWED, DENIED])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "the SDK script failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(
        out["chat"],
        json!({"content": "hello from the double", "model": ALLOWED, "prompt_tokens": 12, "completion_tokens": 5})
    );
    assert_eq!(
        out["chat_stream"],
        json!({"content": "hello from the double", "prompt_tokens": 12, "completion_tokens": 5})
    );
    for key in ["chat_denied", "chat_stream_denied", "response_denied"] {
        let denied = &out[key];
        assert_eq!(denied["raised"], "PermissionDeniedError", "{key}: {denied}");
        assert_eq!(denied["status"], 403, "{key}");
        assert_eq!(denied["type"], "permission_error", "{key}");
        assert_eq!(denied["code"], "AccessDeniedException", "{key}");
        let message = denied["message"].as_str().unwrap();
        assert!(
            message.contains(&format!(
                "User: {PRINCIPAL_ARN} is not authorized to perform: bedrock:InvokeModel"
            )) || message.contains("bedrock:InvokeModelWithResponseStream"),
            "{key}: {message}"
        );
        assert!(
            message.contains("foundation-model/deepseek.r1-v1:0"),
            "{key}: {message}"
        );
    }
    assert!(out["chat_stream_denied"]["message"]
        .as_str()
        .unwrap()
        .contains("bedrock:InvokeModelWithResponseStream"));
    assert_eq!(out["response"]["text"], "hello from the double");
    assert_eq!(out["response"]["input_tokens"], 9);
    assert_eq!(
        out["response_stream"],
        json!({"events": ["response.created", "response.output_text.delta", "response.completed"], "input_tokens": 9})
    );
    assert_eq!(out["retrieved"], "completed");
    assert_eq!(out["cancelled"], "cancelled");
    assert_eq!(out["deleted"], true);

    // What reached Bedrock: only allowed calls, re-signed by the proxy, the client's key kept back.
    let requests = double.requests();
    let response_id = out["response"]["id"].as_str().unwrap();
    let seen: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("POST", "/openai/v1/chat/completions".to_owned()),
        ("POST", "/openai/v1/chat/completions".to_owned()),
        ("POST", "/openai/v1/responses".to_owned()),
        ("POST", "/openai/v1/responses".to_owned()),
        ("GET", format!("/openai/v1/responses/{response_id}")),
        ("POST", format!("/openai/v1/responses/{response_id}/cancel")),
        ("DELETE", format!("/openai/v1/responses/{response_id}")),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p))
    .collect();
    assert_eq!(seen, want);
    for r in &requests {
        assert_eq!(r.signature, Ok(()), "{} {}", r.method, r.path);
        let all_headers = format!("{:?}", r.headers);
        assert!(!all_headers.contains(KEY), "the API key went upstream");
    }

    // One audit event per call, with the tokens of each answer.
    let events = audit_events(&logs);
    let by_operation =
        |op: &str| -> Vec<&Value> { events.iter().filter(|e| e["operation"] == op).collect() };
    let allowed_with = |op: &str| -> Vec<(Option<u64>, Option<u64>)> {
        by_operation(op)
            .into_iter()
            .filter(|e| e["decision"] == "allow")
            .map(tokens)
            .collect()
    };
    assert_eq!(allowed_with("ChatCompletions"), vec![(Some(12), Some(5))]);
    assert_eq!(
        allowed_with("ChatCompletionsStream"),
        vec![(Some(12), Some(5))]
    );
    assert_eq!(allowed_with("CreateResponse"), vec![(Some(9), Some(4))]);
    assert_eq!(
        allowed_with("CreateResponseStream"),
        vec![(Some(9), Some(4))]
    );
    for op in ["GetResponse", "CancelResponse", "DeleteResponse"] {
        assert_eq!(by_operation(op).len(), 1, "{op}: {events:#?}");
    }
    let denials: Vec<&Value> = events.iter().filter(|e| e["decision"] == "deny").collect();
    assert_eq!(denials.len(), 3, "{denials:#?}");
    for e in denials {
        assert_eq!(e["status"], 403, "{e}");
        assert_eq!(e["model"], DENIED, "{e}");
        assert_eq!(e["principal"], PRINCIPAL_ARN, "{e}");
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
}

/// POSTs `body` as JSON with the caller's bearer key.
async fn post(url: &str, key: &str, body: &Value) -> reqwest::Response {
    http()
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn server_sent_events_pass_through_before_the_stream_ends() {
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double, POLICY).await;
    double.set_mode(Mode::GatedStream);
    let mut response = post(
        &format!("{}/openai/v1/chat/completions", guard.url()),
        KEY,
        &json!({"model": ALLOWED, "stream": true, "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "the upstream's content type is kept"
    );
    // The double holds everything after its first event until released: a proxy that buffered
    // would never hand this chunk over.
    let first = tokio::time::timeout(WAIT, response.chunk())
        .await
        .expect("the first event arrives while the stream is still open")
        .unwrap()
        .unwrap();
    let first = String::from_utf8_lossy(&first).into_owned();
    assert!(
        first.starts_with("data: ") && first.contains("hello "),
        "{first}"
    );
    assert!(!first.contains("[DONE]"), "{first}");
    double.release_stream();
    let mut rest = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        rest.contains("from the double") && rest.ends_with("data: [DONE]\n\n"),
        "{rest}"
    );
}

#[tokio::test]
async fn streaming_needs_the_streaming_action_and_errors_are_openai_shaped() {
    let double = BedrockDouble::start(REGION).await;
    let invoke_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*"}]}"#;
    let guard = gateway(&double, invoke_only).await;
    let url = format!("{}/v1/chat/completions", guard.url());
    let body = |stream: bool| json!({"model": ALLOWED, "stream": stream, "messages": []});

    let plain = post(&url, KEY, &body(false)).await;
    assert_eq!(plain.status(), 200);

    let streamed = post(&url, KEY, &body(true)).await;
    assert_eq!(streamed.status(), 403);
    assert_eq!(
        streamed.headers()["x-amzn-errortype"],
        "AccessDeniedException"
    );
    let error = json_of(streamed).await;
    assert_eq!(error["error"]["type"], "permission_error");
    assert_eq!(error["error"]["code"], "AccessDeniedException");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bedrock:InvokeModelWithResponseStream"),
        "{error}"
    );

    // A caller without a valid key, a body without a model, a route Bedrock does not serve.
    let cases = [
        (
            "bgk_not_a_key",
            url.clone(),
            body(false),
            403,
            "authentication_error",
        ),
        (
            KEY,
            url.clone(),
            json!({"messages": []}),
            400,
            "invalid_request_error",
        ),
        (
            KEY,
            format!("{}/openai/v1/embeddings", guard.url()),
            body(false),
            404,
            "not_found_error",
        ),
    ];
    for (key, url, body, status, kind) in cases {
        let response = post(&url, key, &body).await;
        assert_eq!(response.status().as_u16(), status, "{url} {body}");
        if !kind.is_empty() {
            let error = json_of(response).await;
            assert_eq!(error["error"]["type"], kind, "{url} {body}: {error}");
            assert!(error["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
        }
    }
    // Only the allowed plain call was forwarded.
    assert_eq!(double.requests().len(), 1);
}

#[tokio::test]
async fn a_duplicated_model_key_is_refused() {
    // serde_json's `json!` macro cannot build duplicate keys, so the body is written out.
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double, POLICY).await;
    let response = http()
        .post(format!("{}/openai/v1/chat/completions", guard.url()))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"model":"{ALLOWED}","model":"{DENIED}","messages":[]}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error = json_of(response).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("duplicate field"),
        "{error}"
    );
    assert!(double.requests().is_empty());
}
