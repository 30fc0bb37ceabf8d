//! A shared gateway: each app authenticates with what its AWS SDK already supports (a bearer API
//! key, or SigV4 with gateway-issued keys), or is named by a trusted front proxy, and gets exactly its
//! own permissions. Failures are AWS-shaped 403s; no client secret ever reaches upstream.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_bedrockruntime::config::{Credentials, Region, Token};
use aws_sdk_bedrockruntime::Client;
use bedrock_guard::auth::api_key;
use bedrock_guard::config::{
    AccessKeyEntry, ApiKeyEntry, Config, NamedPrincipalConfig, TrustedHeaderConfig,
};
use support::client::{code_and_message, user_message};
use support::guard::{start_guard, GuardOptions, RunningGuard};
use support::sts::{StsDouble, ROLE_ACCESS_KEY, ROLE_SECRET_KEY, ROLE_SESSION_TOKEN};
use support::{BedrockDouble, RecordedRequest};

const REGION: &str = "us-east-1";
const NOVA: &str = "amazon.nova-lite-v1:0";
const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const KEY_A: &str = "bgk_test_key_for_app_a_0000000000000000000000000000000000000000000";
const KEY_B: &str = "bgk_test_key_for_app_b_0000000000000000000000000000000000000000000";
const AKID_A: &str = "BGAKAPPATESTKEY00001";
const SECRET_A: &str = "app-a/secret/0123456789abcdef0123456789abcdef";

/// Nova only for the search team (by principal tag); Claude for everyone.
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"SearchTeamUsesNova","Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],
   "Resource":"arn:aws:bedrock:*::foundation-model/amazon.nova-*",
   "Condition":{"StringEquals":{"aws:PrincipalTag/team":"search"}}},
  {"Sid":"EveryoneUsesClaude","Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/anthropic.*"}]}"#;

/// A principal whose identity policies are the gateway's `[policy] files` (they apply to every caller).
fn principal(name: &str, team: &str) -> NamedPrincipalConfig {
    NamedPrincipalConfig {
        tags: [("team".to_owned(), team.to_owned())].into_iter().collect(),
        ..support::principal(name)
    }
}

struct Gateway {
    guard: RunningGuard,
    _secrets: tempfile::TempDir,
}

/// A gateway with app-a (team search) and app-b (team ads), API keys for both and a SigV4 key for
/// app-a (its secret in a file, as recommended); `extra` adjusts the config further.
async fn gateway(
    double: &BedrockDouble,
    extra: impl Fn(&mut Config) + Send + Sync + 'static,
) -> Gateway {
    let secrets = tempfile::tempdir().unwrap();
    let secret_file = secrets.path().join("app-a.secret");
    std::fs::write(&secret_file, format!("{SECRET_A}\n")).unwrap();
    let mut options = GuardOptions::policy(POLICY);
    options.configure = Some(Arc::new(move |config: &mut Config| {
        config.principals = vec![principal("app-a", "search"), principal("app-b", "ads")];
        config.auth.api_keys = vec![
            ApiKeyEntry {
                principal: "app-a".into(),
                sha256: api_key::hash_hex(KEY_A),
            },
            ApiKeyEntry {
                principal: "app-b".into(),
                sha256: api_key::hash_hex(KEY_B),
            },
        ];
        config.auth.access_keys = vec![AccessKeyEntry {
            principal: "app-a".into(),
            access_key_id: AKID_A.into(),
            secret_file: Some(secret_file.clone()),
            secret_env: None,
            secret: None,
        }];
        extra(config);
    }));
    Gateway {
        guard: start_guard(double, options).await,
        _secrets: secrets,
    }
}

fn builder(endpoint: &str) -> aws_sdk_bedrockruntime::config::Builder {
    aws_sdk_bedrockruntime::Config::builder()
        .behavior_version_latest()
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
}

/// What an app gets with `AWS_BEARER_TOKEN_BEDROCK=<key>`.
fn bearer_client(endpoint: &str, key: &str) -> Client {
    Client::from_conf(
        builder(endpoint)
            .bearer_token(Token::new(key, None))
            .auth_scheme_preference([
                aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
            ])
            .build(),
    )
}

fn sigv4_client(endpoint: &str, access_key: &str, secret: &str) -> Client {
    Client::from_conf(
        builder(endpoint)
            .credentials_provider(Credentials::new(
                access_key,
                secret,
                None,
                None,
                "gateway-key",
            ))
            .build(),
    )
}

async fn converse(client: &Client, model: &str) -> Result<(), (String, String)> {
    client
        .converse()
        .model_id(model)
        .messages(user_message("hi"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code_and_message(e.into_service_error()))
}

fn assert_no_client_secret(requests: &[RecordedRequest]) {
    for request in requests {
        assert_eq!(
            request.signature,
            Ok(()),
            "upstream sees only the proxy's signature"
        );
        for (name, value) in &request.headers {
            for secret in [KEY_A, KEY_B, AKID_A, SECRET_A, "Bearer"] {
                assert!(
                    !value.contains(secret),
                    "{secret} leaked upstream in {name}"
                );
            }
        }
    }
}

#[tokio::test]
async fn bearer_keys_identify_principals_with_their_own_permissions() {
    let double = BedrockDouble::start(REGION).await;
    let gw = gateway(&double, |_| {}).await;
    let url = gw.guard.url();

    converse(&bearer_client(&url, KEY_A), NOVA)
        .await
        .expect("app-a may use Nova");
    let (code, message) = converse(&bearer_client(&url, KEY_B), NOVA)
        .await
        .expect_err("app-b may not");
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.starts_with("User: arn:aws:iam::123456789012:role/app-b is not authorized to perform: bedrock:InvokeModel"),
        "{message}"
    );
    converse(&bearer_client(&url, KEY_B), CLAUDE)
        .await
        .expect("app-b may use Claude");

    let requests = double.requests();
    assert_eq!(requests.len(), 2);
    assert_no_client_secret(&requests);
}

#[tokio::test]
async fn the_x_api_key_header_works_too() {
    let double = BedrockDouble::start(REGION).await;
    let gw = gateway(&double, |_| {}).await;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/model/amazon.nova-lite-v1%3A0/converse",
            gw.guard.url()
        ))
        .header("x-api-key", KEY_A)
        .header("content-type", "application/json")
        .body(r#"{"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_no_client_secret(&double.requests());
}

#[tokio::test]
async fn unknown_keys_and_missing_credentials_are_refused_before_any_work() {
    let double = BedrockDouble::start(REGION).await;
    let gw = gateway(&double, |_| {}).await;
    let url = gw.guard.url();

    let (code, _) = converse(&bearer_client(&url, "bgk_not_a_key"), CLAUDE)
        .await
        .unwrap_err();
    assert_eq!(code, "UnrecognizedClientException");
    let (code, _) = converse(&sigv4_client(&url, "AKIDUNKNOWN000000000", "x"), CLAUDE)
        .await
        .unwrap_err();
    assert_eq!(code, "UnrecognizedClientException");

    let response = reqwest::Client::new()
        .post(format!("{url}/model/{}/converse", "anthropic.claude-v2"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    // Even a hostile path is refused as unauthenticated first: nothing is classified for strangers.
    let response = reqwest::Client::new()
        .post(format!("{url}/model/..%2Fx/invoke"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(double.requests().is_empty());
}

#[tokio::test]
async fn sigv4_clients_with_gateway_keys_are_verified_and_re_signed() {
    let double = BedrockDouble::start(REGION).await;
    let gw = gateway(&double, |_| {}).await;
    let url = gw.guard.url();

    converse(&sigv4_client(&url, AKID_A, SECRET_A), NOVA)
        .await
        .expect("valid signature");
    let (code, message) = converse(&sigv4_client(&url, AKID_A, "wrong-secret"), NOVA)
        .await
        .unwrap_err();
    assert_eq!(code, "InvalidSignatureException");
    assert!(message.contains("does not match"), "{message}");

    let requests = double.requests();
    assert_eq!(requests.len(), 1);
    assert_no_client_secret(&requests);
}

#[tokio::test]
async fn a_skewed_client_clock_is_refused_as_aws_does() {
    let double = BedrockDouble::start(REGION).await;
    let gw = gateway(&double, |_| {}).await;
    let skewed = aws_smithy_async::time::StaticTimeSource::new(
        SystemTime::now() + Duration::from_secs(3600),
    );
    let client = Client::from_conf(
        builder(&gw.guard.url())
            .credentials_provider(Credentials::new(
                AKID_A,
                SECRET_A,
                None,
                None,
                "gateway-key",
            ))
            .time_source(skewed)
            .build(),
    );
    let (code, message) = converse(&client, NOVA).await.unwrap_err();
    assert_eq!(code, "InvalidSignatureException");
    assert!(
        message.starts_with("Signature not yet current"),
        "{message}"
    );
    assert!(double.requests().is_empty());
}

#[tokio::test]
async fn a_tampered_body_fails_the_signature() {
    let double = BedrockDouble::start(REGION).await;
    let gw = gateway(&double, |_| {}).await;
    let url = format!("{}/model/amazon.nova-lite-v1%3A0/converse", gw.guard.url());
    let signed_body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
    let creds = aws_credential_types::Credentials::new(AKID_A, SECRET_A, None, None, "t");
    let headers = bedrock_guard::aws::sign_request(
        "POST",
        &url,
        [("content-type", "application/json")].into_iter(),
        signed_body,
        &creds,
        REGION,
        SystemTime::now(),
    )
    .unwrap();
    let send = |body: &'static [u8]| {
        let mut request = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        request.send()
    };
    assert_eq!(
        send(signed_body).await.unwrap().status(),
        200,
        "the untampered request passes"
    );
    let response = send(br#"{"messages":[{"role":"user","content":[{"text":"ho"}]}]}"#)
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "InvalidSignatureException"
    );
    assert_eq!(double.requests().len(), 1);
}

/// The gateway, also believing `x-mesh-principal` from `trusted`.
async fn gateway_behind_mesh(double: &BedrockDouble, trusted: &'static str) -> Gateway {
    gateway(double, move |config| {
        config.auth.trusted_header = Some(TrustedHeaderConfig {
            header: "x-mesh-principal".into(),
            trusted_cidrs: vec![trusted.into()],
        });
    })
    .await
}

#[tokio::test]
async fn a_trusted_front_proxy_names_the_principal() {
    let double = BedrockDouble::start(REGION).await;
    let gw = gateway_behind_mesh(&double, "127.0.0.0/8").await;
    let call = |who: &'static str| {
        reqwest::Client::new()
            .post(format!(
                "{}/model/amazon.nova-lite-v1%3A0/converse",
                gw.guard.url()
            ))
            .header("x-mesh-principal", who)
            .body(r#"{"messages":[]}"#)
            .send()
    };
    assert_eq!(call("app-a").await.unwrap().status(), 200);
    assert_eq!(
        call("app-b").await.unwrap().status(),
        403,
        "app-b's own permissions"
    );
    let unknown = call("app-z").await.unwrap();
    assert_eq!(unknown.status(), 403);
    assert_eq!(
        unknown.headers()["x-amzn-errortype"],
        "UnrecognizedClientException"
    );
}

#[tokio::test]
async fn an_identity_header_from_an_untrusted_network_is_refused() {
    let double = BedrockDouble::start(REGION).await;
    let gw = gateway_behind_mesh(&double, "10.0.0.0/8").await;
    // Even with a valid API key: an untrusted source asserting an identity is an attack.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/model/amazon.nova-lite-v1%3A0/converse",
            gw.guard.url()
        ))
        .header("x-mesh-principal", "app-a")
        .header("x-api-key", KEY_B)
        .body(r#"{"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "AccessDeniedException"
    );
    assert!(double.requests().is_empty());
}

#[tokio::test]
async fn revoking_a_key_in_a_key_file_takes_effect_on_reload() {
    let double = BedrockDouble::start(REGION).await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("keys.toml");
    let entry = |principal: &str, key: &str| {
        format!(
            "[[api_keys]]\nprincipal = \"{principal}\"\nsha256 = \"{}\"\n",
            api_key::hash_hex(key)
        )
    };
    std::fs::write(
        &key_file,
        entry("app-a", "bgk_from_file_one") + &entry("app-a", "bgk_from_file_two"),
    )
    .unwrap();
    let file = key_file.clone();
    let gw = gateway(&double, move |config| {
        config.auth.api_key_files = vec![file.clone()];
    })
    .await;
    let url = gw.guard.url();
    converse(&bearer_client(&url, "bgk_from_file_one"), NOVA)
        .await
        .unwrap();

    std::fs::write(&key_file, entry("app-a", "bgk_from_file_two")).unwrap();
    gw.guard
        .reloader
        .reload(bedrock_guard::config::ReloadTrigger::Api)
        .await;
    let (code, _) = converse(&bearer_client(&url, "bgk_from_file_one"), NOVA)
        .await
        .unwrap_err();
    assert_eq!(code, "UnrecognizedClientException");
    converse(&bearer_client(&url, "bgk_from_file_two"), NOVA)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_principal_can_call_bedrock_as_its_own_assumed_role() {
    let double = BedrockDouble::start(REGION).await;
    double.accept_credentials(ROLE_ACCESS_KEY, ROLE_SECRET_KEY, ROLE_SESSION_TOKEN);
    let sts = StsDouble::start().await;
    let sts_url = sts.url.clone();
    let gw = gateway(&double, move |config| {
        let mut app_c = principal("app-c", "search");
        app_c.assume_role_arn = Some("arn:aws:iam::123456789012:role/bedrock-app-c".into());
        config.principals.push(app_c);
        config.auth.api_keys.push(ApiKeyEntry {
            principal: "app-c".into(),
            sha256: api_key::hash_hex("bgk_app_c"),
        });
        config.upstream.sts_endpoint = Some(sts_url.clone());
    })
    .await;
    let client = bearer_client(&gw.guard.url(), "bgk_app_c");
    converse(&client, NOVA).await.unwrap();
    converse(&client, NOVA).await.unwrap();
    // app-a keeps using the proxy's own credentials.
    converse(&bearer_client(&gw.guard.url(), KEY_A), NOVA)
        .await
        .unwrap();

    let requests = double.requests();
    assert_eq!(requests.len(), 3);
    for request in &requests[..2] {
        assert_eq!(request.signature, Ok(()));
        assert!(request
            .header("authorization")
            .unwrap()
            .contains("Credential=ASIAROLEEXAMPLE/"));
        assert_eq!(
            request.header("x-amz-security-token"),
            Some("role-session-token")
        );
    }
    assert!(requests[2]
        .header("authorization")
        .unwrap()
        .contains(&format!("Credential={}/", support::PROXY_ACCESS_KEY)));

    let calls = sts.calls();
    assert_eq!(calls.len(), 1, "the role session is cached");
    let form = &calls[0];
    assert!(form.contains("Action=AssumeRole"), "{form}");
    assert!(form.contains("RoleSessionName=app-c"), "{form}");
    assert!(form.contains("SourceIdentity=app-c"), "{form}");
    assert!(
        form.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbedrock-app-c"),
        "{form}"
    );
}

#[tokio::test]
async fn listening_beyond_loopback_without_authentication_is_refused() {
    let mut config = Config {
        listen: "0.0.0.0:0".parse().unwrap(),
        region: Some(REGION.into()),
        account_id: Some("123456789012".into()),
        ..Config::default()
    };
    let provider = aws_credential_types::provider::SharedCredentialsProvider::new(
        aws_credential_types::Credentials::new("AKID", "secret", None, None, "t"),
    );
    let err = bedrock_guard::Guard::builder(config.clone())
        .credentials_provider(provider.clone())
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without client authentication"),
        "{err}"
    );

    config.auth.allow_unauthenticated_network = true;
    assert!(bedrock_guard::Guard::builder(config.clone())
        .credentials_provider(provider.clone())
        .build()
        .await
        .is_ok());

    config.auth.allow_unauthenticated_network = false;
    let mut app = principal("app", "x");
    app.identity = bedrock_guard::config::IdentityMode::Unrestricted;
    config.principals = vec![app];
    config.auth.api_keys = vec![ApiKeyEntry {
        principal: "app".into(),
        sha256: api_key::hash_hex("k"),
    }];
    let built = bedrock_guard::Guard::builder(config)
        .credentials_provider(provider)
        .build()
        .await;
    assert!(built.is_ok(), "{:?}", built.err());
}
