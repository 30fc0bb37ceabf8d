//! Amazon Bedrock User Guide, model-invocation identity policies and the identity-based policy examples
//! (fixtures: `bedrock-user-guide/`).

use bedrock_guard::classify::Operation::{self, *};

use super::{check, fixture, inline, Want, Want::*, FULL_AWS_ACCESS};

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

/// "Deny access for inference of foundation models" (identity-based policy examples): the policy "denies
/// access to running inference on a specific model" and "can be used as a service control policy (SCP)";
/// "To deny inference access to all foundation models, use `*` for the model ID. Other actions, such as
/// `Converse` and `StartAsyncInvoke`, are blocked automatically when `InvokeModel` is denied."
#[test]
fn deny_inference_of_foundation_models() {
    const DENIED: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    const OTHER: &str = "amazon.nova-pro-v1:0";
    let published = fixture("bedrock-user-guide/iam-deny-inference-foundation-models.json");
    let allow = fixture("bedrock-user-guide/inference-prereq-model-invocation.json");
    let deny = |model: &str| {
        let mut p = published.clone();
        p.text = p.text.replace("{{model-id}}", model);
        p
    };

    // As published, the Resource names the placeholder itself, which no model id equals: next to the
    // "Prerequisites" Allow, every model stays allowed.
    check(
        &[allow.clone(), published.clone()],
        &[
            (InvokeModel, DENIED, A),
            (Converse, DENIED, A),
            (ConverseStream, OTHER, A),
        ],
    );

    // One model id in place of the placeholder: its four invocation APIs are denied (Converse and
    // ConverseStream are authorized as bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream),
    // other models keep the Allow.
    let one_model = [allow.clone(), deny(DENIED)];
    check(
        &one_model,
        &[
            (InvokeModel, DENIED, E),
            (InvokeModelWithResponseStream, DENIED, E),
            (Converse, DENIED, E),
            (ConverseStream, DENIED, E),
            // A profile call is authorized on the foundation model in each destination region (and,
            // for global, on the region-less model ARN); `arn:aws:bedrock:*::foundation-model/<id>`
            // matches each of them, so the Deny applies through profiles too.
            (Converse, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", E),
            (
                Converse,
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                E,
            ),
            (InvokeModel, OTHER, A),
            (Converse, OTHER, A),
            (ConverseStream, "anthropic.claude-3-haiku-20240307-v1:0", A),
        ],
    );

    // `*` for the model id: inference on every foundation model is denied.
    let every_model = [allow, deny("*")];
    let mut cases = Vec::new();
    for model in MODELS.into_iter().chain([OTHER]) {
        for op in [
            InvokeModel,
            InvokeModelWithResponseStream,
            Converse,
            ConverseStream,
        ] {
            cases.push((op, model, E));
        }
    }
    check(&every_model, &cases);

    // As an SCP, next to the FullAWSAccess AWS attaches by default: the same model is denied, the rest
    // allowed. bedrock:CountTokens is not in the Deny's Action list, so FullAWSAccess still allows it.
    check(
        &[inline("FullAWSAccess", FULL_AWS_ACCESS), deny(DENIED)],
        &[
            (Converse, DENIED, E),
            (InvokeModelWithResponseStream, DENIED, E),
            (Converse, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", E),
            (CountTokens, DENIED, A),
            (Converse, OTHER, A),
        ],
    );
}
