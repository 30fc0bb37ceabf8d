//! No confused deputy through wrapper ARNs (issue 11, item 6, first part): a deny-list policy (Allow
//! everything, Deny one model family) is not bypassed by calling the model through a prompt router,
//! an undeclared application inference profile, a prompt or a provisioned model. The guard resolves
//! what each wrapper reaches from the Bedrock control plane (the double in
//! `support/controlplane.rs`) and authorizes every model, as AWS does; a wrapper it cannot resolve
//! is refused. End to end: the real SDK -> bedrock-guard -> the Bedrock double.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::sync::Arc;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use bedrock_guard::config::Config;
use bedrock_guard::controlplane::ControlPlaneConfig;
use support::client::{sdk_client, user_message};
use support::controlplane::{
    application_profile, application_profile_arn, fm, prompt_router, provisioned_model,
    system_profile, ControlPlaneDouble, ACCOUNT,
};
use support::guard::{start_guard, GuardOptions, RunningGuard};
use support::BedrockDouble;

const REGION: &str = "us-east-1";
const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const NOVA: &str = "amazon.nova-pro-v1:0";
const US_CLAUDE: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const US_NOVA: &str = "us.amazon.nova-pro-v1:0";

/// Allow everything; deny the Anthropic family (AWS's "deny access for inference on specific models").
const DENY_LIST: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"bedrock:*","Resource":"*"},
    {"Sid":"NoAnthropic","Effect":"Deny","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],
     "Resource":"arn:aws:bedrock:*::foundation-model/anthropic.*"}]}"#;

fn profile_arn(id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{id}")
}

fn control_plane_double_data(cp: &ControlPlaneDouble) {
    let destinations = ["us-east-1", "us-east-2", "us-west-2"];
    cp.add_profile(REGION, system_profile(REGION, US_CLAUDE, &destinations));
    cp.add_profile(REGION, system_profile(REGION, US_NOVA, &destinations));
    cp.add_router(
        REGION,
        prompt_router(
            &format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:default-prompt-router/anthropic.claude:1"),
            &[profile_arn(US_CLAUDE)],
        ),
    );
    cp.add_router(
        REGION,
        prompt_router(
            &format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:prompt-router/novarouter1"),
            &[profile_arn(US_NOVA)],
        ),
    );
    cp.add_provisioned(
        REGION,
        provisioned_model(
            &format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/claudepm1"),
            &fm(REGION, CLAUDE),
        ),
    );
}

async fn guard_with(double: &BedrockDouble, cp: &ControlPlaneDouble, policy: &str) -> RunningGuard {
    let url = cp.url.clone();
    start_guard(
        double,
        GuardOptions {
            configure: Some(Arc::new(move |config: &mut Config| {
                config.control_plane = ControlPlaneConfig {
                    endpoint: Some(url.clone()),
                    start_wait_ms: 30_000,
                    ..ControlPlaneConfig::default()
                };
            })),
            ..GuardOptions::policy(policy)
        },
    )
    .await
}

async fn converse(guard: &RunningGuard, model: &str) -> Result<(), (Option<String>, String)> {
    sdk_client(&guard.url())
        .converse()
        .model_id(model)
        .messages(user_message("hi"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            (
                e.code().map(str::to_owned),
                e.message().unwrap_or_default().to_owned(),
            )
        })
}

fn assert_denied(result: Result<(), (Option<String>, String)>, mentions: &str, what: &str) {
    let (code, message) = result.expect_err(what);
    assert_eq!(
        code.as_deref(),
        Some("AccessDeniedException"),
        "{what}: {message}"
    );
    assert!(message.contains(mentions), "{what}: {message}");
}

#[tokio::test]
async fn a_deny_list_is_not_bypassed_through_wrappers() {
    let double = BedrockDouble::start(REGION).await;
    let cp = ControlPlaneDouble::start().await;
    control_plane_double_data(&cp);
    let guard = guard_with(&double, &cp, DENY_LIST).await;

    // Direct and through a system profile: denied / allowed as the policy says.
    assert_denied(
        converse(&guard, CLAUDE).await,
        "NoAnthropic",
        "direct Claude",
    );
    assert_denied(
        converse(&guard, US_CLAUDE).await,
        "NoAnthropic",
        "us. Claude",
    );
    converse(&guard, NOVA).await.expect("Nova is allowed");
    converse(&guard, US_NOVA)
        .await
        .expect("us. Nova is allowed");

    // The default prompt router for Claude exists in every account: the model behind it is checked.
    let router =
        format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:default-prompt-router/anthropic.claude:1");
    assert_denied(
        converse(&guard, &router).await,
        "NoAnthropic",
        "Claude router",
    );
    // A router that reaches only Nova is allowed, so the denial above is about the model.
    let nova_router = format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:prompt-router/novarouter1");
    converse(&guard, &nova_router)
        .await
        .expect("Nova router is allowed");

    // An application profile created after start-up (not declared in the config): looked up.
    let app = application_profile_arn(REGION, "claudeapp1");
    cp.add_unlisted_profile(
        REGION,
        application_profile(REGION, "claudeapp1", &[fm(REGION, CLAUDE)]),
    );
    assert_denied(
        converse(&guard, &app).await,
        "NoAnthropic",
        "Claude application profile",
    );

    // A provisioned model runs Claude.
    let provisioned = format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/claudepm1");
    assert_denied(
        converse(&guard, &provisioned).await,
        "NoAnthropic",
        "provisioned Claude",
    );

    // A prompt names its model in Prompt management, which the guard does not read: refused.
    let prompt = format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:prompt/PROMPT12345:1");
    assert_denied(
        converse(&guard, &prompt).await,
        "could not be resolved",
        "prompt",
    );
    // An unknown router (GetPromptRouter: not found) is refused the same way.
    let unknown = format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:prompt-router/nosuchrouter");
    assert_denied(
        converse(&guard, &unknown).await,
        "could not be resolved",
        "unknown router",
    );

    // Only the allowed calls reached Bedrock.
    let forwarded: Vec<String> = double.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(forwarded.len(), 3, "{forwarded:?}");
}

#[tokio::test]
async fn router_targets_carry_the_prompt_router_arn() {
    let double = BedrockDouble::start(REGION).await;
    let cp = ControlPlaneDouble::start().await;
    control_plane_double_data(&cp);
    // Nothing may be reached through a prompt router.
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"bedrock:*","Resource":"*"},
        {"Sid":"NoRouters","Effect":"Deny","Action":"bedrock:InvokeModel","Resource":"*",
         "Condition":{"Null":{"bedrock:PromptRouterArn":"false"}}}]}"#;
    let guard = guard_with(&double, &cp, policy).await;
    converse(&guard, US_NOVA).await.expect("no router: allowed");
    let nova_router = format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:prompt-router/novarouter1");
    assert_denied(
        converse(&guard, &nova_router).await,
        "NoRouters",
        "through a router",
    );
}

#[tokio::test]
async fn concurrent_calls_through_a_new_profile_look_it_up_once() {
    let double = BedrockDouble::start(REGION).await;
    let cp = ControlPlaneDouble::start().await;
    control_plane_double_data(&cp);
    // A third system profile makes the listing two pages long.
    cp.add_profile(
        REGION,
        system_profile(REGION, "us.amazon.nova-lite-v1:0", &["us-east-1"]),
    );
    let guard = guard_with(&double, &cp, DENY_LIST).await;
    let app = application_profile_arn(REGION, "novaapp1");
    cp.add_unlisted_profile(
        REGION,
        application_profile(REGION, "novaapp1", &[fm(REGION, NOVA)]),
    );
    let calls: Vec<_> = (0..8).map(|_| converse(&guard, &app)).collect();
    for result in futures_util::future::join_all(calls).await {
        result.expect("Nova through an application profile is allowed");
    }
    assert_eq!(cp.count("GetInferenceProfile"), 1, "{:?}", cp.calls());
    // Listed at start: two pages of system-defined profiles, one of application profiles.
    assert_eq!(cp.count("ListInferenceProfiles"), 3, "{:?}", cp.calls());
}
