//! Policy inputs fail closed, through the real listener: a condition key read from the body is never
//! "unset" because the body is JSON serde refuses, repeated keys are never read last-wins, repeated
//! Bedrock parameter headers are refused, and a caller cannot make Bedrock touch S3 locations outside
//! its `s3_locations` with the proxy's identity.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::config::{Region, Token};
use aws_sdk_bedrockruntime::types::{
    AsyncInvokeOutputDataConfig, AsyncInvokeS3OutputDataConfig, ContentBlock, ConversationRole,
    DocumentBlock, DocumentFormat, DocumentSource, Message, S3Location,
};
use aws_sdk_bedrockruntime::Client;
use aws_smithy_types::Document;
use bedrock_guard::auth::api_key;
use bedrock_guard::config::{
    ApiKeyEntry, Config, NamedPrincipalConfig, Overrides, ReloadOutcome, ReloadTrigger,
};
use bedrock_guard::Guard;
use support::client::code_and_message;
use support::guard::{start_guard, GuardOptions, RunningGuard, FULL_ACCESS};
use support::{BedrockDouble, PROXY_ACCESS_KEY, PROXY_SECRET_KEY, PROXY_SESSION_TOKEN};

const REGION: &str = "us-east-1";
const CONVERSE: &str = "/model/amazon.nova-lite-v1%3A0/converse";
const INVOKE: &str = "/model/amazon.nova-lite-v1%3A0/invoke";
const DOCS_KEY: &str = "bgk_test_key_for_docs_app_000000000000000000000000000000000000000";
const PLAIN_KEY: &str = "bgk_test_key_for_plain_app_0000000000000000000000000000000000000";

/// Everything, except the priority tier.
const DENY_PRIORITY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},
  {"Sid":"NoPriority","Effect":"Deny","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],"Resource":"*",
   "Condition":{"StringEquals":{"bedrock:ServiceTier":"priority"}}}]}"#;

async fn post(
    client: &reqwest::Client,
    url: String,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String, String) {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let code = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    (status, code, text)
}

#[tokio::test]
async fn a_deny_on_the_priority_tier_cannot_be_bypassed() {
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(&double, GuardOptions::policy(DENY_PRIORITY)).await;
    let client = reqwest::Client::new();
    let tier = |t: &str| format!(r#"{{"messages":[],"serviceTier":{{"type":"{t}"}}}}"#);
    let nested = |n: usize| {
        format!(
            r#"{{"additionalModelRequestFields":{{"x":{}{}}},"serviceTier":{{"type":"priority"}}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let bom = [b"\xEF\xBB\xBF".as_slice(), tier("priority").as_bytes()].concat();
    // (name, path, headers, body, expected status)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        (
            "flex is allowed",
            CONVERSE,
            vec![],
            tier("flex").into_bytes(),
            200,
        ),
        (
            "priority is denied",
            CONVERSE,
            vec![],
            tier("priority").into_bytes(),
            403,
        ),
        // Bodies serde refuses are read, not treated as "no tier".
        ("BOM", CONVERSE, vec![], bom, 403),
        (
            "lone surrogate elsewhere",
            CONVERSE,
            vec![],
            br#"{"system":[{"text":"\ud800"}],"serviceTier":{"type":"priority"}}"#.to_vec(),
            403,
        ),
        (
            "1e400 elsewhere",
            CONVERSE,
            vec![],
            br#"{"inferenceConfig":{"temperature":1e400},"serviceTier":{"type":"priority"}}"#
                .to_vec(),
            403,
        ),
        (
            "deep nesting elsewhere",
            CONVERSE,
            vec![],
            nested(900).into_bytes(),
            403,
        ),
        (
            "escaped key and value",
            CONVERSE,
            vec![],
            br#"{"service\u0054ier":{"type":"pri\u006frity"}}"#.to_vec(),
            403,
        ),
        // What cannot be read with certainty is refused.
        (
            "nesting beyond the limit",
            CONVERSE,
            vec![],
            nested(1200).into_bytes(),
            400,
        ),
        (
            "duplicate, priority last",
            CONVERSE,
            vec![],
            br#"{"serviceTier":{"type":"flex"},"serviceTier":{"type":"priority"}}"#.to_vec(),
            400,
        ),
        (
            "duplicate, priority first",
            CONVERSE,
            vec![],
            br#"{"serviceTier":{"type":"priority"},"serviceTier":{"type":"flex"}}"#.to_vec(),
            400,
        ),
        (
            "duplicate type",
            CONVERSE,
            vec![],
            br#"{"serviceTier":{"type":"flex","type":"priority"}}"#.to_vec(),
            400,
        ),
        (
            "key in another case",
            CONVERSE,
            vec![],
            br#"{"ServiceTier":{"type":"priority"}}"#.to_vec(),
            400,
        ),
        (
            "lone surrogate in the value",
            CONVERSE,
            vec![],
            br#"{"serviceTier":{"type":"priority\udfff"}}"#.to_vec(),
            400,
        ),
        (
            "tier of the wrong type",
            CONVERSE,
            vec![],
            br#"{"serviceTier":"priority"}"#.to_vec(),
            400,
        ),
        (
            "not JSON",
            CONVERSE,
            vec![],
            b"{\"serviceTier\":".to_vec(),
            400,
        ),
        (
            "header and body disagree",
            CONVERSE,
            vec![("x-amzn-bedrock-service-tier", "priority")],
            tier("flex").into_bytes(),
            400,
        ),
        // InvokeModel takes the tier from its header.
        (
            "invoke header flex",
            INVOKE,
            vec![("x-amzn-bedrock-service-tier", "flex")],
            b"{}".to_vec(),
            200,
        ),
        (
            "invoke header priority",
            INVOKE,
            vec![("x-amzn-bedrock-service-tier", "priority")],
            b"{}".to_vec(),
            403,
        ),
        (
            "invoke header twice",
            INVOKE,
            vec![
                ("x-amzn-bedrock-service-tier", "flex"),
                ("x-amzn-bedrock-service-tier", "priority"),
            ],
            b"{}".to_vec(),
            400,
        ),
    ];
    let mut forwarded = 0;
    for (name, path, headers, body, expected) in cases {
        let (status, code, text) =
            post(&client, format!("{}{path}", guard.url()), &headers, body).await;
        assert_eq!(status, expected, "{name}: {text}");
        match status {
            200 => forwarded += 1,
            400 => assert_eq!(code, "ValidationException", "{name}"),
            403 => assert_eq!(code, "AccessDeniedException", "{name}"),
            _ => {}
        }
        assert_eq!(
            double.requests().len(),
            forwarded,
            "{name}: nothing refused is forwarded"
        );
    }
}

#[tokio::test]
async fn a_repeated_content_type_or_accept_is_refused() {
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let client = reqwest::Client::new();
    for header in ["content-type", "accept", "x-amzn-bedrock-trace"] {
        let (status, code, text) = post(
            &client,
            format!("{}{INVOKE}", guard.url()),
            &[(header, "application/json"), (header, "text/plain")],
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (400, "ValidationException"),
            "{header}"
        );
        assert!(text.contains(header), "{text}");
    }
    assert!(double.requests().is_empty());
}

// ---- S3 locations ----

fn named(name: &str, s3: Option<Vec<&str>>) -> NamedPrincipalConfig {
    NamedPrincipalConfig {
        s3_locations: s3.map(|p| p.into_iter().map(str::to_owned).collect()),
        ..support::principal(name)
    }
}

/// docs-app may read `s3://team-docs/in/` and write `s3://team-out/results/`; plain-app has no list.
async fn gateway(double: &BedrockDouble) -> RunningGuard {
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.configure = Some(Arc::new(|config: &mut Config| {
        config.principals = vec![
            named(
                "docs-app",
                Some(vec!["s3://team-docs/in/*", "s3://team-out/results/*"]),
            ),
            named("plain-app", None),
        ];
        config.auth.api_keys = vec![
            ApiKeyEntry {
                principal: "docs-app".into(),
                sha256: api_key::hash_hex(DOCS_KEY),
            },
            ApiKeyEntry {
                principal: "plain-app".into(),
                sha256: api_key::hash_hex(PLAIN_KEY),
            },
        ];
    }));
    start_guard(double, options).await
}

fn bearer_client(endpoint: &str, key: &str) -> Client {
    Client::from_conf(
        aws_sdk_bedrockruntime::Config::builder()
            .behavior_version_latest()
            .region(Region::new(REGION))
            .endpoint_url(endpoint)
            .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
            .bearer_token(Token::new(key, None))
            .auth_scheme_preference([
                aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
            ])
            .build(),
    )
}

/// Converse with a PDF from S3; `Err((code, message))` when refused.
async fn converse_with_document(client: &Client, uri: &str) -> Result<(), (String, String)> {
    let document = DocumentBlock::builder()
        .format(DocumentFormat::Pdf)
        .name("report")
        .source(DocumentSource::S3Location(
            S3Location::builder().uri(uri).build().unwrap(),
        ))
        .build()
        .unwrap();
    client
        .converse()
        .model_id("amazon.nova-lite-v1:0")
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("summarize".into()))
                .content(ContentBlock::Document(document))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code_and_message(e.into_service_error()))
}

async fn start_async(
    client: &Client,
    output: &str,
    model_input: Document,
) -> Result<(), (String, String)> {
    client
        .start_async_invoke()
        .model_id("amazon.nova-reel-v1:1")
        .model_input(model_input)
        .output_data_config(AsyncInvokeOutputDataConfig::S3OutputDataConfig(
            AsyncInvokeS3OutputDataConfig::builder()
                .s3_uri(output)
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code_and_message(e.into_service_error()))
}

fn text_to_video(image: Option<&str>) -> Document {
    let mut params = HashMap::from([("text".to_owned(), Document::String("a cat".into()))]);
    if let Some(uri) = image {
        params.insert(
            "images".to_owned(),
            Document::Array(vec![Document::Object(HashMap::from([(
                "source".to_owned(),
                Document::Object(HashMap::from([(
                    "s3Location".to_owned(),
                    Document::Object(HashMap::from([(
                        "uri".to_owned(),
                        Document::String(uri.into()),
                    )])),
                )])),
            )]))]),
        );
    }
    Document::Object(HashMap::from([
        ("taskType".to_owned(), Document::String("TEXT_VIDEO".into())),
        ("textToVideoParams".to_owned(), Document::Object(params)),
    ]))
}

fn assert_s3_denied(result: Result<(), (String, String)>, uri: &str) {
    let (code, message) = result.expect_err("refused");
    assert_eq!(code, "AccessDeniedException", "{message}");
    assert!(
        message.contains(uri),
        "the message names the location: {message}"
    );
    assert!(message.contains("s3_locations"), "{message}");
}

#[tokio::test]
async fn gateway_callers_name_only_their_own_s3_locations() {
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double).await;
    let docs = bearer_client(&guard.url(), DOCS_KEY);
    let plain = bearer_client(&guard.url(), PLAIN_KEY);

    // Converse: document sources.
    converse_with_document(&docs, "s3://team-docs/in/q3.pdf")
        .await
        .unwrap();
    assert_s3_denied(
        converse_with_document(&docs, "s3://finance-private/q3.pdf").await,
        "s3://finance-private/q3.pdf",
    );
    assert_s3_denied(
        converse_with_document(&docs, "s3://team-docs/out/q3.pdf").await,
        "s3://team-docs/out/q3.pdf",
    );
    // No list: no location at all, even one another caller may use.
    assert_s3_denied(
        converse_with_document(&plain, "s3://team-docs/in/q3.pdf").await,
        "s3://team-docs/in/q3.pdf",
    );

    // StartAsyncInvoke: the output location, and S3 URIs inside the model-native input.
    start_async(&docs, "s3://team-out/results/", text_to_video(None))
        .await
        .unwrap();
    assert_s3_denied(
        start_async(&docs, "s3://someone-else/", text_to_video(None)).await,
        "s3://someone-else/",
    );
    assert_s3_denied(
        start_async(
            &docs,
            "s3://team-out/results/",
            text_to_video(Some("s3://finance-private/frame.png")),
        )
        .await,
        "s3://finance-private/frame.png",
    );
    assert_s3_denied(
        start_async(&plain, "s3://team-out/results/", text_to_video(None)).await,
        "s3://team-out/results/",
    );
    // Calls without S3 locations are unaffected.
    plain
        .converse()
        .model_id("amazon.nova-lite-v1:0")
        .messages(support::client::user_message("hi"))
        .send()
        .await
        .unwrap();

    assert_eq!(
        double.requests().len(),
        3,
        "only the allowed calls went upstream"
    );
}

#[tokio::test]
async fn a_restricted_caller_cannot_hide_a_location_in_an_unreadable_body() {
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double).await;
    let client = reqwest::Client::new();
    let bearer = format!("Bearer {DOCS_KEY}");
    let cases: Vec<(&[u8], u16)> = vec![
        (br#"{"image":"\u0073\u0033://finance-private/x.png"}"#, 403),
        (br#"{"image":"S3://finance-private/x.png"}"#, 403),
        (br#"{"image":"s3://team-docs/in/x.png"}"#, 200),
        (
            br#"{"image":"s3://team-docs/in/x.png"} {"image":"s3://finance-private/x.png"}"#,
            400,
        ),
        (b"\x00{}", 400),
    ];
    for (body, expected) in cases {
        let (status, _, text) = post(
            &client,
            format!("{}{INVOKE}", guard.url()),
            &[("authorization", bearer.as_str())],
            body.to_vec(),
        )
        .await;
        assert_eq!(
            status,
            expected,
            "{}: {text}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(double.requests().len(), 1);
}

#[tokio::test]
async fn the_fixed_caller_may_name_any_location_unless_configured() {
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(&double, GuardOptions::policy(FULL_ACCESS)).await;
    let client = support::client::sdk_client(&guard.url());
    converse_with_document(&client, "s3://anything/at/all.pdf")
        .await
        .unwrap();

    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.configure = Some(Arc::new(|config: &mut Config| {
        config.principal.s3_locations = Some(vec!["s3://sidecar-docs/*".into()]);
    }));
    let restricted = start_guard(&double, options).await;
    let client = support::client::sdk_client(&restricted.url());
    converse_with_document(&client, "s3://sidecar-docs/a.pdf")
        .await
        .unwrap();
    assert_s3_denied(
        converse_with_document(&client, "s3://anything/at/all.pdf").await,
        "s3://anything/at/all.pdf",
    );
}

/// A config file whose `docs-app` may read `s3_pattern`.
fn config_file(dir: &std::path::Path, double: &BedrockDouble, s3_pattern: &str) {
    std::fs::write(dir.join("policy.json"), FULL_ACCESS).unwrap();
    std::fs::write(
        dir.join("guard.toml"),
        format!(
            r#"
region = "us-east-1"
account_id = "123456789012"
[upstream]
endpoint = "{}"
[policy]
files = ["policy.json"]
[reload]
watch = false
[[principals]]
name = "docs-app"
arn = "arn:aws:iam::123456789012:role/docs-app"
s3_locations = ["{s3_pattern}"]
[auth]
[[auth.api_keys]]
principal = "docs-app"
sha256 = "{}"
"#,
            double.url(),
            api_key::hash_hex(DOCS_KEY)
        ),
    )
    .unwrap();
}

#[tokio::test]
async fn s3_patterns_are_validated_on_reload_too() {
    let double = BedrockDouble::start(REGION).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.toml");
    config_file(dir.path(), &double, "s3://team-docs/*");
    let overrides = Overrides::default();
    let config = bedrock_guard::config::load(Some(&path), &overrides).unwrap();
    let guard = Guard::builder(config)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            PROXY_ACCESS_KEY,
            PROXY_SECRET_KEY,
            Some(PROXY_SESSION_TOKEN.to_owned()),
            None,
            "test-proxy",
        )))
        .config_source(path.clone(), overrides)
        .build()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let reloader = guard.reloader().clone();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(guard.serve(listener, async move {
        let _ = stopped.await;
    }));
    let client = bearer_client(&url, DOCS_KEY);
    converse_with_document(&client, "s3://team-docs/a.pdf")
        .await
        .unwrap();
    let live = reloader.status().version;

    // An upper-case bucket can never match: refused, the old allowlist stays in force.
    config_file(dir.path(), &double, "s3://Team-Docs/*");
    match reloader.reload(ReloadTrigger::Api).await {
        ReloadOutcome::Failed { version, error } => {
            assert_eq!(version, live);
            assert!(error.contains("s3://Team-Docs/*"), "{error}");
            assert!(error.contains("docs-app"), "{error}");
        }
        other => panic!("published a bad pattern: {other:?}"),
    }
    converse_with_document(&client, "s3://team-docs/a.pdf")
        .await
        .unwrap();

    // A valid change is published and takes effect.
    config_file(dir.path(), &double, "s3://new-docs/*");
    assert!(matches!(
        reloader.reload(ReloadTrigger::Api).await,
        ReloadOutcome::Published { .. }
    ));
    converse_with_document(&client, "s3://new-docs/a.pdf")
        .await
        .unwrap();
    assert_s3_denied(
        converse_with_document(&client, "s3://team-docs/a.pdf").await,
        "s3://team-docs/a.pdf",
    );
}
