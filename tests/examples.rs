//! The policies in `config/examples/` (AWS's published IAM and SCP examples for Bedrock) decide real
//! requests as AWS would: each case goes through the same classification (model id -> resource ARNs)
//! and policy evaluation the proxy runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use bedrock_guard::classify::{
    self, ApplicationProfiles, InferenceProfileTable, ModelId, Operation, ResourceContext, Target,
    UnresolvedWrappers,
};
use bedrock_guard::controlplane::BuiltinRouting;
use bedrock_guard::policy::{AuthzRequest, PolicySet, PolicySource, RequestContext};

const ACCOUNT: &str = "123456789012";
const PRINCIPAL: &str = "arn:aws:iam::123456789012:role/app";

fn example(name: &str) -> PolicySource {
    let path = format!("{}/config/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    PolicySource {
        name: name.trim_end_matches(".json").to_owned(),
        origin: path.clone(),
        text: std::fs::read_to_string(&path).unwrap(),
    }
}

/// Decides `operation` on `model` in `region` under `policies`; returns (allowed, deciding rule).
fn decide(policies: &[&str], operation: Operation, model: &str, region: &str) -> (bool, String) {
    let sources: Vec<PolicySource> = policies.iter().map(|p| example(p)).collect();
    let set = PolicySet::from_sources(&sources).unwrap();
    let id = ModelId::from_decoded(model).unwrap();
    let profiles = InferenceProfileTable::builtin();
    let apps = ApplicationProfiles::new();
    let ctx = ResourceContext {
        region,
        account_id: Some(ACCOUNT),
        profiles: &profiles,
        application_profiles: &apps,
        routing: &BuiltinRouting,
        unresolved: UnresolvedWrappers::Deny,
    };
    let checks = classify::resource_checks(operation, &Target::Model(id), None, &ctx).unwrap();
    let mut context = RequestContext::new();
    context.set("aws:RequestedRegion", region);
    context.set("aws:PrincipalArn", PRINCIPAL);
    let decision = set.evaluate(&AuthzRequest {
        principal_arn: PRINCIPAL,
        action: operation.iam_action(),
        checks: &checks,
        context: &context,
    });
    (
        decision.is_allowed(),
        decision.rule().map(|r| r.to_string()).unwrap_or_default(),
    )
}

use Operation::*;

const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const OPUS3: &str = "anthropic.claude-3-opus-20240229-v1:0";

#[test]
fn iam_deny_specific_model() {
    let p = ["iam-deny-specific-model.json"];
    let cases = [
        (InvokeModel, OPUS3, false),
        (Converse, OPUS3, false), // Converse is governed by bedrock:InvokeModel
        (ConverseStream, OPUS3, false),
        (InvokeModelWithResponseStream, OPUS3, false),
        (InvokeModel, SONNET, true),
        (ConverseStream, SONNET, true),
        // Through a profile the destination foundation-model check still hits the deny.
        (Converse, "us.anthropic.claude-3-opus-20240229-v1:0", false),
        (CountTokens, SONNET, false), // not in the Allow
    ];
    for (op, model, allowed) in cases {
        assert_eq!(
            decide(&p, op, model, "us-east-1").0,
            allowed,
            "{op:?} {model}"
        );
    }
    let (_, rule) = decide(&p, Converse, OPUS3, "us-east-1");
    assert_eq!(rule, "iam-deny-specific-model#DenySpecificModel");
}

#[test]
fn iam_allow_specific_models() {
    let p = ["iam-allow-specific-models.json"];
    let cases = [
        (Converse, SONNET, true),
        (ConverseStream, SONNET, true),
        (
            Converse,
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            true,
        ),
        (
            Converse,
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            true,
        ),
        (
            Converse,
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            true,
        ),
        (Converse, "anthropic.claude-3-haiku-20240307-v1:0", false),
        (Converse, "us.amazon.nova-pro-v1:0", false),
        (CountTokens, SONNET, false),
    ];
    for (op, model, allowed) in cases {
        assert_eq!(
            decide(&p, op, model, "us-east-1").0,
            allowed,
            "{op:?} {model}"
        );
    }
}

#[test]
fn scp_deny_model_family_with_full_access_baseline() {
    let p = ["full-access.json", "scp-deny-model-family.json"];
    let cases = [
        (Converse, "deepseek.r1-v1:0", false),
        (InvokeModel, "deepseek.v3-v1:0", false),
        (Converse, "us.deepseek.r1-v1:0", false),
        (CountTokens, "deepseek.r1-v1:0", false), // bedrock:* covers every action
        (Converse, SONNET, true),
        (Converse, "us.amazon.nova-lite-v1:0", true),
    ];
    for (op, model, allowed) in cases {
        assert_eq!(
            decide(&p, op, model, "us-east-1").0,
            allowed,
            "{op:?} {model}"
        );
    }
    let (_, rule) = decide(&p, Converse, "us.deepseek.r1-v1:0", "us-east-1");
    assert_eq!(rule, "scp-deny-model-family#DenyModelAccessEverywhere");
    // The SCP alone allows nothing, as in AWS without FullAWSAccess.
    assert!(
        !decide(
            &["scp-deny-model-family.json"],
            Converse,
            SONNET,
            "us-east-1"
        )
        .0
    );
}

#[test]
fn scp_allow_only_approved_models() {
    let p = ["full-access.json", "scp-allow-only-approved-models.json"];
    let cases = [
        (Converse, "amazon.nova-lite-v1:0", true),
        (Converse, "amazon.titan-embed-text-v2:0", true),
        (Converse, SONNET, true),
        (Converse, "anthropic.claude-3-haiku-20240307-v1:0", false),
        (Converse, "meta.llama3-70b-instruct-v1:0", false),
        // The NotResource lists only foundation-model ARNs, so the inference-profile ARN itself is
        // denied: AWS behaves the same way (the reason the policy-engine linter warns about it).
        (Converse, "us.amazon.nova-lite-v1:0", false),
    ];
    for (op, model, allowed) in cases {
        assert_eq!(
            decide(&p, op, model, "us-east-1").0,
            allowed,
            "{op:?} {model}"
        );
    }
}

#[test]
fn scp_invoke_only_through_inference_profiles() {
    let p = [
        "full-access.json",
        "scp-invoke-only-through-inference-profiles.json",
    ];
    let cases = [
        // Direct calls in the listed regions are denied...
        (Converse, SONNET, "us-east-1", false),
        (InvokeModelWithResponseStream, SONNET, "us-west-2", false),
        // ...through a system inference profile they are allowed (every FM check carries
        // bedrock:InferenceProfileArn)...
        (
            Converse,
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us-east-1",
            true,
        ),
        (
            Converse,
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us-east-1",
            true,
        ),
        // ...and outside the listed regions the condition does not apply.
        (Converse, SONNET, "eu-west-1", true),
        // CountTokens is not one of the denied actions.
        (CountTokens, SONNET, "us-east-1", true),
    ];
    for (op, model, region, allowed) in cases {
        assert_eq!(
            decide(&p, op, model, region).0,
            allowed,
            "{op:?} {model} {region}"
        );
    }
}

#[test]
fn the_shipped_allowlist_and_default_policy_parse_and_decide() {
    let dir = env!("CARGO_MANIFEST_DIR");
    for (file, model, allowed) in [
        (
            "config/policies/org-allowlist.json",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            true,
        ),
        (
            "config/policies/org-allowlist.json",
            "deepseek.r1-v1:0",
            false,
        ),
        (
            "config/policies/default.json",
            "amazon.nova-lite-v1:0",
            true,
        ),
        (
            "config/policies/default.json",
            "global.amazon.nova-2-lite-v1:0",
            true,
        ),
        (
            "config/policies/default.json",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc",
            false,
        ),
    ] {
        let source = PolicySource {
            name: file.to_owned(),
            origin: file.to_owned(),
            text: std::fs::read_to_string(format!("{dir}/{file}")).unwrap(),
        };
        let set = PolicySet::from_sources(&[source]).unwrap();
        let profiles = InferenceProfileTable::builtin();
        let apps = ApplicationProfiles::new();
        let ctx = ResourceContext {
            region: "us-east-1",
            account_id: Some(ACCOUNT),
            profiles: &profiles,
            application_profiles: &apps,
            routing: &BuiltinRouting,
            // These cases test the policies on the wrapper ARN itself.
            unresolved: UnresolvedWrappers::WrapperOnly,
        };
        let target = Target::Model(ModelId::from_decoded(model).unwrap());
        let checks = classify::resource_checks(Converse, &target, None, &ctx).unwrap();
        let context = RequestContext::new();
        let decision = set.evaluate(&AuthzRequest {
            principal_arn: PRINCIPAL,
            action: "bedrock:InvokeModel",
            checks: &checks,
            context: &context,
        });
        assert_eq!(decision.is_allowed(), allowed, "{file} {model}");
    }
}
