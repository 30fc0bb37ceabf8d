//! Amazon Bedrock User Guide, model-invocation identity policies (fixtures: `bedrock-user-guide/`).

use bedrock_guard::classify::Operation::{self, *};

use super::{check, fixture, Want, Want::*};

const MODELS: [&str; 4] = [
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "amazon.nova-pro-v1:0",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
];

/// For every model: the four invocation APIs allowed, CountTokens implicitly denied.
fn invocation_allowed_count_tokens_not() -> Vec<(Operation, &'static str, Want)> {
    let mut cases = Vec::new();
    for model in MODELS {
        for op in [
            InvokeModel,
            InvokeModelWithResponseStream,
            Converse,
            ConverseStream,
        ] {
            cases.push((op, model, A));
        }
        cases.push((CountTokens, model, I));
    }
    cases
}

/// "Prerequisites for running model inference": the policy allows "the InvokeModel,
/// InvokeModelWithResponseStream, Converse, and ConverseStream actions with all supported resources".
/// "Making inference requests" (bedrock-runtime endpoint) grants the same invocation actions.
#[test]
fn model_invocation_permissions_allow_the_four_invocation_apis_on_every_model() {
    for file in [
        "bedrock-user-guide/inference-prereq-model-invocation.json",
        "bedrock-user-guide/inference-endpoint-bedrock-runtime.json",
    ] {
        // bedrock:CountTokens is not among the actions granted: no Allow, implicit deny.
        check(&[fixture(file)], &invocation_allowed_count_tokens_not());
    }
}

/// "Prerequisites for inference profiles": the policy "allows a role to [...] run model inference using
/// all foundation models and inference profiles" (`bedrock:InvokeModel*` on foundation-model,
/// inference-profile and application-inference-profile ARNs).
#[test]
fn inference_profile_prerequisites_allow_inference_on_models_and_profiles() {
    let policies = [fixture("bedrock-user-guide/inference-profiles-prereq.json")];
    // `bedrock:InvokeModel*` does not reach bedrock:CountTokens.
    check(&policies, &invocation_allowed_count_tokens_not());
}
