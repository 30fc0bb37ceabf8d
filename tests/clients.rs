//! Real clients nobody here wrote, unchanged, through a gateway guard: the AWS SDK for JavaScript v3
//! (HTTP/2 by default, signing `:authority`), boto3, and the Rust SDK over HTTP/2. The README's
//! client snippets are taken from README.md itself and run here, so the docs cannot drift.
//!
//! Node and Python clients come from `tests/clients/install.sh` (npm and PyPI, pinned, in a
//! throwaway directory). Without `node` or `python3` these tests skip, unless
//! `BEDROCK_GUARD_REQUIRE_CLIENTS=1` (set by `.ci/run`), which turns a skip into a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use aws_sdk_bedrockruntime::config::{Credentials, Region, Token};
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::body::SdkBody;
use bedrock_guard::auth::api_key;
use bedrock_guard::config::{AccessKeyEntry, ApiKeyEntry, Config};
use support::client::user_message;
use support::guard::{start_guard, GuardOptions, RunningGuard};
use support::{BedrockDouble, Mode};

const REGION: &str = "us-east-1";
const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const NOVA: &str = "amazon.nova-lite-v1:0";
/// The README's demo key, so its environment block works as written.
const API_KEY: &str = "bgk_demo_chat_app_do_not_use_in_production";
const ACCESS_KEY_ID: &str = "BGAKCHATAPPTEST00001";
const SECRET: &str = "chat-app/secret/0123456789abcdef0123456789abcdef";
const DOUBLE_TEXT: &str = "hello from the double";

/// The app may use Claude only.
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"ClaudeOnly","Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],
   "Resource":["arn:aws:bedrock:*::foundation-model/anthropic.*",
               "arn:aws:bedrock:*:*:inference-profile/us.anthropic.*"]}]}"#;

async fn gateway(double: &BedrockDouble) -> RunningGuard {
    gateway_with_control_plane(double, None).await
}

/// The gateway; with `control_plane`, its model discovery answers from that control plane.
async fn gateway_with_control_plane(
    double: &BedrockDouble,
    control_plane: Option<String>,
) -> RunningGuard {
    let mut options = GuardOptions::policy(POLICY);
    options.configure = Some(Arc::new(move |config: &mut Config| {
        if let Some(endpoint) = &control_plane {
            config.account_id = Some(support::controlplane::ACCOUNT.into());
            config.control_plane.enabled = true;
            config.control_plane.endpoint = Some(endpoint.clone());
        }
        config.principals = vec![support::principal("chat-app")];
        config.auth.api_keys = vec![ApiKeyEntry {
            principal: "chat-app".into(),
            sha256: api_key::hash_hex(API_KEY),
        }];
        config.auth.allow_inline_secrets = true;
        config.auth.access_keys = vec![AccessKeyEntry {
            principal: "chat-app".into(),
            access_key_id: ACCESS_KEY_ID.into(),
            secret_file: None,
            secret_env: None,
            secret: Some(SECRET.into()),
        }];
    }));
    start_guard(double, options).await
}

/// How a client authenticates to the gateway, as environment variables.
#[derive(Debug, Clone, Copy)]
enum Auth {
    ApiKey,
    SigV4,
}

impl Auth {
    fn env(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Auth::ApiKey => vec![("AWS_BEARER_TOKEN_BEDROCK", API_KEY)],
            Auth::SigV4 => vec![
                ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
            ],
        }
    }
}

/// Where the Node and Python clients are, installed on first use; `None` (skip) when the tool is
/// missing and the run does not require the client tests.
fn clients_dir(tool: &str) -> Option<&'static Path> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let required = std::env::var("BEDROCK_GUARD_REQUIRE_CLIENTS").is_ok_and(|v| v == "1");
    let present = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            !required,
            "BEDROCK_GUARD_REQUIRE_CLIENTS=1 but {tool} is not installed"
        );
        eprintln!("skipped: {tool} is not installed");
        return None;
    }
    Some(DIR.get_or_init(|| {
        let dir = std::env::var_os("BEDROCK_GUARD_CLIENTS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("bedrock-guard-clients"));
        let status = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/install.sh"))
            .arg(&dir)
            .status()
            .expect("run tests/clients/install.sh");
        assert!(status.success(), "tests/clients/install.sh failed");
        dir
    }))
}

/// The fenced block after `<!-- tested: NAME -->` in README.md.
fn readme_snippet(name: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let marker = format!("<!-- tested: {name} -->\n");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README.md has no snippet {name:?}"))
        + marker.len();
    let rest = &readme[start..];
    let body = &rest[rest.find('\n').expect("fence line") + 1..];
    body[..body.find("\n```").expect("closing fence")].to_owned() + "\n"
}

/// The variables a README shell snippet exports (`export A=1 B=2  # comment`).
fn exports(snippet: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for line in readme_snippet(snippet).lines() {
        let Some(assignments) = line.strip_prefix("export ") else {
            continue;
        };
        let assignments = assignments.split("  #").next().unwrap();
        for assignment in assignments.split_whitespace() {
            let (name, value) = assignment.split_once('=').unwrap();
            env.push((name.to_owned(), value.to_owned()));
        }
    }
    env
}

/// The environment the README tells users to set, with the guard's address and the chosen key.
fn readme_env(endpoint: &str, auth: Auth) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (name, value) in exports("env") {
        match name.as_str() {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME" => env.push((name, endpoint.to_owned())),
            "AWS_BEARER_TOKEN_BEDROCK" => assert_eq!(value, API_KEY, "the README's demo key"),
            _ => env.push((name, value)),
        }
    }
    assert!(
        env.iter()
            .any(|(n, _)| n == "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
        "{env:?}"
    );
    env.extend(auth.env().into_iter().map(|(n, v)| (n.into(), v.into())));
    env
}

/// Runs a client with only the given environment (plus PATH and an empty HOME), so nothing but
/// what the README says reaches it: no credentials or config of the machine.
fn run(program: &Path, args: &[&Path], env: &[(String, String)], home: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .output()
        .expect("start client");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}\nstdout: {stdout}\nstderr: {}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// No client credential ever reaches Bedrock: the double sees only the guard's own signature.
fn assert_only_the_guard_signed(double: &BedrockDouble) {
    let requests = double.requests();
    assert!(!requests.is_empty());
    for request in requests {
        let text = format!("{:?}", request.headers);
        assert!(!text.contains(API_KEY), "{text}");
        assert!(!text.contains(ACCESS_KEY_ID), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_sdk_v3_over_http2_signs_authority_and_is_verified() {
    let Some(dir) = clients_dir("node") else {
        return;
    };
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/js/http2.mjs");
    // ESM resolves packages from the script's directory: run a copy next to node_modules.
    let copy = dir.join("js").join("http2-check.mjs");
    std::fs::copy(&script, &copy).unwrap();
    let home = tempfile::tempdir().unwrap();
    for auth in [Auth::SigV4, Auth::ApiKey] {
        let env = readme_env(&guard.url(), auth);
        let stdout = tokio::task::spawn_blocking({
            let copy = copy.clone();
            let home = home.path().to_owned();
            move || {
                run(
                    Path::new("node"),
                    &[&copy, Path::new(CLAUDE), Path::new(NOVA)],
                    &env,
                    &home,
                )
            }
        })
        .await
        .unwrap();
        let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(report["handler"], "NodeHttp2Handler", "{report}");
        assert_eq!(report["protocol"], "h2", "{report}");
        assert_eq!(report["text"], DOUBLE_TEXT, "{auth:?}: {report}");
        assert_eq!(report["denied"], "AccessDeniedException", "{report}");
        assert_eq!(report["deniedStatus"], 403, "{report}");
        let authorization = report["authorization"].as_str().unwrap();
        match auth {
            Auth::SigV4 => {
                // What made every call fail before: `:authority` signed, no `host`.
                assert!(
                    authorization.contains("SignedHeaders=:authority;"),
                    "{authorization}"
                );
                assert!(!authorization.contains(";host;"), "{authorization}");
            }
            Auth::ApiKey => assert_eq!(authorization, format!("Bearer {API_KEY}")),
        }
    }
    assert_only_the_guard_signed(&double);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_js_snippet_runs_with_sigv4_and_an_api_key() {
    let Some(dir) = clients_dir("node") else {
        return;
    };
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double).await;
    let script = dir.join("js").join("readme-snippet.mjs");
    std::fs::write(&script, readme_snippet("js")).unwrap();
    let home = tempfile::tempdir().unwrap();
    for auth in [Auth::SigV4, Auth::ApiKey] {
        let env = readme_env(&guard.url(), auth);
        let (script, home) = (script.clone(), home.path().to_owned());
        let stdout =
            tokio::task::spawn_blocking(move || run(Path::new("node"), &[&script], &env, &home))
                .await
                .unwrap();
        assert_eq!(stdout.trim(), DOUBLE_TEXT, "{auth:?}");
    }
    assert_eq!(double.requests().len(), 2);
    assert_only_the_guard_signed(&double);
}

/// boto3 with the SigV4 key pair, and with an API key it sends itself (botocore refuses bearer
/// tokens over plain HTTP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_boto3_snippets_run_with_sigv4_and_an_api_key() {
    let Some(dir) = clients_dir("python3") else {
        return;
    };
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double).await;
    let work = tempfile::tempdir().unwrap();
    let python = dir.join("py/bin/python");
    for (snippet, auth) in [("boto3", Auth::SigV4), ("boto3-api-key", Auth::ApiKey)] {
        let script = work.path().join(format!("app-{snippet}.py"));
        std::fs::write(&script, readme_snippet(snippet)).unwrap();
        let env = readme_env(&guard.url(), auth);
        let (python, home) = (python.clone(), work.path().to_owned());
        let stdout = tokio::task::spawn_blocking(move || run(&python, &[&script], &env, &home))
            .await
            .unwrap();
        assert_eq!(stdout.trim(), DOUBLE_TEXT, "{snippet}");
    }
    assert_eq!(double.requests().len(), 2);
    assert_only_the_guard_signed(&double);
}

/// A mesh sidecar in front of the guard: forwards every request with the identity header the mesh
/// would add after authenticating the workload. Returns its URL.
async fn mesh_sidecar(guard_url: String, principal: &'static str) -> String {
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (client, guard_url) = (client.clone(), guard_url.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let url = format!("{guard_url}{}", parts.uri.path_and_query().unwrap());
            let mut forwarded = client.request(parts.method, url).body(body);
            for (name, value) in &parts.headers {
                if name != http::header::HOST {
                    forwarded = forwarded.header(name, value);
                }
            }
            let answer = forwarded
                .header(MESH_HEADER, principal)
                .send()
                .await
                .unwrap();
            let mut response = axum::response::Response::new(axum::body::Body::empty());
            *response.status_mut() = answer.status();
            *response.headers_mut() = answer.headers().clone();
            *response.body_mut() = axum::body::Body::from(answer.bytes().await.unwrap());
            response
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

const MESH_HEADER: &str = "x-authenticated-principal";

/// boto3 without credentials (`UNSIGNED`) behind a mesh that names the principal in a trusted header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_boto3_mesh_snippet_runs_behind_a_trusted_header() {
    let Some(dir) = clients_dir("python3") else {
        return;
    };
    let double = BedrockDouble::start(REGION).await;
    let mut options = GuardOptions::policy(POLICY);
    options.configure = Some(Arc::new(|config: &mut Config| {
        config.principals = vec![support::principal("chat-app")];
        config.auth.trusted_header = Some(bedrock_guard::config::TrustedHeaderConfig {
            header: MESH_HEADER.into(),
            trusted_cidrs: vec!["127.0.0.1/32".into()],
        });
    }));
    let guard = start_guard(&double, options).await;
    let sidecar = mesh_sidecar(guard.url(), "chat-app").await;
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("app-mesh.py");
    std::fs::write(&script, readme_snippet("boto3-mesh")).unwrap();
    let env: Vec<(String, String)> = exports("env")
        .into_iter()
        .filter(|(name, _)| name.starts_with("AWS_") && name.ends_with("REGION"))
        .chain([("AWS_ENDPOINT_URL_BEDROCK_RUNTIME".to_owned(), sidecar)])
        .collect();
    let python = dir.join("py/bin/python");
    let home = work.path().to_owned();
    let stdout = tokio::task::spawn_blocking(move || run(&python, &[&script], &env, &home))
        .await
        .unwrap();
    assert_eq!(stdout.trim(), DOUBLE_TEXT);
    let requests = double.requests();
    assert_eq!(requests.len(), 1);
    // The identity header is the mesh's business: it does not travel to Bedrock.
    assert!(!format!("{:?}", requests[0].headers).contains(MESH_HEADER));
}

/// The README's Rust snippet, verbatim between the markers (a test below compares the two).
async fn readme_rust_snippet() -> Result<
    aws_sdk_bedrockruntime::operation::converse::ConverseOutput,
    Box<dyn std::error::Error + Send + Sync>,
> {
    // README rust snippet begin
    use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};

    let config = aws_config::load_from_env().await;
    let client = aws_sdk_bedrockruntime::Client::new(&config);
    let reply = client
        .converse()
        .model_id("anthropic.claude-sonnet-4-5-20250929-v1:0")
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("Hello".into()))
                .build()?,
        )
        .send()
        .await?;
    // README rust snippet end
    Ok(reply)
}

/// Runs the Rust snippet with the README's environment, for both kinds of key. The only test here
/// that sets this process's environment (the others pass an explicit one to their child process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_rust_snippet_runs_with_sigv4_and_an_api_key() {
    let source = include_str!("clients.rs");
    let begin = source.find("// README rust snippet begin\n").unwrap();
    let end = source.find("    // README rust snippet end").unwrap();
    let here: String = source[begin..end]
        .lines()
        .skip(1)
        .map(|line| line.strip_prefix("    ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        here.trim(),
        readme_snippet("rust").trim(),
        "README.md's Rust snippet differs from tests/clients.rs"
    );

    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double).await;
    let home = tempfile::tempdir().unwrap();
    for auth in [Auth::SigV4, Auth::ApiKey] {
        for name in [
            "AWS_BEARER_TOKEN_BEDROCK",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
        ] {
            std::env::remove_var(name);
        }
        std::env::set_var("HOME", home.path());
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        for (name, value) in readme_env(&guard.url(), auth) {
            std::env::set_var(name, value);
        }
        let reply = readme_rust_snippet().await.unwrap();
        let text = reply.output().unwrap().as_message().unwrap().content()[0]
            .as_text()
            .unwrap()
            .clone();
        assert_eq!(text, DOUBLE_TEXT, "{auth:?}");
    }
    assert_eq!(double.requests().len(), 2);
    assert_only_the_guard_signed(&double);
}

/// An SDK HTTP client that speaks HTTP/2 with prior knowledge over plain TCP (what the Rust SDK
/// does over TLS when the server offers h2), one connection per request.
#[derive(Debug, Clone)]
struct Http2PriorKnowledge;

impl HttpConnector for Http2PriorKnowledge {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::new(async move {
            let io = |e: Box<dyn std::error::Error + Send + Sync>| ConnectorError::io(e);
            let request = request.try_into_http1x().map_err(|e| io(e.into()))?;
            let authority = request.uri().authority().unwrap().as_str().to_owned();
            let stream = tokio::net::TcpStream::connect(&authority)
                .await
                .map_err(|e| io(e.into()))?;
            let (mut send, connection) = hyper::client::conn::http2::handshake(
                hyper_util::rt::TokioExecutor::new(),
                hyper_util::rt::TokioIo::new(stream),
            )
            .await
            .map_err(|e| io(e.into()))?;
            tokio::spawn(connection);
            let response = send.send_request(request).await.map_err(|e| io(e.into()))?;
            assert_eq!(response.version(), http::Version::HTTP_2);
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x)).map_err(|e| io(e.into()))
        })
    }
}

impl HttpClient for Http2PriorKnowledge {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

#[tokio::test]
async fn rust_sdk_over_http2_with_sigv4_and_an_api_key() {
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double).await;
    let builder = || {
        aws_sdk_bedrockruntime::Config::builder()
            .behavior_version_latest()
            .region(Region::new(REGION))
            .endpoint_url(guard.url())
            .http_client(Http2PriorKnowledge)
            .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
    };
    let sigv4 = builder()
        .credentials_provider(Credentials::new(ACCESS_KEY_ID, SECRET, None, None, "t"))
        .build();
    let bearer = builder()
        .bearer_token(Token::new(API_KEY, None))
        .auth_scheme_preference([
            aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
        ])
        .build();
    let wrong_secret = builder()
        .credentials_provider(Credentials::new(ACCESS_KEY_ID, "not-it", None, None, "t"))
        .build();
    for conf in [sigv4, bearer] {
        let client = aws_sdk_bedrockruntime::Client::from_conf(conf);
        let reply = client
            .converse()
            .model_id(CLAUDE)
            .messages(user_message("hi"))
            .send()
            .await
            .unwrap();
        let text = reply.output().unwrap().as_message().unwrap().content()[0]
            .as_text()
            .unwrap()
            .clone();
        assert_eq!(text, DOUBLE_TEXT);
        let denied = client
            .converse()
            .model_id(NOVA)
            .messages(user_message("hi"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Some("AccessDeniedException"));
    }
    // The signature is really checked over HTTP/2.
    let err = aws_sdk_bedrockruntime::Client::from_conf(wrong_secret)
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    assert_eq!(double.requests().len(), 2);
    assert_only_the_guard_signed(&double);
}

/// Claude Code's start-up, as it sends it (recorded from `claude -p` 2.1.332 with
/// `CLAUDE_CODE_USE_BEDROCK=1`): a ListInferenceProfiles call, then a one-token InvokeModel for each
/// model it knows. Refusing those is the policy working, not a failure: no `refused` or decision
/// line at info for them (the audit event still records each), while a real denied call keeps both.
#[tokio::test]
async fn claude_code_start_up_probes_do_not_read_as_failures() {
    let logs = support::thread_logs::capture();
    let double = BedrockDouble::start(REGION).await;
    let guard = gateway(&double).await;
    let http = reqwest::Client::new();
    let listing = http
        .get(format!(
            "{}/inference-profiles?type=SYSTEM_DEFINED",
            guard.url()
        ))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    // No control plane here: the listing is unavailable (503), and Claude Code falls back to its
    // built-in model list.
    assert_eq!(listing.status(), 503);
    let probe = r#"{"max_tokens":1,"messages":[{"role":"user","content":"."}],"anthropic_version":"bedrock-2023-05-31"}"#;
    let invoke = |model: &str, body: &'static str| {
        http.post(format!("{}/model/{model}/invoke", guard.url()))
            .bearer_auth(API_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for model in ["us.amazon.nova-pro-v1%3A0", "amazon.nova-lite-v1%3A0"] {
        assert_eq!(invoke(model, probe).await.unwrap().status(), 403);
    }
    let real = r#"{"max_tokens":1024,"messages":[{"role":"user","content":"hello"}],"anthropic_version":"bedrock-2023-05-31"}"#;
    assert_eq!(
        invoke("amazon.nova-lite-v1%3A0", real)
            .await
            .unwrap()
            .status(),
        403
    );

    let lines = logs.lines();
    let messages = |wanted: &str| -> Vec<serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["fields"]["message"] == wanted)
            .map(|l| l["fields"].clone())
            .collect()
    };
    let refused = messages("refused");
    assert_eq!(refused.len(), 1, "only the real call: {refused:?}");
    assert!(refused[0]["error"]
        .as_str()
        .unwrap()
        .contains("not authorized"));
    assert_eq!(messages("decision").len(), 1, "only the real call");
    assert!(messages("failed").is_empty(), "{lines:?}");
    // Every request, probes included, still has its audit event.
    assert_eq!(messages("audit").len(), 4, "{lines:?}");
}

/// Claude Code itself (2.1.332, from npm), driven with `claude -p` and the README's environment,
/// through the gateway (API key) and through a local dev proxy (no key,
/// `CLAUDE_CODE_SKIP_BEDROCK_AUTH=1`), against a double answering as an Anthropic model does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_claude_code_runs_through_the_gateway_and_a_local_proxy() {
    let Some(dir) = clients_dir("node") else {
        return;
    };
    let claude = dir.join("js/node_modules/.bin/claude");
    let double = BedrockDouble::start(REGION).await;
    double.set_mode(Mode::Anthropic);
    // Through the gateway, Claude Code's ListInferenceProfiles is answered, filtered by policy.
    let control = support::controlplane::ControlPlaneDouble::start().await;
    for id in [
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.amazon.nova-pro-v1:0",
    ] {
        control.add_profile(
            REGION,
            support::controlplane::system_profile(
                REGION,
                id,
                &["us-east-1", "us-east-2", "us-west-2"],
            ),
        );
    }
    let gateway = gateway_with_control_plane(&double, Some(control.url.clone())).await;
    let local = start_guard(&double, GuardOptions::policy(POLICY)).await;
    let home = tempfile::tempdir().unwrap();
    for (snippet, guard) in [
        ("claude-code-gateway", &gateway),
        ("claude-code-local", &local),
    ] {
        let mut env: Vec<(String, String)> = exports(snippet)
            .into_iter()
            .map(|(name, value)| match name.as_str() {
                "ANTHROPIC_BEDROCK_BASE_URL" => (name, guard.url()),
                _ => (name, value),
            })
            .collect();
        assert!(env.iter().any(|(n, _)| n == "CLAUDE_CODE_USE_BEDROCK"));
        // The test machine has no internet: no update checks or telemetry (not needed otherwise).
        env.push(("DISABLE_AUTOUPDATER".into(), "1".into()));
        env.push((
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
            "1".into(),
        ));
        let (claude, home) = (claude.clone(), home.path().to_owned());
        let stdout = tokio::task::spawn_blocking(move || {
            run(
                Path::new("timeout"),
                &[
                    Path::new("300"),
                    &claude,
                    Path::new("-p"),
                    Path::new("Say hello"),
                ],
                &env,
                &home,
            )
        })
        .await
        .unwrap();
        assert_eq!(stdout.trim(), support::double::ANTHROPIC_TEXT, "{snippet}");
    }
    // The answer came from the model the README pins, streamed, through the guard.
    let streamed = double
        .requests()
        .into_iter()
        .filter(|r| {
            r.path
                == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
        })
        .count();
    assert!(streamed >= 2, "{:?}", double.requests());
    assert_only_the_guard_signed(&double);
}

/// Every code block of the README's Clients section is marked `<!-- tested: NAME -->`, and every
/// marked snippet is one this file runs: a new snippet cannot go untested.
#[test]
fn every_client_snippet_in_the_readme_is_run_here() {
    const RUN_HERE: &[&str] = &[
        "env",
        "boto3",
        "boto3-api-key",
        "boto3-mesh",
        "js",
        "rust",
        "claude-code-gateway",
        "claude-code-local",
    ];
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let source = include_str!("clients.rs");
    let mut marked = Vec::new();
    for line in readme.lines() {
        if let Some(name) = line
            .strip_prefix("<!-- tested: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        {
            marked.push(name.to_owned());
        }
    }
    let mut expected: Vec<String> = RUN_HERE.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    marked.sort();
    assert_eq!(marked, expected);
    for name in RUN_HERE {
        assert!(
            source.matches(&format!("\"{name}\"")).count() >= 2,
            "snippet {name} is not used by a test"
        );
    }
    let section = readme
        .split("## Clients: SDKs and tools through the guard")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let lines: Vec<&str> = section.lines().collect();
    let mut in_block = false;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("```") {
            if !in_block {
                let marker = if i > 0 { lines[i - 1] } else { "" };
                // Only SDKs that cannot be installed here may say so, and must.
                let unrunnable = matches!(*line, "```java" | "```go")
                    && marker.starts_with("<!-- not run here: ");
                assert!(
                    marker.starts_with("<!-- tested: ") || unrunnable,
                    "untested code block in the README's Clients section: {:?}",
                    lines.get(i + 1)
                );
            }
            in_block = !in_block;
        }
    }
}
