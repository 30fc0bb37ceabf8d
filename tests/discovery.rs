//! Model discovery through the guard: the control plane's listings (ListInferenceProfiles,
//! GetInferenceProfile, ListFoundationModels, GetFoundationModel), answered from the guard's
//! control-plane cache and filtered per caller to what its policy lets it invoke. Driven with the
//! real `aws-sdk-bedrock` client (pagination included) and the `models` command.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_bedrock::config::{Credentials, Region, Token};
use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_bedrock::types::InferenceProfileType;
use bedrock_guard::auth::api_key;
use bedrock_guard::config::{AccessKeyEntry, ApiKeyEntry, Config, NamedPrincipalConfig};
use support::controlplane::{
    application_profile, fm, foundation_model, system_profile, ControlPlaneDouble, ACCOUNT,
};
use support::guard::{start_guard, GuardOptions, RunningGuard};
use support::{BedrockDouble, PROXY_ACCESS_KEY, PROXY_SECRET_KEY, PROXY_SESSION_TOKEN};

const REGION: &str = "us-east-1";
const KEY_SEARCH: &str = "bgk_discovery_search_000000000000000000000000000000000000000000";
const KEY_ADS: &str = "bgk_discovery_ads_00000000000000000000000000000000000000000000000";
const AKID_ADS: &str = "BGAKADSDISCOVERY0001";
const SECRET_ADS: &str = "ads/secret/0123456789abcdef";

const US_SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const US_HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const US_NOVA: &str = "us.amazon.nova-pro-v1:0";
const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const HAIKU: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
const NOVA: &str = "amazon.nova-pro-v1:0";
const DEEPSEEK: &str = "deepseek.r1-v1:0";

/// Claude for everyone (direct and through US profiles), Nova for the search team only; DeepSeek
/// and application profiles for no one.
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Claude","Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],
   "Resource":["arn:aws:bedrock:*::foundation-model/anthropic.*","arn:aws:bedrock:*:*:inference-profile/us.anthropic.*"]},
  {"Sid":"NovaForSearch","Effect":"Allow","Action":"bedrock:InvokeModel",
   "Resource":["arn:aws:bedrock:*::foundation-model/amazon.nova-*","arn:aws:bedrock:*:*:inference-profile/us.amazon.nova-*"],
   "Condition":{"StringEquals":{"aws:PrincipalTag/team":"search"}}}]}"#;

const US: &[&str] = &["us-east-1", "us-east-2", "us-west-2"];

async fn control_plane() -> ControlPlaneDouble {
    let double = ControlPlaneDouble::start().await;
    for id in [US_SONNET, US_HAIKU, US_NOVA] {
        double.add_profile(REGION, system_profile(REGION, id, US));
    }
    double.add_profile(
        REGION,
        application_profile(REGION, "team-app", &[fm(REGION, SONNET)]),
    );
    for model in [SONNET, HAIKU, NOVA, DEEPSEEK] {
        let mut entry = foundation_model(REGION, model);
        if model == NOVA {
            entry["providerName"] = "Amazon".into();
            entry["inferenceTypesSupported"] =
                serde_json::json!(["ON_DEMAND", "INFERENCE_PROFILE"]);
        }
        double.add_foundation_model(REGION, entry);
    }
    double
}

fn principal(name: &str, team: &str) -> NamedPrincipalConfig {
    NamedPrincipalConfig {
        tags: [("team".to_owned(), team.to_owned())].into_iter().collect(),
        ..NamedPrincipalConfig::new(name, format!("arn:aws:iam::{ACCOUNT}:role/{name}"))
    }
}

async fn gateway(runtime: &BedrockDouble, control: &ControlPlaneDouble) -> RunningGuard {
    let endpoint = control.url.clone();
    let mut options = GuardOptions::policy(POLICY);
    options.configure = Some(Arc::new(move |config: &mut Config| {
        config.account_id = Some(ACCOUNT.into());
        config.control_plane.enabled = true;
        config.control_plane.endpoint = Some(endpoint.clone());
        config.principals = vec![
            principal("search-app", "search"),
            principal("ads-app", "ads"),
        ];
        config.auth.api_keys = vec![
            ApiKeyEntry {
                principal: "search-app".into(),
                sha256: api_key::hash_hex(KEY_SEARCH),
            },
            ApiKeyEntry {
                principal: "ads-app".into(),
                sha256: api_key::hash_hex(KEY_ADS),
            },
        ];
        config.auth.allow_inline_secrets = true;
        config.auth.access_keys = vec![AccessKeyEntry {
            principal: "ads-app".into(),
            access_key_id: AKID_ADS.into(),
            secret_file: None,
            secret_env: None,
            secret: Some(SECRET_ADS.into()),
        }];
    }));
    start_guard(runtime, options).await
}

fn builder(endpoint: &str) -> aws_sdk_bedrock::config::Builder {
    aws_sdk_bedrock::Config::builder()
        .behavior_version_latest()
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_bedrock::config::retry::RetryConfig::disabled())
}

/// What an app gets with `AWS_BEARER_TOKEN_BEDROCK=<key>`.
fn bearer_client(endpoint: &str, key: &str) -> aws_sdk_bedrock::Client {
    aws_sdk_bedrock::Client::from_conf(
        builder(endpoint)
            .bearer_token(Token::new(key, None))
            .auth_scheme_preference([
                aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
            ])
            .build(),
    )
}

fn sigv4_client(endpoint: &str) -> aws_sdk_bedrock::Client {
    aws_sdk_bedrock::Client::from_conf(
        builder(endpoint)
            .credentials_provider(Credentials::new(AKID_ADS, SECRET_ADS, None, None, "t"))
            .build(),
    )
}

/// Every profile id the client sees, page by page (one entry per page).
async fn profile_ids(client: &aws_sdk_bedrock::Client) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut pages = 0;
    let mut token = None;
    loop {
        let page = client
            .list_inference_profiles()
            .max_results(1)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages += 1;
        let summaries = page.inference_profile_summaries();
        assert!(summaries.len() <= 1);
        ids.extend(
            summaries
                .iter()
                .map(|p| p.inference_profile_id().to_owned()),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        pages,
        ids.len().max(1),
        "one entry per page, no empty last page"
    );
    ids
}

async fn model_ids(client: &aws_sdk_bedrock::Client) -> BTreeSet<String> {
    client
        .list_foundation_models()
        .send()
        .await
        .unwrap()
        .model_summaries()
        .iter()
        .map(|m| m.model_id().to_owned())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn each_caller_discovers_only_the_models_its_policy_lets_it_invoke() {
    let runtime = BedrockDouble::start(REGION).await;
    let control = control_plane().await;
    let guard = gateway(&runtime, &control).await;
    let search = bearer_client(&guard.url(), KEY_SEARCH);
    assert_eq!(
        profile_ids(&search).await,
        set(&[US_SONNET, US_HAIKU, US_NOVA])
    );
    // The guard listed once before serving; what follows is answered from its cache.
    let listings_at_start = control.count("ListInferenceProfiles");
    assert!(listings_at_start >= 1);
    assert_eq!(model_ids(&search).await, set(&[SONNET, HAIKU, NOVA]));

    // The ads team: no Nova; the same answer whether it signs with SigV4 or sends its API key.
    for ads in [
        bearer_client(&guard.url(), KEY_ADS),
        sigv4_client(&guard.url()),
    ] {
        assert_eq!(profile_ids(&ads).await, set(&[US_SONNET, US_HAIKU]));
        assert_eq!(model_ids(&ads).await, set(&[SONNET, HAIKU]));
    }

    // Entries keep the control plane's shape.
    let sonnet = search
        .get_inference_profile()
        .inference_profile_identifier(US_SONNET)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sonnet.inference_profile_arn(),
        format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{US_SONNET}")
    );
    assert_eq!(sonnet.models().len(), 3);
    assert_eq!(sonnet.r#type(), &InferenceProfileType::SystemDefined);
    let details = search
        .get_foundation_model()
        .model_identifier(NOVA)
        .send()
        .await
        .unwrap();
    assert_eq!(
        details.model_details().unwrap().provider_name(),
        Some("Amazon")
    );

    // What a caller may not invoke does not exist for it.
    let ads = bearer_client(&guard.url(), KEY_ADS);
    let hidden = ads
        .get_inference_profile()
        .inference_profile_identifier(US_NOVA)
        .send()
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Some("ResourceNotFoundException"));
    let hidden = ads
        .get_foundation_model()
        .model_identifier(DEEPSEEK)
        .send()
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Some("ResourceNotFoundException"));

    // Filters as the control plane has them.
    let application = search
        .list_inference_profiles()
        .type_equals(InferenceProfileType::Application)
        .send()
        .await
        .unwrap();
    assert!(
        application.inference_profile_summaries().is_empty(),
        "the policy allows no application profile"
    );
    let by_provider = search
        .list_foundation_models()
        .by_provider("amazon")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = by_provider
        .model_summaries()
        .iter()
        .map(|m| m.model_id())
        .collect();
    assert_eq!(ids, [NOVA]);

    // Answered from the cache: nothing more was asked of the control plane, nothing of Bedrock.
    assert_eq!(control.count("ListInferenceProfiles"), listings_at_start);
    assert!(runtime.requests().is_empty());
}

#[tokio::test]
async fn no_other_control_plane_operation_passes_and_strangers_learn_nothing() {
    let runtime = BedrockDouble::start(REGION).await;
    let control = control_plane().await;
    let guard = gateway(&runtime, &control).await;
    let http = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::POST, "/inference-profiles"),
        (reqwest::Method::DELETE, "/inference-profiles/x"),
        (reqwest::Method::GET, "/custom-models"),
        (reqwest::Method::GET, "/provisioned-model-throughputs"),
        (reqwest::Method::GET, "/prompt-routers"),
    ] {
        let response = http
            .request(method.clone(), format!("{}{path}", guard.url()))
            .bearer_auth(KEY_SEARCH)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "UnknownOperationException"
        );
    }
    let anonymous = http
        .get(format!("{}/inference-profiles", guard.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403);
    let bad = http
        .get(format!("{}/inference-profiles?maxResults=0", guard.url()))
        .bearer_auth(KEY_SEARCH)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["x-amzn-errortype"], "ValidationException");
    assert!(runtime.requests().is_empty());
}

#[tokio::test]
async fn without_the_control_plane_discovery_says_so() {
    let runtime = BedrockDouble::start(REGION).await;
    let control = control_plane().await;
    control.set_denied(true);
    let guard = gateway(&runtime, &control).await;
    let err = bearer_client(&guard.url(), KEY_SEARCH)
        .list_inference_profiles()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ServiceUnavailableException"));
    assert!(
        err.message().unwrap().contains("control plane"),
        "{:?}",
        err.message()
    );
}

/// `bedrock-guard models --principal NAME`: the same filtered listing, from the command line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_models_command_lists_what_a_principal_may_invoke() {
    let control = control_plane().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.json"), POLICY).unwrap();
    let config = format!(
        r#"region = "{REGION}"
account_id = "{ACCOUNT}"
[policy]
files = ["policy.json"]
[control_plane]
endpoint = "{}"
[[principals]]
name = "search-app"
arn = "arn:aws:iam::{ACCOUNT}:role/search-app"
tags = {{ team = "search" }}
[[principals]]
name = "ads-app"
arn = "arn:aws:iam::{ACCOUNT}:role/ads-app"
tags = {{ team = "ads" }}
"#,
        control.url
    );
    let config_path = dir.path().join("guard.toml");
    std::fs::write(&config_path, config).unwrap();
    let run = |principal: &'static str, json: bool| {
        let config_path = config_path.clone();
        let home = dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-guard"));
            command
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("HOME", home)
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_ACCESS_KEY_ID", PROXY_ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", PROXY_SECRET_KEY)
                .env("AWS_SESSION_TOKEN", PROXY_SESSION_TOKEN)
                .args(["models", "--config"])
                .arg(&config_path)
                .args(["--principal", principal]);
            if json {
                command.arg("--json");
            }
            let output = command.output().unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        })
    };
    let ads: serde_json::Value =
        serde_json::from_str(&run("ads-app", true).await.unwrap()).unwrap();
    let ids = |key: &str, field: &str| -> BTreeSet<String> {
        ads[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[field].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids("inferenceProfileSummaries", "inferenceProfileId"),
        set(&[US_SONNET, US_HAIKU])
    );
    assert_eq!(ids("modelSummaries", "modelId"), set(&[SONNET, HAIKU]));

    let text = run("search-app", false).await.unwrap();
    assert!(
        text.starts_with("principal search-app may invoke, in us-east-1:"),
        "{text}"
    );
    assert!(text.contains(&format!("  {US_NOVA}  (")), "{text}");
    assert!(text.contains("foundation models (3):"), "{text}");
}
