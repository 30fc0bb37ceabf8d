//! Which ARNs a classified call is authorized against.
//!
//! Bedrock authorizes one call against several resources: a cross-region inference profile is checked
//! as the profile *and* as the foundation model in every region it may route to. The policy engine
//! must see the same list, or a deny written for the foundation model would not stop the profile.

use super::error::ClassifyError;
use super::model_id::{check_prefix_case, is_account_id, ArnParts, ModelId};
use super::profiles::{
    ApplicationProfiles, InferenceProfileTable, Lookup, RouteSource, Routing, UnresolvedWrappers,
    WrapperKind, GLOBAL_PREFIX,
};
use super::{Operation, Target};
use crate::policy::ResourceCheck;

/// Condition key set on foundation-model checks reached through an inference profile.
pub const INFERENCE_PROFILE_ARN_KEY: &str = "bedrock:InferenceProfileArn";
/// Set per check: each destination region of a profile, `unspecified` on the region-less check of
/// a global profile.
pub const REQUESTED_REGION_KEY: &str = "aws:RequestedRegion";
/// Condition key set on the checks of the models a prompt router can reach.
pub const PROMPT_ROUTER_ARN_KEY: &str = "bedrock:PromptRouterArn";

/// What resource checks a classified call needs.
#[derive(Clone, Copy)]
pub struct ResourceContext<'a> {
    /// The upstream region the proxy calls.
    pub region: &'a str,
    /// The proxy's AWS account, needed for inference-profile and guardrail ARNs.
    pub account_id: Option<&'a str>,
    /// Prefixes of cross-region profiles; configured ones override the control plane.
    pub profiles: &'a InferenceProfileTable,
    /// Application profiles the configuration declares (override the control plane).
    pub application_profiles: &'a ApplicationProfiles,
    /// What wrappers route to (the control-plane cache, or the built-in table).
    pub routing: &'a dyn Routing,
    /// What to do with a wrapper whose models cannot be resolved.
    pub unresolved: UnresolvedWrappers,
}

impl std::fmt::Debug for ResourceContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceContext")
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("unresolved", &self.unresolved)
            .finish_non_exhaustive()
    }
}

/// The ARN partition of a region.
pub fn partition_for_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// Every resource the call is authorized against. All of them must be allowed.
///
/// `body_model` is the `modelId` of a StartAsyncInvoke body ([`super::model_id_from_async_body`]);
/// it is ignored for other targets. A target that does not belong to `operation` is refused, so a
/// caller mix-up cannot authorize a model call against `*`.
pub fn resource_checks(
    operation: Operation,
    target: &Target,
    body_model: Option<&ModelId>,
    ctx: &ResourceContext<'_>,
) -> Result<Vec<ResourceCheck>, ClassifyError> {
    resource_checks_with_source(operation, target, body_model, ctx).map(|(checks, _)| checks)
}

/// [`resource_checks`], plus where the routing of a wrapper came from (`None`: no wrapper).
pub fn resource_checks_with_source(
    operation: Operation,
    target: &Target,
    body_model: Option<&ModelId>,
    ctx: &ResourceContext<'_>,
) -> Result<(Vec<ResourceCheck>, Option<RouteSource>), ClassifyError> {
    if !target_fits(operation, target) {
        return Err(ClassifyError::invalid_request(format!(
            "{} cannot be authorized against this target",
            operation.name()
        )));
    }
    let mut source = None;
    let checks = match target {
        Target::Model(id) => model_checks(id, ctx, &mut source)?,
        Target::ModelInBody => match body_model {
            Some(id) => model_checks(id, ctx, &mut source)?,
            None => {
                return Err(ClassifyError::invalid_request(format!(
                    "{} needs the model id of its request body",
                    operation.name()
                )))
            }
        },
        // Bedrock's docs name no resource type for a stored OpenAI-compatible response (only the
        // account's default project is served on bedrock-runtime), so these are authorized on `*`.
        Target::StoredResponse { .. } => vec![ResourceCheck::new("*")],
        Target::Guardrail { identifier, .. } => guardrail_checks(identifier, ctx)?,
        Target::AsyncInvocation { arn } => {
            validate_async_invocation_arn(arn).map_err(ClassifyError::invalid_request)?;
            vec![ResourceCheck::new(arn.as_str())]
        }
        Target::None => vec![ResourceCheck::new("*")],
    };
    Ok((checks, source))
}

fn target_fits(operation: Operation, target: &Target) -> bool {
    match target {
        Target::Model(_) => matches!(
            operation,
            Operation::InvokeModel
                | Operation::InvokeModelWithResponseStream
                | Operation::Converse
                | Operation::ConverseStream
                | Operation::CountTokens
                | Operation::InvokeModelWithBidirectionalStream
        ),
        Target::Guardrail { .. } => operation == Operation::ApplyGuardrail,
        Target::ModelInBody => matches!(
            operation,
            Operation::StartAsyncInvoke
                | Operation::ChatCompletions
                | Operation::ChatCompletionsStream
                | Operation::CreateResponse
                | Operation::CreateResponseStream
        ),
        Target::StoredResponse { .. } => matches!(
            operation,
            Operation::GetResponse | Operation::DeleteResponse | Operation::CancelResponse
        ),
        Target::AsyncInvocation { .. } => operation == Operation::GetAsyncInvoke,
        // InvokeGuardrailChecks has no resource type in the Service Authorization Reference.
        Target::None => matches!(
            operation,
            Operation::ListAsyncInvokes | Operation::InvokeGuardrailChecks
        ),
    }
}

fn account<'a>(ctx: &ResourceContext<'a>) -> Result<&'a str, ClassifyError> {
    // A malformed account would make ARNs that no account-scoped deny statement matches.
    ctx.account_id
        .filter(|a| is_account_id(a))
        .ok_or(ClassifyError::AccountIdUnknown)
}

fn foundation_model_arn(partition: &str, region: &str, model: &str) -> String {
    // `concat` rather than `format!`: one exact allocation, no formatting machinery, once per call.
    [
        "arn:",
        partition,
        ":bedrock:",
        region,
        "::foundation-model/",
        model,
    ]
    .concat()
}

/// The region of a foundation-model ARN as `aws:RequestedRegion` sees it (`unspecified` when the
/// ARN names none, as for the region-less model of a global profile).
fn requested_region_of(arn: &str) -> String {
    match ArnParts::parse(arn) {
        Ok(parts) if !parts.region.is_empty() => parts.region.to_owned(),
        _ => "unspecified".to_owned(),
    }
}

/// The least trustworthy source wins, so `explain` never overstates where routing came from.
fn note_source(slot: &mut Option<RouteSource>, source: RouteSource) {
    let rank = |s: RouteSource| match s {
        RouteSource::Config => 0,
        RouteSource::ControlPlane => 1,
        RouteSource::BuiltinModelTable => 2,
        RouteSource::BuiltinPrefixTable => 3,
    };
    if slot.is_none_or(|current| rank(source) > rank(current)) {
        *slot = Some(source);
    }
}

fn model_checks(
    id: &ModelId,
    ctx: &ResourceContext<'_>,
    source: &mut Option<RouteSource>,
) -> Result<Vec<ResourceCheck>, ClassifyError> {
    if id.is_arn() {
        return model_arn_checks(id.as_str(), ctx, source, 0);
    }
    let partition = partition_for_region(ctx.region);
    let id = id.as_str();
    if let Some((prefix, model)) = id.split_once('.') {
        if ctx.profiles.regions(prefix).is_some() {
            if model.is_empty() {
                return Err(ClassifyError::invalid_model_id(format!(
                    "inference profile id '{prefix}.' names no model"
                )));
            }
            let profile_arn = format!(
                "arn:{partition}:bedrock:{}:{}:inference-profile/{id}",
                ctx.region,
                account(ctx)?
            );
            return profile_checks(ctx, partition, &profile_arn, id, &[ctx.region], source);
        }
        check_prefix_case(prefix, ctx.profiles.prefixes())?;
        let mut checks = vec![ResourceCheck::new(foundation_model_arn(
            partition, ctx.region, id,
        ))];
        // `xx.provider.model` may be a cross-region profile whose prefix AWS introduced after this
        // table: Bedrock would route it to `provider.model`, so that model must pass too, or a deny
        // on `foundation-model/provider.*` could be sidestepped. Fails closed for allowlists.
        if model.contains('.') {
            checks.push(ResourceCheck::new(foundation_model_arn(
                partition, ctx.region, model,
            )));
        }
        return Ok(checks);
    }
    Ok(vec![ResourceCheck::new(foundation_model_arn(
        partition, ctx.region, id,
    ))])
}

/// Router targets may be inference profiles, which lead to models: deep enough for that, and a
/// bound so a malformed answer cannot recurse forever.
const MAX_WRAPPER_DEPTH: u8 = 2;

fn model_arn_checks(
    arn: &str,
    ctx: &ResourceContext<'_>,
    source: &mut Option<RouteSource>,
    depth: u8,
) -> Result<Vec<ResourceCheck>, ClassifyError> {
    let parts = ArnParts::parse(arn).map_err(ClassifyError::invalid_model_id)?;
    match parts.resource_type {
        "foundation-model" => {
            let mut checks = vec![ResourceCheck::new(arn)];
            // The call runs in the proxy's region whatever region the ARN names; check that model
            // too so a deny scoped to the calling region cannot be sidestepped.
            if parts.region != ctx.region {
                checks.push(ResourceCheck::new(foundation_model_arn(
                    partition_for_region(ctx.region),
                    ctx.region,
                    parts.resource_id,
                )));
            }
            Ok(checks)
        }
        "inference-profile" => {
            let (prefix, _) = parts
                .resource_id
                .split_once('.')
                .filter(|(p, m)| !p.is_empty() && !m.is_empty())
                .ok_or_else(|| {
                    ClassifyError::invalid_model_id(
                        "an inference-profile ARN must end in '/{prefix}.{model}'",
                    )
                })?;
            // Without the destination regions the foundation-model checks cannot be built, and
            // authorizing the profile alone would bypass model denies: refuse instead.
            if ctx.profiles.regions(prefix).is_none() {
                return Err(ClassifyError::invalid_model_id(format!(
                    "unknown inference profile prefix '{prefix}'; declare its regions under \
                     inference_profiles in the configuration"
                )));
            }
            profile_checks(
                ctx,
                parts.partition,
                arn,
                parts.resource_id,
                &[ctx.region, parts.region],
                source,
            )
        }
        "application-inference-profile" => {
            let models = match ctx.application_profiles.get(arn) {
                Some(models) => {
                    note_source(source, RouteSource::Config);
                    models.to_vec()
                }
                None => match ctx
                    .routing
                    .lookup(ctx.region, WrapperKind::ApplicationProfile, arn)
                {
                    Lookup::Models { arns, source: from } => {
                        note_source(source, from);
                        arns
                    }
                    Lookup::NotCached => {
                        return Err(not_cached(ctx, WrapperKind::ApplicationProfile, arn))
                    }
                    Lookup::Unknown => {
                        return unresolved(ctx, WrapperKind::ApplicationProfile, arn)
                    }
                },
            };
            let mut checks = vec![ResourceCheck::new(arn)];
            checks.extend(models.iter().map(|model| {
                ResourceCheck::new(model.as_str())
                    .with_context(INFERENCE_PROFILE_ARN_KEY, arn)
                    .with_context(REQUESTED_REGION_KEY, requested_region_of(model))
            }));
            Ok(checks)
        }
        kind @ ("prompt-router" | "default-prompt-router" | "provisioned-model" | "prompt") => {
            let kind = match kind {
                "provisioned-model" => WrapperKind::ProvisionedModel,
                "prompt" => WrapperKind::Prompt,
                _ => WrapperKind::PromptRouter,
            };
            let targets = match ctx.routing.lookup(ctx.region, kind, arn) {
                Lookup::Models { arns, source: from } => {
                    note_source(source, from);
                    arns
                }
                Lookup::NotCached => return Err(not_cached(ctx, kind, arn)),
                Lookup::Unknown => return unresolved(ctx, kind, arn),
            };
            if depth >= MAX_WRAPPER_DEPTH {
                return unresolved(ctx, kind, arn);
            }
            let mut checks = vec![ResourceCheck::new(arn)];
            for target in &targets {
                let reached = model_arn_checks(target, ctx, source, depth + 1)?;
                checks.extend(reached.into_iter().map(|check| {
                    if kind == WrapperKind::PromptRouter {
                        check.with_context(PROMPT_ROUTER_ARN_KEY, arn)
                    } else {
                        check
                    }
                }));
            }
            Ok(checks)
        }
        // custom-model, custom-model-deployment, imported-model, sagemaker endpoint: the ARN is the
        // model itself.
        _ => Ok(vec![ResourceCheck::new(arn)]),
    }
}

fn not_cached(ctx: &ResourceContext<'_>, kind: WrapperKind, key: &str) -> ClassifyError {
    ClassifyError::RouteNotCached {
        region: ctx.region.to_owned(),
        kind,
        key: key.to_owned(),
    }
}

fn unresolved(
    ctx: &ResourceContext<'_>,
    kind: WrapperKind,
    arn: &str,
) -> Result<Vec<ResourceCheck>, ClassifyError> {
    match ctx.unresolved {
        UnresolvedWrappers::Deny => Err(ClassifyError::UnresolvedWrapper {
            kind,
            arn: arn.to_owned(),
        }),
        UnresolvedWrappers::WrapperOnly => Ok(vec![ResourceCheck::new(arn)]),
    }
}

/// The profile itself, then the foundation model in each destination region, each carrying
/// `bedrock:InferenceProfileArn` and its own region as `aws:RequestedRegion` (AWS evaluates each
/// destination as a request to that region), then the model in each source region not among them;
/// for `global` the source-region model and the region-less model (`aws:RequestedRegion` =
/// `unspecified`), as AWS's global cross-Region inference page defines.
fn profile_checks(
    ctx: &ResourceContext<'_>,
    partition: &str,
    profile_arn: &str,
    profile_id: &str,
    sources: &[&str],
    source: &mut Option<RouteSource>,
) -> Result<Vec<ResourceCheck>, ClassifyError> {
    let (prefix, model) = profile_id.split_once('.').unwrap_or(("", profile_id));
    let fm_in = |region: &str| foundation_model_arn(partition, region, model);
    let mut destinations: Vec<String> = Vec::new();
    if prefix != GLOBAL_PREFIX {
        if ctx.profiles.is_configured(prefix) {
            note_source(source, RouteSource::Config);
            destinations.extend(
                ctx.profiles
                    .regions(prefix)
                    .unwrap_or(&[])
                    .iter()
                    .map(|r| fm_in(r)),
            );
        } else {
            match ctx
                .routing
                .lookup(ctx.region, WrapperKind::SystemProfile, profile_id)
            {
                Lookup::Models { arns, source: from } => {
                    note_source(source, from);
                    destinations = arns;
                }
                Lookup::NotCached => {
                    return Err(not_cached(ctx, WrapperKind::SystemProfile, profile_id))
                }
                Lookup::Unknown => {
                    note_source(source, RouteSource::BuiltinPrefixTable);
                    destinations.extend(
                        ctx.profiles
                            .regions(prefix)
                            .unwrap_or(&[])
                            .iter()
                            .map(|r| fm_in(r)),
                    );
                }
            }
        }
    }
    for region in sources {
        let arn = fm_in(region);
        if !destinations.contains(&arn) {
            destinations.push(arn);
        }
    }
    let mut checks = Vec::with_capacity(destinations.len() + 2);
    checks.push(ResourceCheck::new(profile_arn));
    checks.extend(destinations.iter().map(|arn| {
        ResourceCheck::new(arn.as_str())
            .with_context(INFERENCE_PROFILE_ARN_KEY, profile_arn)
            .with_context(REQUESTED_REGION_KEY, requested_region_of(arn))
    }));
    if prefix == GLOBAL_PREFIX {
        checks.push(
            ResourceCheck::new(foundation_model_arn(partition, "", model))
                .with_context(INFERENCE_PROFILE_ARN_KEY, profile_arn)
                .with_context(REQUESTED_REGION_KEY, "unspecified"),
        );
    }
    Ok(checks)
}

fn guardrail_checks(
    identifier: &str,
    ctx: &ResourceContext<'_>,
) -> Result<Vec<ResourceCheck>, ClassifyError> {
    validate_guardrail_identifier(identifier).map_err(ClassifyError::invalid_request)?;
    if identifier.starts_with("arn:") {
        return Ok(vec![ResourceCheck::new(identifier)]);
    }
    Ok(vec![ResourceCheck::new(format!(
        "arn:{}:bedrock:{}:{}:guardrail/{identifier}",
        partition_for_region(ctx.region),
        ctx.region,
        account(ctx)?
    ))])
}

fn is_guardrail_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A guardrail id (`[a-z0-9]+`) or `arn:{partition}:bedrock:{region}:{account}:guardrail/{id}`.
pub(crate) fn validate_guardrail_identifier(identifier: &str) -> Result<(), String> {
    if identifier.starts_with("arn:") {
        let arn = ArnParts::parse(identifier).map_err(|e| format!("guardrail ARN: {e}"))?;
        if arn.service != "bedrock"
            || arn.resource_type != "guardrail"
            || !is_account_id(arn.account)
            || !is_guardrail_id(arn.resource_id)
        {
            return Err(
                "a guardrail ARN is arn:{partition}:bedrock:{region}:{account}:guardrail/{id}"
                    .to_owned(),
            );
        }
        Ok(())
    } else if is_guardrail_id(identifier) {
        Ok(())
    } else {
        Err("a guardrail identifier is a guardrail id ([a-z0-9]+) or a guardrail ARN".to_owned())
    }
}

/// `DRAFT` or a version number 1..=99999999, as Bedrock accepts them.
pub(crate) fn is_guardrail_version(version: &str) -> bool {
    version == "DRAFT"
        || (!version.is_empty()
            && version.len() <= 8
            && !version.starts_with('0')
            && version.bytes().all(|b| b.is_ascii_digit()))
}

/// `arn:{partition}:bedrock:{region}:{account}:async-invoke/{id}`.
pub(crate) fn validate_async_invocation_arn(arn: &str) -> Result<(), String> {
    let parts = ArnParts::parse(arn).map_err(|e| format!("invocation ARN: {e}"))?;
    let id_ok = parts
        .resource_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if parts.service != "bedrock"
        || parts.resource_type != "async-invoke"
        || !is_account_id(parts.account)
        || !id_ok
    {
        return Err(
            "an invocation ARN is arn:{partition}:bedrock:{region}:{account}:async-invoke/{id}"
                .to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::profiles::{NoRouting, BUILTIN_PROFILES};
    use super::*;

    const ACCOUNT: &str = "123456789012";
    const IPA: &str = INFERENCE_PROFILE_ARN_KEY;

    fn checks_for(
        id: &str,
        region: &str,
        account: Option<&str>,
    ) -> Result<Vec<ResourceCheck>, ClassifyError> {
        let profiles = InferenceProfileTable::builtin();
        let mut apps = ApplicationProfiles::new();
        apps.insert(
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/app123".into(),
            vec![
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0".into(),
                "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0".into(),
            ],
        );
        let ctx = ResourceContext {
            region,
            account_id: account,
            profiles: &profiles,
            application_profiles: &apps,
            routing: &NoRouting,
            unresolved: UnresolvedWrappers::Deny,
        };
        let id = ModelId::from_decoded(id)?;
        resource_checks(Operation::InvokeModel, &Target::Model(id), None, &ctx)
    }

    fn rc(arn: &str) -> ResourceCheck {
        ResourceCheck::new(arn)
    }
    fn via(arn: &str, profile: &str) -> ResourceCheck {
        ResourceCheck::new(arn)
            .with_context(IPA, profile)
            .with_context(REQUESTED_REGION_KEY, requested_region_of(arn))
    }

    fn fm_in(regions: &[&str], partition: &str, model: &str, profile: &str) -> Vec<ResourceCheck> {
        regions
            .iter()
            .map(|r| {
                via(
                    &format!("arn:{partition}:bedrock:{r}::foundation-model/{model}"),
                    profile,
                )
            })
            .collect()
    }

    const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

    #[test]
    fn foundation_model_ids() {
        assert_eq!(
            checks_for(HAIKU, "us-east-1", None),
            Ok(vec![rc("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0")])
        );
        assert_eq!(
            checks_for("amazon.nova-lite-v1:0", "cn-north-1", None),
            Ok(vec![rc(
                "arn:aws-cn:bedrock:cn-north-1::foundation-model/amazon.nova-lite-v1:0"
            )])
        );
        assert_eq!(
            checks_for("amazon.nova-lite-v1:0", "us-gov-west-1", None),
            Ok(vec![rc(
                "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/amazon.nova-lite-v1:0"
            )])
        );
        // An unknown first label is part of a foundation model id, but may also be a profile prefix
        // newer than the table: the model it would route to must pass as well.
        assert_eq!(
            checks_for("xx.anthropic.claude", "us-east-1", None),
            Ok(vec![
                rc("arn:aws:bedrock:us-east-1::foundation-model/xx.anthropic.claude"),
                rc("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude"),
            ])
        );
    }

    #[test]
    fn geographic_profiles_expand_to_every_destination() {
        let regions_of = |p: &str| -> Vec<&'static str> {
            BUILTIN_PROFILES
                .iter()
                .find(|(q, _)| *q == p)
                .map(|(_, r)| r.to_vec())
                .unwrap_or_default()
        };
        // (prefix, calling region, partition, expected FM regions)
        let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
            ("us", "us-east-1", "aws", regions_of("us")),
            ("us", "us-west-2", "aws", regions_of("us")),
            (
                "us-gov",
                "us-gov-west-1",
                "aws-us-gov",
                regions_of("us-gov"),
            ),
            ("eu", "eu-west-3", "aws", regions_of("eu")),
            ("apac", "ap-southeast-2", "aws", regions_of("apac")),
            ("jp", "ap-northeast-1", "aws", regions_of("jp")),
            ("au", "ap-southeast-2", "aws", regions_of("au")),
            ("ca", "ca-central-1", "aws", regions_of("ca")),
            // Calling region outside the profile's list: it is checked too, at the end.
            (
                "jp",
                "us-east-1",
                "aws",
                vec!["ap-northeast-1", "ap-northeast-3", "us-east-1"],
            ),
        ];
        for (prefix, region, partition, fm_regions) in cases {
            let id = format!("{prefix}.{HAIKU}");
            let profile =
                format!("arn:{partition}:bedrock:{region}:{ACCOUNT}:inference-profile/{id}");
            let mut expected = vec![rc(&profile)];
            expected.extend(fm_in(&fm_regions, partition, HAIKU, &profile));
            assert_eq!(
                checks_for(&id, region, Some(ACCOUNT)),
                Ok(expected),
                "{id} in {region}"
            );
        }
    }

    #[test]
    fn us_profile_exact_list() {
        let p = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0";
        let m = |r: &str| {
            via(
                &format!(
                    "arn:aws:bedrock:{r}::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
                ),
                p,
            )
        };
        assert_eq!(
            checks_for(
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                "us-east-1",
                Some(ACCOUNT)
            ),
            Ok(vec![
                rc(p),
                m("us-east-1"),
                m("us-east-2"),
                m("us-west-1"),
                m("us-west-2"),
                m("ca-central-1"),
                m("ca-west-1")
            ])
        );
    }

    #[test]
    fn global_profile() {
        let p = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0";
        let model = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(
            checks_for(&format!("global.{model}"), "eu-west-1", Some(ACCOUNT)),
            Ok(vec![
                rc(p),
                via(
                    &format!("arn:aws:bedrock:eu-west-1::foundation-model/{model}"),
                    p
                ),
                via(&format!("arn:aws:bedrock:::foundation-model/{model}"), p),
            ])
        );
    }

    #[test]
    fn profiles_need_the_account_id() {
        for id in ["us.a.b", "global.a.b"] {
            assert_eq!(
                checks_for(id, "us-east-1", None),
                Err(ClassifyError::AccountIdUnknown)
            );
            assert_eq!(
                checks_for(id, "us-east-1", Some("12345")),
                Err(ClassifyError::AccountIdUnknown)
            );
            assert_eq!(
                checks_for(id, "us-east-1", Some("*")),
                Err(ClassifyError::AccountIdUnknown)
            );
        }
    }

    #[test]
    fn arn_forms() {
        let fm =
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
        assert_eq!(checks_for(fm, "us-east-1", None), Ok(vec![rc(fm)]));
        // Another region's foundation-model ARN is also checked in the region actually called.
        let fm_west =
            "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
        assert_eq!(
            checks_for(fm_west, "us-east-1", None),
            Ok(vec![rc(fm_west), rc(fm)])
        );

        let ip = "arn:aws:bedrock:us-east-1:210987654321:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0";
        let mut expected = vec![rc(ip)];
        let mut regions: Vec<&str> = BUILTIN_PROFILES[2].1.to_vec();
        regions.push("us-east-1");
        expected.extend(fm_in(&regions, "aws", HAIKU, ip));
        // The ARN's own account is used; the proxy's account is not needed.
        assert_eq!(checks_for(ip, "us-east-1", None), Ok(expected));

        // Called from a region other than the ARN's: both source regions are checked.
        let ip_jp = "arn:aws:bedrock:ap-northeast-3:123456789012:inference-profile/jp.a.b";
        assert_eq!(
            checks_for(ip_jp, "us-east-1", None),
            Ok(vec![
                rc(ip_jp),
                via(
                    "arn:aws:bedrock:ap-northeast-1::foundation-model/a.b",
                    ip_jp
                ),
                via(
                    "arn:aws:bedrock:ap-northeast-3::foundation-model/a.b",
                    ip_jp
                ),
                via("arn:aws:bedrock:us-east-1::foundation-model/a.b", ip_jp),
            ])
        );

        let ig = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.a.b";
        assert_eq!(
            checks_for(ig, "us-east-1", None),
            Ok(vec![
                rc(ig),
                via("arn:aws:bedrock:us-east-1::foundation-model/a.b", ig),
                via("arn:aws:bedrock:::foundation-model/a.b", ig),
            ])
        );

        let unknown = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/zz.a.b";
        assert!(matches!(
            checks_for(unknown, "us-east-1", None),
            Err(ClassifyError::InvalidModelId { .. })
        ));

        let app = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/app123";
        assert_eq!(
            checks_for(app, "us-east-1", None),
            Ok(vec![
                rc(app),
                via("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", app),
                via("arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", app),
            ])
        );
        let undeclared =
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/other1";
        // Wrappers nobody can resolve are refused: checking the wrapper alone would bypass model denies.
        for wrapper in [
            undeclared,
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456",
            "arn:aws:bedrock:us-east-1:123456789012:prompt/PROMPT12345:1",
            "arn:aws:bedrock:us-east-1:123456789012:prompt-router/abc123",
            "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1",
        ] {
            assert!(
                matches!(
                    checks_for(wrapper, "us-east-1", None),
                    Err(ClassifyError::UnresolvedWrapper { .. })
                ),
                "{wrapper}"
            );
        }

        for itself in [
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abcdef123456",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc123",
            "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc123xyz",
            "arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-endpoint",
        ] {
            assert_eq!(checks_for(itself, "us-east-1", None), Ok(vec![rc(itself)]), "{itself}");
        }
    }

    #[test]
    fn configured_prefixes() {
        let mut profiles = InferenceProfileTable::builtin();
        profiles.extend("xx", vec!["eu-west-1".into()]);
        profiles.extend("jp", vec!["ap-northeast-1".into()]);
        assert_eq!(
            profiles.regions("jp"),
            Some(&["ap-northeast-1".to_owned()][..])
        );
        assert_eq!(profiles.regions("global"), Some(&[][..]));
        assert_eq!(profiles.regions("nope"), None);
        assert_eq!(
            profiles.prefixes().collect::<Vec<_>>(),
            ["us", "us-gov", "eu", "apac", "jp", "au", "ca", "global", "xx"]
        );
        let apps = ApplicationProfiles::new();
        let ctx = ResourceContext {
            region: "eu-west-1",
            account_id: Some(ACCOUNT),
            profiles: &profiles,
            application_profiles: &apps,
            routing: &NoRouting,
            unresolved: UnresolvedWrappers::Deny,
        };
        let check = |id: &str| {
            let id = ModelId::from_decoded(id)?;
            resource_checks(Operation::Converse, &Target::Model(id), None, &ctx)
        };
        let p = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/xx.a.b";
        assert_eq!(
            check("xx.a.b"),
            Ok(vec![
                rc(p),
                via("arn:aws:bedrock:eu-west-1::foundation-model/a.b", p)
            ])
        );
        // Same prefix in another case is refused rather than read as a foundation model.
        assert!(matches!(
            check("XX.a.b"),
            Err(ClassifyError::InvalidModelId { .. })
        ));
    }

    fn ctx_with<'a>(
        profiles: &'a InferenceProfileTable,
        apps: &'a ApplicationProfiles,
        account: Option<&'a str>,
    ) -> ResourceContext<'a> {
        ResourceContext {
            region: "us-east-1",
            account_id: account,
            profiles,
            application_profiles: apps,
            routing: &NoRouting,
            unresolved: UnresolvedWrappers::Deny,
        }
    }

    #[test]
    fn guardrails() {
        let (profiles, apps) = (InferenceProfileTable::builtin(), ApplicationProfiles::new());
        let ctx = ctx_with(&profiles, &apps, Some(ACCOUNT));
        let g = |identifier: &str| Target::Guardrail {
            identifier: identifier.into(),
            version: "DRAFT".into(),
        };
        assert_eq!(
            resource_checks(Operation::ApplyGuardrail, &g("abc123"), None, &ctx),
            Ok(vec![rc(
                "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123"
            )])
        );
        let arn = "arn:aws:bedrock:us-west-2:210987654321:guardrail/xyz9";
        assert_eq!(
            resource_checks(Operation::ApplyGuardrail, &g(arn), None, &ctx),
            Ok(vec![rc(arn)])
        );
        let no_account = ctx_with(&profiles, &apps, None);
        assert_eq!(
            resource_checks(Operation::ApplyGuardrail, &g("abc123"), None, &no_account),
            Err(ClassifyError::AccountIdUnknown)
        );
        assert_eq!(
            resource_checks(Operation::ApplyGuardrail, &g(arn), None, &no_account),
            Ok(vec![rc(arn)])
        );
        for bad in [
            "ABC",
            "",
            "abc-1",
            "arn:aws:bedrock:us-east-1::guardrail/abc",
            "arn:aws:bedrock:us-east-1:123456789012:guardrail/ab/c",
            "arn:aws:bedrock:us-east-1:123456789012:prompt/abc",
        ] {
            assert!(
                matches!(
                    resource_checks(Operation::ApplyGuardrail, &g(bad), None, &ctx),
                    Err(ClassifyError::InvalidRequest { .. })
                ),
                "{bad}"
            );
        }
        for (v, ok) in [
            ("DRAFT", true),
            ("1", true),
            ("99999999", true),
            ("100000000", false),
            ("0", false),
            ("01", false),
            ("draft", false),
            ("", false),
            ("1.0", false),
        ] {
            assert_eq!(is_guardrail_version(v), ok, "{v}");
        }
    }

    #[test]
    fn async_targets() {
        let (profiles, apps) = (InferenceProfileTable::builtin(), ApplicationProfiles::new());
        let ctx = ctx_with(&profiles, &apps, Some(ACCOUNT));
        let arn = "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc123def456";
        assert_eq!(
            resource_checks(
                Operation::GetAsyncInvoke,
                &Target::AsyncInvocation { arn: arn.into() },
                None,
                &ctx
            ),
            Ok(vec![rc(arn)])
        );
        assert_eq!(
            resource_checks(Operation::ListAsyncInvokes, &Target::None, None, &ctx),
            Ok(vec![rc("*")])
        );
        let body = ModelId::from_decoded("us.amazon.nova-reel-v1:0").ok();
        let p = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-reel-v1:0";
        let mut expected = vec![rc(p)];
        expected.extend(fm_in(
            BUILTIN_PROFILES[0].1,
            "aws",
            "amazon.nova-reel-v1:0",
            p,
        ));
        assert_eq!(
            resource_checks(
                Operation::StartAsyncInvoke,
                &Target::ModelInBody,
                body.as_ref(),
                &ctx
            ),
            Ok(expected)
        );
        assert!(matches!(
            resource_checks(
                Operation::StartAsyncInvoke,
                &Target::ModelInBody,
                None,
                &ctx
            ),
            Err(ClassifyError::InvalidRequest { .. })
        ));
        for bad in [
            "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc",
            "arn:aws:bedrock:us-east-1::async-invoke/abc",
            "arn:aws:bedrock:us-east-1:123456789012:async-invoke/a/b",
            "arn:aws:s3:us-east-1:123456789012:async-invoke/abc",
            "*",
        ] {
            assert!(
                matches!(
                    resource_checks(
                        Operation::GetAsyncInvoke,
                        &Target::AsyncInvocation { arn: bad.into() },
                        None,
                        &ctx
                    ),
                    Err(ClassifyError::InvalidRequest { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn guardrail_checks_and_openai_targets() {
        let (profiles, apps) = (InferenceProfileTable::builtin(), ApplicationProfiles::new());
        let ctx = ctx_with(&profiles, &apps, Some(ACCOUNT));
        assert_eq!(
            resource_checks(Operation::InvokeGuardrailChecks, &Target::None, None, &ctx),
            Ok(vec![rc("*")])
        );
        for op in [
            Operation::GetResponse,
            Operation::DeleteResponse,
            Operation::CancelResponse,
        ] {
            assert_eq!(
                resource_checks(
                    op,
                    &Target::StoredResponse {
                        id: "resp_1".into()
                    },
                    None,
                    &ctx
                ),
                Ok(vec![rc("*")]),
                "{op}"
            );
        }
        // The OpenAI inference routes are authorized on the body's model exactly as Converse is on
        // the path's.
        for id in [HAIKU, "us.anthropic.claude-3-haiku-20240307-v1:0"] {
            let model = ModelId::from_decoded(id).ok();
            let Some(path_model) = model.clone() else {
                panic!("{id}");
            };
            let converse =
                resource_checks(Operation::Converse, &Target::Model(path_model), None, &ctx);
            for op in [
                Operation::ChatCompletions,
                Operation::ChatCompletionsStream,
                Operation::CreateResponse,
                Operation::CreateResponseStream,
            ] {
                assert_eq!(
                    resource_checks(op, &Target::ModelInBody, model.as_ref(), &ctx),
                    converse,
                    "{op} {id}"
                );
            }
        }
    }

    #[test]
    fn mismatched_operation_and_target_is_refused() {
        let (profiles, apps) = (InferenceProfileTable::builtin(), ApplicationProfiles::new());
        let ctx = ctx_with(&profiles, &apps, Some(ACCOUNT));
        let model = ModelId::from_decoded(HAIKU).ok();
        let pairs: Vec<(Operation, Target)> = vec![
            (Operation::InvokeModel, Target::None),
            (Operation::Converse, Target::ModelInBody),
            (Operation::ListAsyncInvokes, Target::ModelInBody),
            (Operation::StartAsyncInvoke, Target::None),
            (Operation::ApplyGuardrail, Target::None),
            (Operation::GetAsyncInvoke, Target::None),
            (Operation::InvokeGuardrailChecks, Target::ModelInBody),
            (Operation::ChatCompletions, Target::None),
            (Operation::GetResponse, Target::None),
            (
                Operation::ChatCompletions,
                Target::StoredResponse {
                    id: "resp_1".into(),
                },
            ),
            (
                Operation::ListAsyncInvokes,
                Target::StoredResponse {
                    id: "resp_1".into(),
                },
            ),
        ];
        for (op, target) in pairs {
            assert!(
                resource_checks(op, &target, model.as_ref(), &ctx).is_err(),
                "{op:?} {target:?}"
            );
        }
    }

    /// Routing from a fixed table: (kind, key) -> model ARNs; anything else not cached.
    struct FixedRouting(Vec<(WrapperKind, &'static str, Vec<String>)>);

    impl Routing for FixedRouting {
        fn lookup(&self, _region: &str, kind: WrapperKind, key: &str) -> Lookup {
            match self.0.iter().find(|(k, id, _)| *k == kind && *id == key) {
                Some((_, _, arns)) => Lookup::Models {
                    arns: arns.clone(),
                    source: RouteSource::ControlPlane,
                },
                None => Lookup::NotCached,
            }
        }
    }

    #[test]
    fn wrappers_resolve_through_routing() {
        let fm = |r: &str, m: &str| format!("arn:aws:bedrock:{r}::foundation-model/{m}");
        let us_haiku = format!("us.{HAIKU}");
        let profile = format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/{us_haiku}");
        let router =
            "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1";
        let app = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/app9";
        let routing = FixedRouting(vec![
            (
                WrapperKind::SystemProfile,
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                vec![fm("us-east-1", HAIKU), fm("us-west-2", HAIKU)],
            ),
            (WrapperKind::PromptRouter, router, vec![profile.clone()]),
            (
                WrapperKind::ApplicationProfile,
                app,
                vec![fm("us-west-2", HAIKU)],
            ),
        ]);
        let (profiles, apps) = (InferenceProfileTable::builtin(), ApplicationProfiles::new());
        let ctx = ResourceContext {
            routing: &routing,
            ..ctx_with(&profiles, &apps, Some(ACCOUNT))
        };
        let checks = |id: &str| {
            let id = ModelId::from_decoded(id).map_err(|e| e.to_string())?;
            resource_checks_with_source(Operation::Converse, &Target::Model(id), None, &ctx)
                .map_err(|e| e.to_string())
        };

        // A system profile: exactly the destinations the control plane lists.
        let expected = vec![
            rc(&profile),
            via(&fm("us-east-1", HAIKU), &profile),
            via(&fm("us-west-2", HAIKU), &profile),
        ];
        assert_eq!(
            checks(&us_haiku),
            Ok((expected.clone(), Some(RouteSource::ControlPlane)))
        );

        // A router reaching that profile: the router, then the profile's checks with the router key.
        let mut through_router = vec![rc(router)];
        through_router.extend(
            expected
                .iter()
                .cloned()
                .map(|c| c.with_context(PROMPT_ROUTER_ARN_KEY, router)),
        );
        assert_eq!(
            checks(router),
            Ok((through_router, Some(RouteSource::ControlPlane)))
        );

        // An application profile the config does not declare.
        assert_eq!(
            checks(app),
            Ok((
                vec![rc(app), via(&fm("us-west-2", HAIKU), app)],
                Some(RouteSource::ControlPlane)
            ))
        );

        // Not in the cache: the caller is told to look it up.
        let other = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/pm1";
        let id = ModelId::from_decoded(other).unwrap();
        assert_eq!(
            resource_checks(Operation::Converse, &Target::Model(id), None, &ctx),
            Err(ClassifyError::RouteNotCached {
                region: "us-east-1".into(),
                kind: WrapperKind::ProvisionedModel,
                key: other.into(),
            })
        );

        // Global profiles keep AWS's documented shape whatever the cache lists.
        let global =
            format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/global.{HAIKU}");
        assert_eq!(
            checks(&format!("global.{HAIKU}")).map(|(c, _)| c),
            Ok(vec![
                rc(&global),
                via(&fm("us-east-1", HAIKU), &global),
                via(
                    &format!("arn:aws:bedrock:::foundation-model/{HAIKU}"),
                    &global
                ),
            ])
        );

        // Unresolvable wrappers may be authorized by their ARN alone when the operator says so.
        let lenient = ResourceContext {
            routing: &NoRouting,
            unresolved: UnresolvedWrappers::WrapperOnly,
            ..ctx
        };
        let id = ModelId::from_decoded(other).unwrap();
        assert_eq!(
            resource_checks(Operation::Converse, &Target::Model(id), None, &lenient),
            Ok(vec![rc(other)])
        );
    }

    #[test]
    fn partitions() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("eu-west-3", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
        ] {
            assert_eq!(partition_for_region(region), partition, "{region}");
        }
    }
}
