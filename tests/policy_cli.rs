//! `bedrock-guard check` and `bedrock-guard explain`, run as the built binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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
