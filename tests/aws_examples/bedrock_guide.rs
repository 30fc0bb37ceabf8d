//! Amazon Bedrock User Guide, model-invocation identity policies (fixtures: `bedrock-user-guide/`).

use bedrock_guard::classify::Operation::*;

use super::{check, fixture, Want::*};

const MODELS: [&str; 4] = [
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "amazon.nova-pro-v1:0",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
];

/// "Prerequisites for running model inference": the policy allows "the InvokeModel,
/// InvokeModelWithResponseStream, Converse, and ConverseStream actions with all supported resources".
/// "Making inference requests" (bedrock-runtime endpoint) grants the same invocation actions.
#[test]
fn model_invocation_permissions_allow_the_four_invocation_apis_on_every_model() {
    for file in [
        "bedrock-user-guide/inference-prereq-model-invocation.json",
        "bedrock-user-guide/inference-endpoint-bedrock-runtime.json",
    ] {
        let policies = [fixture(file)];
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
            // bedrock:CountTokens is not among the actions granted: no Allow, implicit deny.
            cases.push((CountTokens, model, I));
        }
        check(&policies, &cases);
    }
}

/// "Prerequisites for inference profiles": the policy "allows a role to [...] run model inference using
/// all foundation models and inference profiles" (`bedrock:InvokeModel*` on foundation-model,
/// inference-profile and application-inference-profile ARNs).
#[test]
fn inference_profile_prerequisites_allow_inference_on_models_and_profiles() {
    let policies = [fixture("bedrock-user-guide/inference-profiles-prereq.json")];
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
        // `bedrock:InvokeModel*` does not reach bedrock:CountTokens.
        cases.push((CountTokens, model, I));
    }
    check(&policies, &cases);
}
