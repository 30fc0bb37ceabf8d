//! Condition keys the proxy fills, end to end: the real SDK -> bedrock-guard -> the Bedrock double.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use support::client::{sdk_client, user_message};

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::GuardrailConfiguration;
use support::guard::{start_guard, GuardOptions, FULL_ACCESS};
use support::BedrockDouble;

const REGION: &str = "us-east-1";
const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

/// Every Converse/Invoke must name a guardrail: a Deny on the missing key (AWS's documented pattern).
const REQUIRE_GUARDRAIL: &str = r#"{"Version": "2012-10-17", "Statement": {"Sid": "RequireGuardrail",
    "Effect": "Deny", "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
    "Resource": "*", "Condition": {"Null": {"bedrock:GuardrailIdentifier": "true"}}}}"#;

#[tokio::test]
async fn guardrail_identifier_comes_from_the_converse_body_and_the_invoke_header() {
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(
        &double,
        GuardOptions {
            policies: vec![FULL_ACCESS.to_owned(), REQUIRE_GUARDRAIL.to_owned()],
            ..GuardOptions::policy(FULL_ACCESS)
        },
    )
    .await;
    let client = sdk_client(&guard.url());

    let err = client
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert!(
        err.message()
            .unwrap()
            .contains("explicit deny in an identity-based policy"),
        "{err:?}"
    );

    client
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .guardrail_config(
            GuardrailConfiguration::builder()
                .guardrail_identifier("gr-123")
                .guardrail_version("1")
                .build(),
        )
        .send()
        .await
        .expect("a Converse naming a guardrail in its body is allowed");

    client
        .invoke_model()
        .model_id(CLAUDE)
        .guardrail_identifier("gr-123")
        .guardrail_version("1")
        .body(Blob::new(b"{}".to_vec()))
        .send()
        .await
        .expect("an InvokeModel naming a guardrail in its headers is allowed");
}

#[tokio::test]
async fn source_ip_and_secure_transport_are_set() {
    let double = BedrockDouble::start(REGION).await;
    // Allowed only from loopback, and only because the transport to the guard is plain HTTP.
    let policy = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "bedrock:*",
        "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]},
        "Bool": {"aws:SecureTransport": "false"}, "Null": {"aws:CurrentTime": "false", "aws:EpochTime": "false"}}}}"#;
    let guard = start_guard(&double, GuardOptions::policy(policy)).await;
    let client = sdk_client(&guard.url());
    client
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .expect("loopback client allowed");

    let elsewhere = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "OfficeOnly", "Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]}"#;
    let guard = start_guard(&double, GuardOptions::policy(elsewhere)).await;
    let err = sdk_client(&guard.url())
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert!(err.message().unwrap().ends_with("#OfficeOnly"), "{err:?}");
}

/// `explain` (the [`bedrock_guard::authz`] question) and the proxy decide the same call the same way
/// for every key the proxy always sets: the proxy from a real loopback client, `explain` with its
/// documented defaults (`aws:SourceIp` = 127.0.0.1) on the very same snapshot.
#[tokio::test]
async fn explain_and_the_proxy_agree_on_every_key_the_proxy_always_sets() {
    const PROFILE: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    let double = BedrockDouble::start(REGION).await;
    let allow_if = |condition: &str| {
        format!(
            r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Action": "bedrock:*",
            "Resource": "*", "Condition": {condition}}}}}"#
        )
    };
    let conditions = [
        r#"{"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}"#,
        r#"{"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}"#,
        r#"{"Bool": {"aws:SecureTransport": "false"}}"#,
        r#"{"Bool": {"aws:SecureTransport": "true"}}"#,
        r#"{"StringEquals": {"aws:RequestedRegion": "us-east-1"}}"#,
        r#"{"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}"#,
        r#"{"Null": {"aws:CurrentTime": "false", "aws:EpochTime": "false"}}"#,
        r#"{"NumericGreaterThan": {"aws:EpochTime": "1700000000"}}"#,
        r#"{"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*"}}"#,
        r#"{"Null": {"aws:PrincipalAccount": "false"}}"#,
        r#"{"Null": {"bedrock:ServiceTier": "true", "bedrock:GuardrailIdentifier": "true"}}"#,
        r#"{"Null": {"aws:UserAgent": "false"}}"#,
    ];
    for condition in conditions {
        let guard = start_guard(&double, GuardOptions::policy(&allow_if(condition))).await;
        for model in [CLAUDE, PROFILE] {
            let proxy = sdk_client(&guard.url())
                .converse()
                .model_id(model)
                .messages(user_message("hi"))
                .send()
                .await;
            let snapshot = guard.reloader.current();
            let explain = bedrock_guard::authz::ask(
                &snapshot,
                &bedrock_guard::authz::Question {
                    operation: Some("Converse"),
                    model,
                    ..Default::default()
                },
            )
            .unwrap();
            assert_eq!(
                proxy.is_ok(),
                explain.decision.is_allowed(),
                "{condition} on {model}: proxy {proxy:?}, explain {}",
                explain.decision
            );
        }
    }
}

/// StartAsyncInvoke: the body's `tags` are `aws:RequestTag/<key>` and `aws:TagKeys`, as the Service
/// Authorization Reference lists them for bedrock:InvokeModel on async-invoke resources.
#[tokio::test]
async fn start_async_invoke_tags_are_request_tags() {
    use aws_sdk_bedrockruntime::types::{
        AsyncInvokeOutputDataConfig, AsyncInvokeS3OutputDataConfig, Tag,
    };
    let double = BedrockDouble::start(REGION).await;
    let policy = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "bedrock:InvokeModel",
        "Resource": "*", "Condition": {"StringEquals": {"aws:RequestTag/team": "ml"},
        "ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost-center"]}}}}"#;
    let guard = start_guard(&double, GuardOptions::policy(policy)).await;
    let client = sdk_client(&guard.url());
    let start = |tags: Vec<(&str, &str)>| {
        let output = AsyncInvokeOutputDataConfig::S3OutputDataConfig(
            AsyncInvokeS3OutputDataConfig::builder()
                .s3_uri("s3://bucket/out")
                .build()
                .unwrap(),
        );
        let mut call = client
            .start_async_invoke()
            .model_id("amazon.nova-reel-v1:1")
            .model_input(aws_smithy_types::Document::Object(Default::default()))
            .output_data_config(output);
        for (key, value) in tags {
            call = call.tags(Tag::builder().key(key).value(value).build().unwrap());
        }
        call.send()
    };
    start(vec![("team", "ml"), ("cost-center", "42")])
        .await
        .expect("tagged team=ml with allowed keys");
    for tags in [
        vec![],
        vec![("team", "search")],
        vec![("team", "ml"), ("owner", "me")],
    ] {
        let err = start(tags.clone()).await.unwrap_err();
        assert_eq!(err.code(), Some("AccessDeniedException"), "{tags:?}");
    }
}
