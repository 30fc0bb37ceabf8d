//! AWS-documented example policies (`tests/fixtures/aws-examples/`, pasted unchanged with their source)
//! decide what AWS documents for them. Each request goes through the proxy's own classification (model id
//! -> resource ARNs and per-check keys) and policy evaluation. One module per source; see
//! `tests/fixtures/aws-examples/README.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

#[path = "aws_examples/bedrock_guide.rs"]
mod bedrock_guide;
#[path = "aws_examples/organizations.rs"]
mod organizations;
#[path = "aws_examples/security_blog.rs"]
mod security_blog;

use bedrock_guard::classify::{
    self, ApplicationProfiles, InferenceProfileTable, ModelId, Operation, ResourceContext, Target,
    UnresolvedWrappers,
};
use bedrock_guard::controlplane::BuiltinRouting;
use bedrock_guard::policy::{AuthzRequest, Decision, PolicySet, PolicySource, RequestContext};

pub const ACCOUNT: &str = "111122223333";
pub const PRINCIPAL: &str = "arn:aws:iam::111122223333:role/app";

/// AWS's `FullAWSAccess`, attached by default at every level of an organisation: what a Deny-only SCP
/// is combined with.
pub const FULL_AWS_ACCESS: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Allowed.
    A,
    /// Explicit deny.
    E,
    /// Implicit deny.
    I,
}

/// A fixture's text, unchanged.
pub fn fixture(path: &str) -> PolicySource {
    let full = format!(
        "{}/tests/fixtures/aws-examples/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    PolicySource {
        name: path.to_owned(),
        origin: full.clone(),
        text: std::fs::read_to_string(&full).unwrap(),
    }
}

pub fn inline(name: &str, text: &str) -> PolicySource {
    PolicySource {
        name: name.to_owned(),
        origin: name.to_owned(),
        text: text.to_owned(),
    }
}

/// Decides `operation` on `model` (as a client names it) in `region` under one layer of `policies`.
pub fn decide(
    policies: &[PolicySource],
    operation: Operation,
    model: &str,
    region: &str,
) -> Decision {
    let set = PolicySet::from_sources(policies).unwrap();
    let id = ModelId::from_decoded(model).unwrap();
    let profiles = InferenceProfileTable::builtin();
    let apps = ApplicationProfiles::new();
    let checks = classify::resource_checks(
        operation,
        &Target::Model(id),
        None,
        &ResourceContext {
            region,
            account_id: Some(ACCOUNT),
            profiles: &profiles,
            application_profiles: &apps,
            routing: &BuiltinRouting,
            unresolved: UnresolvedWrappers::Deny,
        },
    )
    .unwrap();
    let mut context = RequestContext::new();
    context.set("aws:RequestedRegion", region);
    context.set("aws:PrincipalArn", PRINCIPAL);
    set.evaluate(&AuthzRequest {
        principal_arn: PRINCIPAL,
        action: operation.iam_action(),
        checks: &checks,
        context: &context,
    })
}

pub fn outcome(d: &Decision) -> Want {
    if d.is_allowed() {
        Want::A
    } else if d.is_explicit_deny() {
        Want::E
    } else {
        Want::I
    }
}

/// Runs `(operation, model, want)` cases in us-east-1; reports every failure at once.
pub fn check(policies: &[PolicySource], cases: &[(Operation, &str, Want)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|&(op, model, want)| {
            let got = outcome(&decide(policies, op, model, "us-east-1"));
            (got != want).then(|| format!("{op:?} {model}: want {want:?}, got {got:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
