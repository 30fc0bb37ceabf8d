//! AWS Organizations User Guide, "Example SCPs for Amazon Bedrock"
//! (fixtures: `organizations-example-scps-bedrock/`).

use bedrock_guard::classify::Operation::*;

use super::{check, fixture, inline, Want::*, FULL_AWS_ACCESS};

const DEEPSEEK: &str = "deepseek.r1-v1:0";
const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const NOVA: &str = "amazon.nova-pro-v1:0";

/// "The policy denies all Amazon Bedrock actions for the specified foundation model [...] The wildcard
/// (.*) in the resource ARN matches all versions and variants of the specified model family."
#[test]
fn deny_access_to_specific_models() {
    let policies = [
        inline("FullAWSAccess", FULL_AWS_ACCESS),
        fixture("organizations-example-scps-bedrock/deny-access-to-specific-models.json"),
    ];
    check(
        &policies,
        &[
            (InvokeModel, DEEPSEEK, E),
            (InvokeModelWithResponseStream, DEEPSEEK, E),
            (Converse, DEEPSEEK, E),
            (ConverseStream, DEEPSEEK, E),
            (CountTokens, DEEPSEEK, E),
            // Every version and variant of the family.
            (Converse, "deepseek.v3-v1:0", E),
            // Through an inference profile the foundation-model check still meets the Deny.
            (Converse, "us.deepseek.r1-v1:0", E),
            // Other families are untouched.
            (Converse, SONNET, A),
            (InvokeModel, NOVA, A),
        ],
    );
}

/// "This policy denies access to all Amazon Bedrock models except those you explicitly specify in the
/// NotResource element." As published, only the placeholder is excepted, so every real model is denied;
/// with the substitutions the page names (`amazon.*`, `amazon.titan-text-premier-v1:0`) those models
/// pass.
#[test]
fn restrict_to_approved_models() {
    let published = fixture("organizations-example-scps-bedrock/restrict-to-approved-models.json");
    let as_published = [inline("FullAWSAccess", FULL_AWS_ACCESS), published.clone()];
    check(
        &as_published,
        &[
            (Converse, NOVA, E),
            (Converse, SONNET, E),
            (InvokeModel, DEEPSEEK, E),
        ],
    );

    let with = |model: &str| {
        let mut p = published.clone();
        p.text = p.text.replace("<model-unique-identifier>", model);
        [inline("FullAWSAccess", FULL_AWS_ACCESS), p]
    };
    check(
        &with("amazon.*"),
        &[
            (Converse, NOVA, A),
            (InvokeModel, "amazon.titan-text-premier-v1:0", A),
            (Converse, SONNET, E),
            // NotResource lists foundation models only: the inference-profile ARN of a profile call is
            // not excepted, so the Deny applies to it ([EL] NotResource: "all resources except").
            (Converse, "us.amazon.nova-pro-v1:0", E),
        ],
    );
    check(
        &with("amazon.titan-text-premier-v1:0"),
        &[
            (InvokeModel, "amazon.titan-text-premier-v1:0", A),
            (InvokeModel, NOVA, E),
        ],
    );
}
