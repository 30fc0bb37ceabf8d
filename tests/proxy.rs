//! End to end: the real `aws-sdk-bedrockruntime` client -> bedrock-guard -> a local Bedrock double that
//! checks the SigV4 signature it receives and records what arrived. Everything binds port 0.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use support::client::{sdk_client, user_message, CLIENT_ACCESS_KEY, CLIENT_SECRET, CLIENT_TOKEN};

use std::time::Duration;

use aws_sdk_bedrockruntime::config::Region;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ConverseStreamOutput, CountTokensInput, InvokeModelTokensRequest, ResponseStream,
};
use aws_sdk_bedrockruntime::Client;
use support::guard::{start_guard, GuardOptions, FULL_ACCESS};
use support::{BedrockDouble, Mode};

const REGION: &str = "us-east-1";
const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

/// Nothing the client signed with may reach upstream.
fn assert_nothing_of_the_client(request: &support::RecordedRequest) {
    for (name, value) in &request.headers {
        for secret in [CLIENT_ACCESS_KEY, CLIENT_SECRET, CLIENT_TOKEN, "Bearer"] {
            assert!(
                !value.contains(secret),
                "client secret {secret:?} leaked upstream in header {name}: {value}"
            );
        }
    }
    assert!(request.header("x-api-key").is_none());
}

#[tokio::test]
async fn converse_is_forwarded_signed_with_the_proxys_credentials() {
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let client = sdk_client(&guard.url());

    let out = client
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .expect("converse through the proxy");
    let text = out.output().unwrap().as_message().unwrap().content()[0]
        .as_text()
        .unwrap()
        .clone();
    assert_eq!(text, "hello from the double");
    assert_eq!(out.usage().unwrap().total_tokens(), 17);

    let requests = double.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.signature, Ok(()), "upstream signature must verify");
    assert_eq!(
        request.path,
        "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_nothing_of_the_client(request);
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["messages"][0]["content"][0]["text"], "hi");
}

#[tokio::test]
async fn invoke_model_passes_body_and_bedrock_headers_both_ways() {
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let client = sdk_client(&guard.url());

    let payload = br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[]}"#;
    let out = client
        .invoke_model()
        .model_id(CLAUDE)
        .content_type("application/json")
        .accept("application/json")
        .trace(aws_sdk_bedrockruntime::types::Trace::Enabled)
        .body(Blob::new(payload.to_vec()))
        .send()
        .await
        .expect("invoke through the proxy");
    let json: serde_json::Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    assert_eq!(json["double"], "invoke");
    assert_eq!(json["modelId"], CLAUDE);
    assert_eq!(json["echo"]["max_tokens"], 5);

    let request = &double.requests()[0];
    assert_eq!(request.signature, Ok(()));
    assert_eq!(request.body, payload);
    assert_eq!(request.header("x-amzn-bedrock-trace"), Some("ENABLED"));
    assert_nothing_of_the_client(request);
}

/// A complete answer larger than one read passes through chunk by chunk: every byte must arrive, in
/// order.
#[tokio::test]
async fn a_large_complete_answer_arrives_whole() {
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let client = sdk_client(&guard.url());

    let text: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let payload = serde_json::to_vec(&serde_json::json!({"prompt": text})).unwrap();
    let out = client
        .invoke_model()
        .model_id(CLAUDE)
        .content_type("application/json")
        .body(Blob::new(payload))
        .send()
        .await
        .expect("invoke through the proxy");
    let json: serde_json::Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    assert_eq!(json["echo"]["prompt"].as_str(), Some(text.as_str()));
}

#[tokio::test]
async fn a_denied_call_is_a_403_the_sdk_understands_and_never_reaches_upstream() {
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(
        &double,
        GuardOptions::policy(include_str!("../config/policies/org-allowlist.json")),
    )
    .await;
    let client = sdk_client(&guard.url());

    let err = client
        .converse()
        .model_id("deepseek.r1-v1:0")
        .messages(user_message("hi"))
        .send()
        .await
        .expect_err("deepseek is denied");
    let err = err.into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
    let message = err.message().unwrap();
    assert!(
        message.contains("is not authorized to perform: bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1::foundation-model/deepseek.r1-v1:0 with an explicit deny"),
        "{message}"
    );
    assert!(message.contains("DenyDeepSeekEverywhere"), "{message}");

    // Not on the allowlist at all: an implicit deny in AWS's words.
    let err = client
        .converse_stream()
        .model_id("meta.llama3-70b-instruct-v1:0")
        .messages(user_message("hi"))
        .send()
        .await
        .expect_err("llama is not allowed")
        .into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
    assert!(
        err.message().unwrap().contains(
            "because no identity-based policy allows the bedrock:InvokeModelWithResponseStream action"
        ),
        "{:?}",
        err.message()
    );
    assert!(
        double.requests().is_empty(),
        "denied calls must not be forwarded"
    );
}

#[tokio::test]
async fn hidden_rule_names_stay_out_of_client_messages() {
    let double = BedrockDouble::start(REGION).await;
    let mut options = GuardOptions::policy(include_str!("../config/policies/org-allowlist.json"));
    options.hide_rule_names = true;
    let guard = start_guard(&double, options).await;
    let err = sdk_client(&guard.url())
        .converse()
        .model_id("deepseek.r1-v1:0")
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let message = err.message().unwrap();
    assert!(message.contains("with an explicit deny"), "{message}");
    assert!(!message.contains("DenyDeepSeekEverywhere"), "{message}");
}

#[tokio::test]
async fn model_ids_of_every_form_reach_upstream_exactly_as_authorized() {
    let double = BedrockDouble::start(REGION).await;
    // This test is about the wire form of each id: wrappers (application profile, provisioned
    // model, prompt) are authorized by their ARN alone here (tests/wrappers.rs resolves them).
    let guard = start_guard(
        &double,
        GuardOptions {
            configure: Some(std::sync::Arc::new(
                |config: &mut bedrock_guard::config::Config| {
                    config.control_plane.unresolved_wrappers =
                        bedrock_guard::classify::UnresolvedWrappers::WrapperOnly;
                },
            )),
            ..GuardOptions::policy(FULL_ACCESS)
        },
    )
    .await;
    let client = sdk_client(&guard.url());

    let ids = [
        CLAUDE,
        "amazon.titan-embed-text-v2:0",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "eu.amazon.nova-lite-v1:0",
        "apac.amazon.nova-pro-v1:0",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
        "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456",
        "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdef123456",
        "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456",
        "arn:aws:bedrock:us-east-1:123456789012:prompt/PROMPT12345:1",
    ];
    for (n, id) in ids.iter().enumerate() {
        let out = client
            .invoke_model()
            .model_id(*id)
            .body(Blob::new(b"{}".to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{id}: {e:?}"));
        let json: serde_json::Value = serde_json::from_slice(out.body().as_ref()).unwrap();
        assert_eq!(json["modelId"], *id, "the double decoded another id");
        let request = &double.requests()[n];
        assert_eq!(request.signature, Ok(()), "{id}");
        let expected_segment =
            percent_encoding::utf8_percent_encode(id, support::guard::PATH_SEGMENT).to_string();
        assert_eq!(
            request.path,
            format!("/model/{expected_segment}/invoke"),
            "{id}"
        );
    }
}

#[tokio::test]
async fn converse_stream_frames_reach_the_client_before_upstream_finishes() {
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::GatedStream);
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let client = sdk_client(&guard.url());

    let mut out = client
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .expect("stream starts");
    // The double holds everything after the first frame until released: receiving it proves the proxy
    // does not buffer the stream.
    let first = tokio::time::timeout(Duration::from_secs(10), out.stream.recv())
        .await
        .expect("first frame arrives while upstream is still open")
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, ConverseStreamOutput::MessageStart(_)),
        "{first:?}"
    );
    double.release_stream();

    let mut text = String::new();
    let mut usage = None;
    while let Some(event) = out.stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                text.push_str(delta.delta().unwrap().as_text().unwrap())
            }
            ConverseStreamOutput::Metadata(meta) => usage = meta.usage().cloned(),
            _ => {}
        }
    }
    assert_eq!(text, "hello world");
    assert_eq!(usage.unwrap().output_tokens(), 2);
    assert_eq!(double.requests()[0].signature, Ok(()));
}

#[tokio::test]
async fn invoke_with_response_stream_passes_chunks_through() {
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let mut out = sdk_client(&guard.url())
        .invoke_model_with_response_stream()
        .model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .body(Blob::new(b"{}".to_vec()))
        .send()
        .await
        .expect("stream starts");
    let mut parts = Vec::new();
    while let Some(event) = out.body.recv().await.unwrap() {
        if let ResponseStream::Chunk(chunk) = event {
            let json: serde_json::Value =
                serde_json::from_slice(chunk.bytes().unwrap().as_ref()).unwrap();
            parts.push(json["delta"]["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(parts, ["part 1", "part 2", "part 3"]);
    let request = &double.requests()[0];
    assert_eq!(
        request.path,
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
    );
    assert_eq!(request.signature, Ok(()));
}

#[tokio::test]
async fn a_mid_stream_exception_reaches_the_sdk_as_its_error() {
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::StreamException);
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let mut out = sdk_client(&guard.url())
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .expect("stream starts with 200");
    let mut error = None;
    loop {
        match out.stream.recv().await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(err) => {
                error = Some(err);
                break;
            }
        }
    }
    let err = error.expect("the exception frame surfaces as an error");
    let err = err.into_service_error();
    assert!(err.is_model_stream_error_exception(), "{err:?}");
    assert_eq!(err.message(), Some("upstream model failed mid-stream"));
}

#[tokio::test]
async fn count_tokens_is_authorized_as_its_own_action() {
    let double = BedrockDouble::start(REGION).await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:CountTokens","Resource":"arn:aws:bedrock:*::foundation-model/anthropic.*"}]}"#;
    let guard = start_guard(&double, GuardOptions::policy(policy)).await;
    let client = sdk_client(&guard.url());
    let input = CountTokensInput::InvokeModel(
        InvokeModelTokensRequest::builder()
            .body(Blob::new(b"{}".to_vec()))
            .build()
            .unwrap(),
    );
    let out = client
        .count_tokens()
        .model_id(CLAUDE)
        .input(input.clone())
        .send()
        .await
        .expect("count tokens allowed");
    assert_eq!(out.input_tokens(), 42);
    // The same policy does not allow InvokeModel.
    let err = client
        .invoke_model()
        .model_id(CLAUDE)
        .body(Blob::new(b"{}".to_vec()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
    assert_eq!(double.requests().len(), 1);
}

#[tokio::test]
async fn upstream_errors_pass_through_with_their_request_id() {
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::Error {
        status: 429,
        error_type: "ThrottlingException".into(),
        message: "Too many requests, please wait".into(),
    });
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let err = sdk_client(&guard.url())
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap_err();
    let raw_request_id = err
        .raw_response()
        .and_then(|r| r.headers().get("x-amzn-requestid"))
        .map(str::to_owned);
    let err = err.into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
    assert_eq!(err.message(), Some("Too many requests, please wait"));
    assert_eq!(raw_request_id.as_deref(), Some("double-1"));
}

#[tokio::test]
async fn upstream_down_is_a_503() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let double = BedrockDouble::start(REGION).await;
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.endpoint = Some(endpoint);
    let guard = start_guard(&double, options).await;
    let err = sdk_client(&guard.url())
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_service_unavailable_exception(), "{err:?}");
    assert!(err.message().unwrap().contains("cannot connect"), "{err:?}");
}

#[tokio::test]
async fn upstream_too_slow_is_a_504() {
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::Hang);
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.response_timeout_secs = 1;
    let guard = start_guard(&double, options).await;
    let err = sdk_client(&guard.url())
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap_err();
    let raw = err
        .raw_response()
        .expect("an HTTP answer, not a client timeout");
    assert_eq!(raw.status().as_u16(), 504);
    assert_eq!(err.code(), Some("GatewayTimeoutException"));
}

#[tokio::test]
async fn upstream_reset_is_a_502() {
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::Reset);
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let err = sdk_client(&guard.url())
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(502));
    assert_eq!(err.code(), Some("BadGatewayException"));
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_call() {
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::Hang);
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let url = format!(
        "{}/model/{}/converse",
        guard.url(),
        "anthropic.claude-sonnet-4-5-20250929-v1%3A0"
    );
    let call = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(r#"{"messages":[]}"#)
            .send()
            .await
    });
    double.wait_for_requests(1).await;
    call.abort();
    tokio::time::timeout(Duration::from_secs(10), double.wait_for_disconnect())
        .await
        .expect("the upstream connection is dropped when the client goes away");
}

#[tokio::test]
async fn bearer_token_clients_work_and_their_key_is_not_forwarded() {
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version_latest()
        .region(Region::new(REGION))
        .endpoint_url(guard.url())
        .bearer_token(aws_sdk_bedrockruntime::config::Token::new(
            "Bearer-key-ABSK-example",
            None,
        ))
        .auth_scheme_preference([
            aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
        ])
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .build();
    let client = Client::from_conf(conf);
    client
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .expect("bearer client through the proxy");
    let request = &double.requests()[0];
    assert_eq!(request.signature, Ok(()));
    assert_nothing_of_the_client(request);
    assert!(request
        .header("authorization")
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256"));
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let double = BedrockDouble::start(REGION).await;
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.max_body_bytes = 1_000;
    let guard = start_guard(&double, options).await;
    let err = sdk_client(&guard.url())
        .invoke_model()
        .model_id(CLAUDE)
        .body(Blob::new(vec![b' '; 2_000]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(413));
    assert!(err.into_service_error().is_validation_exception());
    assert!(double.requests().is_empty());
}

#[tokio::test]
async fn missing_proxy_credentials_give_a_clear_error_per_request() {
    let double = BedrockDouble::start(REGION).await;
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.no_credentials = true;
    let guard = start_guard(&double, options).await;
    let err = sdk_client(&guard.url())
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_service_unavailable_exception(), "{err:?}");
    assert!(err.message().unwrap().contains("credentials"), "{err:?}");
    assert!(double.requests().is_empty());
}

#[tokio::test]
async fn without_a_configured_account_the_profile_arn_uses_sts_get_caller_identity() {
    let double = BedrockDouble::start(REGION).await;
    let sts = support::sts::StsDouble::start().await;
    let sts_url = sts.url.clone();
    let account = support::sts::CALLER_ACCOUNT;
    // Only that account's inference profiles are allowed (and the models they route to).
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":["arn:aws:bedrock:us-east-1:{account}:inference-profile/*","arn:aws:bedrock:*::foundation-model/*"]}}]}}"#
    );
    let mut options = GuardOptions::policy(&policy);
    options.configure = Some(std::sync::Arc::new(move |config| {
        config.account_id = None;
        config.upstream.sts_endpoint = Some(sts_url.clone());
    }));
    let guard = start_guard(&double, options).await;
    let client = sdk_client(&guard.url());
    for _ in 0..2 {
        client
            .converse()
            .model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
            .messages(user_message("hi"))
            .send()
            .await
            .expect("the profile in the looked-up account is allowed");
    }
    let calls = sts.calls();
    assert_eq!(calls.len(), 1, "looked up once: {calls:?}");
    assert!(calls[0].contains("Action=GetCallerIdentity"));
    assert_eq!(double.requests().len(), 2);
}
