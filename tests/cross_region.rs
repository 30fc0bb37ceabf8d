//! Cross-Region inference decided as AWS decides it (issue 12, requirements 1 and 2): each profile
//! call is authorized against the profile's real destinations (control plane, else the built-in
//! per-model table), and each destination check carries its own region as `aws:RequestedRegion`.
//! AWS's example policies are the files in `tests/fixtures/aws-examples/cross-region/` (unchanged;
//! placeholders filled here), with the decisions the AWS pages document.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_types::region::Region;
use bedrock_guard::authz::{self, Answer, Question};
use bedrock_guard::classify::{RouteSource, Routing};
use bedrock_guard::config::{self, Overrides, Snapshot};
use bedrock_guard::controlplane::{ControlPlane, ControlPlaneConfig};
use support::controlplane::{system_profile, ControlPlaneDouble};
use support::{PROXY_ACCESS_KEY, PROXY_SECRET_KEY, PROXY_SESSION_TOKEN};

const ACCOUNT: &str = "123456789012";
const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const US_SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const GLOBAL_SONNET: &str = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";

const FULL_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/aws-examples/cross-region/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

/// AWS's placeholders, filled for account 123456789012, us-east-1 and Claude Sonnet 4.5.
fn filled(text: &str) -> String {
    text.replace("<ACCOUNT_ID>", ACCOUNT)
        .replace("<ACCOUNT>", ACCOUNT)
        .replace("<REQUESTING REGION>", "us-east-1")
        .replace("<MODEL NAME>", SONNET)
}

/// A config with `identity` as the caller's policies and, when given, `scps` at the org root.
fn snapshot(identity: &str, scps: &[&str]) -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    write("identity.json", identity);
    let mut toml = format!(
        "region = \"us-east-1\"\naccount_id = \"{ACCOUNT}\"\n[policy]\nfiles = [\"identity.json\"]\n"
    );
    if !scps.is_empty() {
        let mut names = Vec::new();
        for (i, scp) in scps.iter().enumerate() {
            let name = format!("scp-{i}.json");
            write(&name, scp);
            names.push(format!("\"{name}\""));
        }
        toml.push_str(&format!("[org]\nroot_scps = [{}]\n", names.join(", ")));
    }
    let path = write("config.toml", &toml);
    let config = config::load(Some(&path), &Overrides::default()).unwrap();
    Snapshot::compile(&config, 1).unwrap()
}

fn question<'a>(model: &'a str, region: &'a str) -> Question<'a> {
    Question {
        model,
        region: Some(region),
        ..Question::default()
    }
}

fn ask(snapshot: &Snapshot, model: &str, region: &str) -> Answer {
    authz::ask(snapshot, &question(model, region)).unwrap()
}

fn allowed(snapshot: &Snapshot, model: &str, region: &str) -> bool {
    ask(snapshot, model, region).decision.is_allowed()
}

/// The (arn, aws:RequestedRegion) of each check.
fn requested_regions(answer: &Answer) -> Vec<(String, Option<String>)> {
    answer
        .checks
        .iter()
        .map(|c| {
            let region = c
                .context
                .iter()
                .find(|(k, _)| *k == "aws:RequestedRegion")
                .map(|(_, v)| v.clone());
            (c.arn.clone(), region)
        })
        .collect()
}

fn fm(region: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{SONNET}")
}

#[test]
fn the_geographic_example_allows_the_documented_call() {
    let snap = snapshot(&filled(&fixture("geographic-identity-policy.json")), &[]);
    let answer = ask(&snap, US_SONNET, "us-east-1");
    assert!(answer.decision.is_allowed(), "{}", answer.decision);
    // Routed per model: us-east-1, us-east-2 and us-west-2 only (not the whole `us` prefix).
    assert_eq!(answer.routing_source, Some(RouteSource::BuiltinModelTable));
    let profile = format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/{US_SONNET}");
    assert_eq!(
        requested_regions(&answer),
        vec![
            (profile, None),
            (fm("us-east-1"), Some("us-east-1".to_owned())),
            (fm("us-east-2"), Some("us-east-2".to_owned())),
            (fm("us-west-2"), Some("us-west-2".to_owned())),
        ]
    );
    // The foundation model is allowed only through the profile (bedrock:InferenceProfileArn).
    assert!(!allowed(&snap, SONNET, "us-east-1"));
    // Another source region has another profile ARN, which the policy does not name.
    assert!(!allowed(&snap, US_SONNET, "us-west-2"));
}

#[test]
fn a_profile_the_builtin_table_does_not_know_falls_back_to_its_whole_prefix() {
    let snap = snapshot(FULL_ACCESS, &[]);
    // Claude Sonnet 5's model card gives no per-source-region destinations.
    let answer = ask(&snap, "us.anthropic.claude-sonnet-5", "us-east-1");
    assert_eq!(answer.routing_source, Some(RouteSource::BuiltinPrefixTable));
    let regions: Vec<_> = requested_regions(&answer)
        .into_iter()
        .filter_map(|(_, r)| r)
        .collect();
    assert_eq!(
        regions,
        [
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "ca-central-1",
            "ca-west-1"
        ]
    );
}

#[test]
fn an_scp_allowing_only_us_east_1_blocks_a_us_profile_that_may_route_elsewhere() {
    let scp = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*",
        "Condition":{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}}]}"#;
    let snap = snapshot(FULL_ACCESS, &[FULL_ACCESS, scp]);
    let answer = ask(&snap, US_SONNET, "us-east-1");
    assert!(!answer.decision.is_allowed());
    assert!(
        answer.decision.to_string().contains("us-east-2")
            || answer.decision.to_string().contains("us-west-2"),
        "the denial names a destination: {}",
        answer.decision
    );
    // The same model called directly in us-east-1 stays allowed.
    assert!(allowed(&snap, SONNET, "us-east-1"));
}

#[test]
fn an_identity_allow_on_requested_region_does_not_cover_other_destinations() {
    let identity = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel",
        "Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}}]}"#;
    let snap = snapshot(identity, &[]);
    assert!(!allowed(&snap, US_SONNET, "us-east-1"));
    assert!(allowed(&snap, SONNET, "us-east-1"));
}

#[test]
fn the_global_example_allows_the_documented_call() {
    let snap = snapshot(&filled(&fixture("global-identity-policy.json")), &[]);
    let answer = ask(&snap, GLOBAL_SONNET, "us-east-1");
    assert!(answer.decision.is_allowed(), "{}", answer.decision);
    let global = format!("arn:aws:bedrock:::foundation-model/{SONNET}");
    assert!(requested_regions(&answer).contains(&(global, Some("unspecified".to_owned()))));
    assert!(!allowed(&snap, GLOBAL_SONNET, "eu-west-1"));
    assert!(!allowed(&snap, US_SONNET, "us-east-1"));
}

#[test]
fn the_global_scp_allows_global_and_geographic_calls_in_approved_regions_only() {
    let snap = snapshot(
        FULL_ACCESS,
        &[FULL_ACCESS, &fixture("global-scp-approved-regions.json")],
    );
    assert!(allowed(&snap, GLOBAL_SONNET, "us-east-1"));
    assert!(allowed(&snap, US_SONNET, "us-east-1"));
    assert!(!allowed(
        &snap,
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "eu-west-1"
    ));
    // US Claude Haiku 4.5 from us-east-1 routes to approved regions only; from us-west-1 it may route
    // to us-west-1 (its model card), and a `us` profile the built-in table does not know may route to
    // any region of the prefix: both blocked.
    let us_haiku = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
    assert!(allowed(&snap, us_haiku, "us-east-1"));
    assert!(!allowed(&snap, us_haiku, "us-west-1"));
    assert!(!allowed(&snap, "us.anthropic.claude-sonnet-5", "us-east-1"));
}

#[test]
fn the_disable_global_scp_denies_global_profiles_only() {
    let statement = fixture("global-scp-disable-statement.json");
    let scp = format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#);
    let snap = snapshot(FULL_ACCESS, &[FULL_ACCESS, &scp]);
    assert!(!allowed(&snap, GLOBAL_SONNET, "us-east-1"));
    assert!(allowed(&snap, US_SONNET, "us-east-1"));
    assert!(allowed(&snap, SONNET, "us-east-1"));
}

async fn control_plane(double: &ControlPlaneDouble) -> Arc<ControlPlane> {
    let sdk = aws_types::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            PROXY_ACCESS_KEY,
            PROXY_SECRET_KEY,
            Some(PROXY_SESSION_TOKEN.to_owned()),
            None,
            "test",
        )))
        .build();
    let config = ControlPlaneConfig {
        endpoint: Some(double.url.clone()),
        ..ControlPlaneConfig::default()
    };
    let cp = Arc::new(ControlPlane::new(&config, &sdk, &["us-east-1".to_owned()]));
    cp.refresh().await;
    cp
}

#[tokio::test]
async fn routing_comes_from_the_control_plane_when_it_answers() {
    let double = ControlPlaneDouble::start().await;
    double.add_profile(
        "us-east-1",
        system_profile(
            "us-east-1",
            US_SONNET,
            &["us-east-1", "us-east-2", "us-west-2"],
        ),
    );
    let snap = snapshot(&filled(&fixture("geographic-identity-policy.json")), &[]);
    let cp = control_plane(&double).await;
    let answer =
        authz::ask_with_routing(&snap, &question(US_SONNET, "us-east-1"), &cp.routing()).unwrap();
    assert!(answer.decision.is_allowed(), "{}", answer.decision);
    assert_eq!(answer.routing_source, Some(RouteSource::ControlPlane));

    // When the control plane says the profile also routes to us-west-1, AWS would check that
    // region too, and this policy does not allow it.
    let wider = ControlPlaneDouble::start().await;
    wider.add_profile(
        "us-east-1",
        system_profile(
            "us-east-1",
            US_SONNET,
            &["us-east-1", "us-east-2", "us-west-1", "us-west-2"],
        ),
    );
    let cp = control_plane(&wider).await;
    let answer =
        authz::ask_with_routing(&snap, &question(US_SONNET, "us-east-1"), &cp.routing()).unwrap();
    assert!(!answer.decision.is_allowed());
    assert!(
        answer.decision.to_string().contains("us-west-1"),
        "{}",
        answer.decision
    );
}

#[tokio::test]
async fn an_unreachable_control_plane_falls_back_to_the_builtin_table() {
    let double = ControlPlaneDouble::start().await;
    double.set_denied(true);
    let cp = control_plane(&double).await;
    let status = cp.status();
    assert_eq!(
        status["us-east-1"]["routing"], "builtin-model-table",
        "{status}"
    );
    assert!(
        status["us-east-1"]["error"]
            .as_str()
            .unwrap()
            .contains("AccessDeniedException"),
        "{status}"
    );
    let snap = snapshot(&filled(&fixture("geographic-identity-policy.json")), &[]);
    let answer =
        authz::ask_with_routing(&snap, &question(US_SONNET, "us-east-1"), &cp.routing()).unwrap();
    assert!(answer.decision.is_allowed(), "{}", answer.decision);
    assert_eq!(answer.routing_source, Some(RouteSource::BuiltinModelTable));
    // No on-demand lookups against a control plane that refused the listing.
    assert_eq!(
        cp.routing().lookup(
            "us-east-1",
            bedrock_guard::classify::WrapperKind::ApplicationProfile,
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x"
        ),
        bedrock_guard::classify::Lookup::Unknown
    );
}

#[test]
fn explain_json_shows_each_checks_context() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.json");
    std::fs::write(&policy, filled(&fixture("geographic-identity-policy.json"))).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-guard"))
        .args(["explain", "--policy"])
        .arg(&policy)
        .args(["--model", US_SONNET, "--region", "us-east-1", "--json"])
        .args(["--routing", "builtin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(json["routing"], "builtin-model-table", "{json}");
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4, "{json}");
    assert_eq!(checks[2]["arn"], fm("us-east-2"));
    assert_eq!(checks[2]["context"]["aws:RequestedRegion"], "us-east-2");
    assert!(checks[2]["context"]["bedrock:InferenceProfileArn"]
        .as_str()
        .unwrap()
        .ends_with(US_SONNET));
}

#[tokio::test]
async fn a_reload_refreshes_the_listing() {
    let double = ControlPlaneDouble::start().await;
    let cp = control_plane(&double).await;
    let listed = double.count("ListInferenceProfiles");
    let mut generation = cp.subscribe();
    let seen = *generation.borrow_and_update();
    let (reloaded, reloads) = tokio::sync::watch::channel(0u64);
    let _task = cp.start(reloads).await.expect("enabled");
    // The first refresh of start(); then one per reload.
    generation.wait_for(|g| *g > seen).await.unwrap();
    let after_start = *generation.borrow_and_update();
    reloaded.send(1).unwrap();
    generation.wait_for(|g| *g > after_start).await.unwrap();
    assert_eq!(
        double.count("ListInferenceProfiles"),
        listed + 4,
        "{:?}",
        double.calls()
    );
}

#[tokio::test]
async fn readyz_and_metrics_show_the_fallback() {
    use support::guard::{start_guard, GuardOptions};
    let upstream = support::BedrockDouble::start("us-east-1").await;
    let cp = ControlPlaneDouble::start().await;
    cp.set_denied(true);
    let url = cp.url.clone();
    let policy = filled(&fixture("geographic-identity-policy.json"));
    let guard = start_guard(
        &upstream,
        GuardOptions {
            configure: Some(Arc::new(
                move |config: &mut bedrock_guard::config::Config| {
                    config.control_plane = ControlPlaneConfig {
                        endpoint: Some(url.clone()),
                        ..ControlPlaneConfig::default()
                    };
                },
            )),
            ..GuardOptions::policy(&policy)
        },
    )
    .await;
    // AWS's example call is still allowed, from the built-in per-model table.
    support::client::sdk_client(&guard.url())
        .converse()
        .model_id(US_SONNET)
        .messages(support::client::user_message("hi"))
        .send()
        .await
        .expect("allowed from the built-in table");
    let readyz = reqwest::get(format!("{}/readyz", guard.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let readyz: serde_json::Value = serde_json::from_str(&readyz).unwrap();
    assert_eq!(readyz["ready"], true, "{readyz}");
    let region = &readyz["control_plane"]["us-east-1"];
    assert_eq!(region["routing"], "builtin-model-table", "{readyz}");
    assert!(
        region["error"]
            .as_str()
            .unwrap()
            .contains("AccessDeniedException"),
        "{readyz}"
    );
    let metrics = reqwest::get(format!("{}/metrics", guard.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // (bedrock_guard_control_plane_up is a process-wide gauge other tests here set too.)
    assert!(
        metrics.contains("bedrock_guard_control_plane_up{region=\"us-east-1\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bedrock_guard_routing_fallback_total{source=\"builtin-model-table\"} 1"),
        "{metrics}"
    );
}
