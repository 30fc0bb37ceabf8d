//! Generated policies of any size, shared by `benches/policy.rs` and `tests/policy_alloc.rs`.
//!
//! Shaped like a large real allow/deny list: mostly per-model statements (distinct foundation-model
//! ARNs, some with conditions, one in three a Deny), a few broad statements that no index can narrow
//! (`Resource: "*"`, NotResource), and the statement that allows the benchmarked model.

use bedrock_guard::policy::{PolicySet, PolicySource, RequestContext, ResourceCheck};

pub const PRINCIPAL: &str = "arn:aws:iam::111122223333:role/bench";
pub const MODEL_ARN: &str =
    "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0";
pub const PROFILE_ARN: &str = "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0";
pub const PROFILE_REGIONS: &[&str] = &["us-east-1", "us-east-2", "us-west-1", "us-west-2"];

/// A policy document with exactly `n` statements (n >= 10).
pub fn policy_text(n: usize) -> String {
    let mut statements = Vec::with_capacity(n);
    statements.push(
        r#"{"Sid": "AllowSonnet", "Effect": "Allow", "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            "Resource": ["arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5*", "arn:aws:bedrock:*:*:inference-profile/*.anthropic.claude-sonnet-4-5*"]}"#
            .to_owned(),
    );
    // Broad statements: scanned for every request.
    statements.push(r#"{"Sid": "DenyProvisioned", "Effect": "Deny", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:*:*:provisioned-model/*"}"#.to_owned());
    statements.push(r#"{"Sid": "DenyOutsideRegions", "Effect": "Deny", "Action": "bedrock:*", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "unspecified"]}}}"#.to_owned());
    statements.push(
        r#"{"Sid": "DenyListing", "Effect": "Deny", "Action": "bedrock:List*", "Resource": "*"}"#
            .to_owned(),
    );
    statements.push(r#"{"Sid": "AllowCountTokens", "Effect": "Allow", "Action": "bedrock:CountTokens", "Resource": "*"}"#.to_owned());
    statements.push(r#"{"Sid": "DenyOldClaude", "Effect": "Deny", "Action": "bedrock:Invoke*", "Resource": "arn:aws:bedrock:*::foundation-model/anthropic.claude-v2*"}"#.to_owned());
    let mut i = 0;
    while statements.len() < n {
        let effect = if i % 3 == 0 { "Deny" } else { "Allow" };
        let condition = if i % 5 == 0 {
            r#", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "team-x"}}"#
        } else {
            ""
        };
        statements.push(format!(
            r#"{{"Sid": "Model{i}", "Effect": "{effect}", "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                "Resource": ["arn:aws:bedrock:*::foundation-model/vendor{v}.model-{i}-v1:0", "arn:aws:bedrock:*:*:inference-profile/*.vendor{v}.model-{i}-v1:0"]{condition}}}"#,
            v = i % 37
        ));
        i += 1;
    }
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
        statements.join(",\n")
    )
}

pub fn policy_set(n: usize) -> PolicySet {
    PolicySet::from_sources(&[PolicySource {
        name: format!("generated-{n}"),
        origin: format!("generated-{n}.json"),
        text: policy_text(n),
    }])
    .expect("generated policy compiles")
}

/// A direct foundation-model call: one check.
pub fn direct_checks() -> Vec<ResourceCheck> {
    vec![ResourceCheck::new(MODEL_ARN)]
}

/// A call through the `us.` profile: the profile ARN plus the model in each destination region.
pub fn profile_checks() -> Vec<ResourceCheck> {
    let mut checks = vec![ResourceCheck::new(PROFILE_ARN)];
    for region in PROFILE_REGIONS {
        checks.push(
            ResourceCheck::new(format!(
                "arn:aws:bedrock:{region}::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
            ))
            .with_context("bedrock:InferenceProfileArn", PROFILE_ARN),
        );
    }
    checks
}

pub fn context() -> RequestContext {
    let mut context = RequestContext::new();
    context.set("aws:RequestedRegion", "us-east-1");
    context.set("aws:PrincipalArn", PRINCIPAL);
    context.set("aws:PrincipalTag/team", "ml");
    context
}
