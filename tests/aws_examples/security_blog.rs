//! AWS Security Blog, "Simplified model access in Amazon Bedrock"
//! (fixtures: `security-blog-simplified-model-access/`; see its SOURCE.md on provenance).

use bedrock_guard::classify::Operation::*;

use super::{check, fixture, Want::*};

const DIR: &str = "security-blog-simplified-model-access";
const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const OPUS3: &str = "anthropic.claude-3-opus-20240229-v1:0";

fn f(name: &str) -> bedrock_guard::policy::PolicySource {
    fixture(&format!("{DIR}/{name}"))
}

/// IAM: "permit or deny Invoke* actions for specific foundation models".
#[test]
fn iam_policies() {
    check(
        &[f("iam-deny-specific-model.json")],
        &[
            (InvokeModel, OPUS3, E),
            (Converse, OPUS3, E),
            (ConverseStream, OPUS3, E),
            (Converse, "us.anthropic.claude-3-opus-20240229-v1:0", E),
            (InvokeModel, SONNET, A),
        ],
    );
    check(
        &[f("iam-allow-specific-models.json")],
        &[
            (Converse, SONNET, A),
            (
                ConverseStream,
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                A,
            ),
            (
                Converse,
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                A,
            ),
            (Converse, "anthropic.claude-3-haiku-20240307-v1:0", I),
        ],
    );
}

/// SCPs: "organizational-level governance", each Deny-only SCP next to `FullAWSAccess`.
#[test]
fn service_control_policies() {
    check(
        &[f("full-access.json"), f("scp-deny-model-family.json")],
        &[(Converse, "deepseek.r1-v1:0", E), (Converse, SONNET, A)],
    );
    check(
        &[
            f("full-access.json"),
            f("scp-allow-only-approved-models.json"),
        ],
        &[
            (Converse, SONNET, A),
            (Converse, "amazon.nova-pro-v1:0", A),
            (Converse, OPUS3, E),
        ],
    );
}
