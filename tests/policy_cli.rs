//! `bedrock-guard check` and `bedrock-guard explain`, run as the built binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[allow(dead_code)] // the STS double's AssumeRole half is for other tests
#[path = "support/sts.rs"]
mod sts;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/examples");

fn run(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_bedrock-guard"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn example(name: &str) -> String {
    format!("{EXAMPLES}/{name}")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_passes_the_example_configs() {
    for config in [
        example("org.toml"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/bedrock-guard.toml").to_owned(),
    ] {
        let out = run(&["check", "--config", &config]);
        assert!(
            out.status.success(),
            "{config}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(stdout(&out).starts_with("ok:"), "{}", stdout(&out));
    }
    let out = run(&["check", "--config", &example("org.toml")]);
    assert!(
        stdout(&out).contains("4 policy tests passed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn check_reports_policy_errors_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.json",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"bedrock:*","Resource":"*"},
            {"Sid":"B","Effect":"Allow","Action":"bedrock:*","Resource":"arn:aws:bedrock","Principal":"*"}]}"#,
    );
    let out = run(&["check", "--policy", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    let err = stderr(&out);
    assert!(err.contains("bad.json"), "{err}");
    assert!(err.contains("statement \"B\" (#1)"), "{err}");
}

#[test]
fn check_prints_lints_and_fails_them_on_request() {
    let policy = example("scp-allow-only-approved-models.json");
    let out = run(&["check", "--policy", &policy]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("warning:"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("inference profiles"),
        "{}",
        stdout(&out)
    );
    let out = run(&["check", "--deny-warnings", "--policy", &policy]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn check_fails_on_a_failing_policy_test() {
    let dir = tempfile::tempdir().unwrap();
    let policy = example("iam-deny-specific-model.json");
    let config = write(
        dir.path(),
        "guard.toml",
        &format!(
            r#"
[policy]
files = ["{policy}"]
[[policy_tests]]
name = "opus is allowed (wrong on purpose)"
model = "anthropic.claude-3-opus-20240229-v1:0"
expect = "allow"
[[policy_tests]]
model = "amazon.nova-pro-v1:0"
expect = "allow"
"#
        ),
    );
    let out = run(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("FAIL policy test opus is allowed (wrong on purpose): expected allow, got explicit deny by iam-deny-specific-model#DenySpecificModel"), "{text}");
    assert!(text.contains("1 of 2 policy tests failed"), "{text}");
}

#[test]
fn check_refuses_a_principal_without_identity_policies() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "guard.toml",
        "[[principals]]\nname = \"app\"\narn = \"arn:aws:iam::111122223333:role/app\"\n",
    );
    let out = run(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("identity = \"unrestricted\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explain_prints_the_decision_and_why() {
    let out = run(&[
        "explain",
        "--config",
        &example("org.toml"),
        "--model",
        "deepseek.r1-v1:0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("decision: deny"), "{text}");
    assert!(
        text.contains("scp-deny-model-family#DenyModelAccessEverywhere (SCPs at root)"),
        "{text}"
    );
    assert!(
        text.contains("with an explicit deny in a service control policy"),
        "{text}"
    );
}

#[test]
fn explain_json_is_one_object() {
    let out = run(&[
        "explain",
        "--config",
        &example("org.toml"),
        "--principal",
        "ml-app",
        "--operation",
        "ConverseStream",
        "--region",
        "us-west-2",
        "--model",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["decision"], "allow");
    assert_eq!(json["action"], "bedrock:InvokeModelWithResponseStream");
    assert_eq!(json["region"], "us-west-2");
    assert!(json["checks"].as_array().unwrap().len() > 2, "{json}");

    let out = run(&[
        "explain",
        "--policy",
        &example("iam-allow-specific-models.json"),
        "--model",
        "amazon.nova-pro-v1:0",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["decision"], "deny");
    assert_eq!(json["outcome"], "implicit deny");
    assert_eq!(json["layer"], "identity");
}

#[test]
fn explain_rejects_unknown_principals_and_operations() {
    let out = run(&["explain", "--model", "x.y-v1:0", "--principal", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nobody"), "{}", stderr(&out));
    let out = run(&["explain", "--model", "x.y-v1:0", "--operation", "Fly"]);
    assert_eq!(out.status.code(), Some(2));
}

fn explain_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["explain", "--json"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn explain_builds_multi_valued_keys_from_repeated_context() {
    let dir = tempfile::tempdir().unwrap();
    let any = write(
        dir.path(),
        "any.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"bedrock:*","Resource":"*",
            "Condition":{"ForAnyValue:StringEquals":{"aws:PrincipalTag/teams":"ml"}}}}"#,
    );
    let all = write(
        dir.path(),
        "all.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"bedrock:*","Resource":"*",
            "Condition":{"ForAllValues:StringEquals":{"aws:PrincipalTag/teams":["ml","search"]}}}}"#,
    );
    let model = "amazon.nova-pro-v1:0";
    let decide = |policy: &Path, values: &[&str]| {
        let mut args = vec!["--policy", policy.to_str().unwrap(), "--model", model];
        let pairs: Vec<String> = values
            .iter()
            .map(|v| format!("aws:PrincipalTag/teams={v}"))
            .collect();
        for pair in &pairs {
            args.extend(["--context", pair.as_str()]);
        }
        let json = explain_json(&args);
        json["decision"].as_str().unwrap().to_owned()
    };
    assert_eq!(decide(&any, &["search", "ml"]), "allow");
    assert_eq!(decide(&any, &["search", "ops"]), "deny");
    assert_eq!(decide(&all, &["search", "ml"]), "allow");
    assert_eq!(decide(&all, &["search", "ops"]), "deny");
    let json = explain_json(&[
        "--policy",
        any.to_str().unwrap(),
        "--model",
        model,
        "--context",
        "aws:PrincipalTag/teams=a",
        "--context",
        "AWS:principaltag/teams=b",
    ]);
    assert_eq!(
        json["context"]["aws:PrincipalTag/teams"],
        serde_json::json!(["a", "b"])
    );
}

#[test]
fn explain_json_shows_each_checks_own_keys_and_the_request_keys() {
    let json = explain_json(&[
        "--policy",
        &example("full-access.json"),
        "--model",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "--account",
        "111122223333",
    ]);
    let checks = json["checks"].as_array().unwrap();
    let profile = "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    assert_eq!(checks[0]["arn"], profile);
    assert_eq!(checks[0]["context"], serde_json::json!({}));
    for check in &checks[1..] {
        assert!(check["arn"]
            .as_str()
            .unwrap()
            .contains(":foundation-model/anthropic.claude-sonnet-4-5"));
        assert_eq!(check["context"]["bedrock:InferenceProfileArn"], profile);
    }
    assert_eq!(json["account_source"], "given");
    let context = &json["context"];
    assert_eq!(context["aws:SourceIp"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(context["aws:SecureTransport"], serde_json::json!(["false"]));
    assert_eq!(
        context["aws:RequestedRegion"],
        serde_json::json!(["us-east-1"])
    );
    assert!(context["aws:EpochTime"].is_array());
}

#[test]
fn explain_warns_about_defaulted_and_unset_keys() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "p.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"bedrock:*","Resource":"*",
            "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"StringEquals":{"bedrock:ServiceTier":"flex"},
            "Null":{"aws:SourceVpc":"true"}}}}"#,
    );
    let p = policy.to_str().unwrap();
    let json = explain_json(&["--policy", p, "--model", "amazon.nova-pro-v1:0"]);
    let warnings: Vec<&str> = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("aws:SourceIp is 127.0.0.1")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("bedrock:ServiceTier is unset")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("aws:SourceVpc is unset")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("placeholder") || w.contains("principal's")),
        "{warnings:?}"
    );
    assert_eq!(json["decision"], "deny");

    // Given on the command line: no warning for them, and the call is allowed.
    let json = explain_json(&[
        "--policy",
        p,
        "--model",
        "amazon.nova-pro-v1:0",
        "--context",
        "aws:SourceIp=10.1.2.3",
        "--context",
        "bedrock:ServiceTier=flex",
        "--account",
        "111122223333",
    ]);
    assert_eq!(json["decision"], "allow");
    let warnings = json["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}"); // aws:SourceVpc stays unset
}

/// `--policy` mode without `account_id`: the account comes from STS with the environment's
/// credentials, as `serve` does (here an STS double on loopback).
#[test]
fn explain_takes_the_account_from_sts_in_policy_mode() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sts = runtime.block_on(sts::StsDouble::start());
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-guard"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_STS", &sts.url)
        .args([
            "explain",
            "--json",
            "--policy",
            &example("full-access.json"),
            "--model",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["account"], sts::CALLER_ACCOUNT);
    assert_eq!(json["account_source"], "sts");
    assert!(json["checks"][0]["arn"]
        .as_str()
        .unwrap()
        .contains(&format!(":{}:inference-profile/", sts::CALLER_ACCOUNT)));
    assert_eq!(sts.calls().len(), 1);
    drop(runtime);
}

#[test]
fn check_warns_about_deny_lists_beside_wrappers_authorized_alone() {
    let dir = tempfile::tempdir().unwrap();
    let policy = example("iam-deny-specific-model.json");
    let config = write(
        dir.path(),
        "config.toml",
        &format!(
            "[policy]\nfiles = [{policy:?}]\n[control_plane]\nenabled = false\nunresolved_wrappers = \"wrapper-only\"\n"
        ),
    );
    let out = run(&["check", "--config", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("wrapper-only"), "{}", stdout(&out));
    // With the default (unresolvable wrappers denied) the guard checks the model: no warning.
    let out = run(&["check", "--routing", "builtin", "--policy", &policy]);
    assert!(!stdout(&out).contains("wrapper"), "{}", stdout(&out));
}
