//! The compiled [`PolicySet`] and its [`Decision`].
//!
//! All documents form one layer, like identity policies: a matching Deny anywhere wins, otherwise every
//! resource check needs a matching Allow. Patterns are prepared at compile time (action patterns
//! lowercased, resource patterns split into ARN parts), so evaluation allocates nothing; an explicit or
//! implicit deny copies the denied ARN once, and messages are only built in [`Decision::denial_message`].

use std::fmt;
use std::sync::Arc;

use super::condition::Context;
use super::document::{parse, Effect, PolicyDocument, PolicySource, Statement};
use super::error::PolicyError;
use super::glob::{glob_match, Case};
use super::request::AuthzRequest;
use super::resource::{Arn, ArnPattern};

/// Which statement decided: `policy#Sid`, or `policy#statement[3]` (0-based) when it has no Sid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// The policy's short name ([`PolicySource::name`]).
    pub policy: Arc<str>,
    pub sid: Option<Arc<str>>,
    /// Position in the policy's `Statement` array.
    pub index: usize,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "{}#{sid}", self.policy),
            None => write!(f, "{}#statement[{}]", self.policy, self.index),
        }
    }
}

/// Policies compiled for evaluation. Immutable; cheap to share behind an `Arc`.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    statements: Vec<CompiledStatement>,
}

#[derive(Debug, Clone)]
struct CompiledStatement {
    rule: RuleRef,
    effect: Effect,
    actions: Patterns<Box<str>>,
    resources: Patterns<ArnPattern>,
    /// Kept for its conditions (already compiled) and for `describe`.
    source: Statement,
}

/// Patterns of `Action`/`Resource` (match any) or `NotAction`/`NotResource` (match none).
#[derive(Debug, Clone)]
struct Patterns<T> {
    not: bool,
    patterns: Vec<T>,
}

impl<T> Patterns<T> {
    fn applies(&self, matches: impl Fn(&T) -> bool) -> bool {
        self.patterns.iter().any(matches) != self.not
    }
}

impl CompiledStatement {
    fn compile(
        policy: &Arc<str>,
        origin: &str,
        statement: &Statement,
    ) -> Result<Self, PolicyError> {
        let rule = RuleRef {
            policy: Arc::clone(policy),
            sid: statement.sid().map(Arc::from),
            index: statement.index(),
        };
        let actions = Patterns {
            not: statement.action().is_not(),
            patterns: statement
                .action()
                .patterns()
                .iter()
                .map(|a| a.to_ascii_lowercase().into_boxed_str())
                .collect(),
        };
        let element = if statement.resource().is_not() {
            "NotResource"
        } else {
            "Resource"
        };
        let resources = Patterns {
            not: statement.resource().is_not(),
            patterns: statement
                .resource()
                .patterns()
                .iter()
                .map(|r| {
                    // `parse` validated these already; this only guards documents built some other way.
                    ArnPattern::parse(r).ok_or_else(|| {
                        PolicyError::new(
                            origin,
                            format!("Resource {r} must be in ARN format or \"*\"."),
                        )
                        .in_statement(super::error::StatementLocation {
                            index: statement.index(),
                            sid: statement.sid().map(str::to_owned),
                        })
                        .in_element(element)
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            rule,
            effect: statement.effect(),
            actions,
            resources,
            source: statement.clone(),
        })
    }

    fn applies(&self, action: &str, arn: Option<&Arn<'_>>, context: &Context<'_>) -> bool {
        self.actions
            .applies(|p| glob_match(p, action, Case::AsciiInsensitive))
            && self.resources.applies(|p| p.matches(arn))
            && self.source.conditions().iter().all(|c| c.holds(context))
    }
}

impl PolicySet {
    pub fn compile(docs: Vec<PolicyDocument>) -> Result<PolicySet, PolicyError> {
        let mut statements = Vec::new();
        for doc in &docs {
            let policy: Arc<str> = Arc::from(doc.name());
            for statement in doc.statements() {
                statements.push(CompiledStatement::compile(
                    &policy,
                    doc.origin(),
                    statement,
                )?);
            }
        }
        Ok(PolicySet { statements })
    }

    /// Parses every source, then compiles them together; the first error wins and nothing is built.
    pub fn from_sources(sources: &[PolicySource]) -> Result<PolicySet, PolicyError> {
        let docs = sources.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        Self::compile(docs)
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// One line per statement, for the start-up log:
    /// `org-allowlist#DenyDeepSeek: Deny bedrock:* on arn:aws:bedrock:*:*:foundation-model/deepseek.*`.
    pub fn describe(&self) -> Vec<String> {
        self.statements
            .iter()
            .map(|s| format!("{}: {}", s.rule, s.source))
            .collect()
    }

    /// Decides one request. Every check must be allowed; a Deny on any check denies the call; no checks
    /// at all is a deny (fail closed).
    pub fn evaluate(&self, req: &AuthzRequest<'_>) -> Decision {
        let applying = |effect: Effect, check: &super::request::ResourceCheck| {
            let arn = Arn::parse(&check.arn);
            let context = Context {
                check: &check.context,
                request: req.context,
            };
            self.statements
                .iter()
                .filter(move |s| s.effect == effect)
                .find(move |s| s.applies(req.action, arn.as_ref(), &context))
        };
        // Denies first, over every check: an explicit deny on a later check outranks a missing allow on
        // an earlier one, and the order of statements must not matter.
        for check in req.checks {
            if let Some(deny) = applying(Effect::Deny, check) {
                return Decision::deny(Outcome::ExplicitDeny, Some(&deny.rule), Some(&check.arn));
            }
        }
        let mut first_allow = None;
        for check in req.checks {
            match applying(Effect::Allow, check) {
                Some(allow) => {
                    first_allow.get_or_insert(&allow.rule);
                }
                None => return Decision::deny(Outcome::ImplicitDeny, None, Some(&check.arn)),
            }
        }
        match first_allow {
            Some(rule) => Decision {
                outcome: Outcome::Allow,
                rule: Some(rule.clone()),
                denied_resource: None,
            },
            // No checks at all.
            None => Decision::deny(Outcome::ImplicitDeny, None, None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// The answer for one request, with what is needed to explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    outcome: Outcome,
    rule: Option<RuleRef>,
    denied_resource: Option<String>,
}

impl Decision {
    fn deny(outcome: Outcome, rule: Option<&RuleRef>, resource: Option<&str>) -> Self {
        Self {
            outcome,
            rule: rule.cloned(),
            denied_resource: resource.map(str::to_owned),
        }
    }

    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    pub fn effect(&self) -> Effect {
        if self.is_allowed() {
            Effect::Allow
        } else {
            Effect::Deny
        }
    }

    /// The rule that decided: for an explicit deny the deny statement; for an allow the (first) allowing
    /// statement of the first check; `None` for an implicit deny.
    pub fn rule(&self) -> Option<&RuleRef> {
        self.rule.as_ref()
    }

    /// The resource ARN that was denied (`None` when allowed, or when the request had no checks).
    pub fn denied_resource(&self) -> Option<&str> {
        self.denied_resource.as_deref()
    }

    pub fn is_explicit_deny(&self) -> bool {
        self.outcome == Outcome::ExplicitDeny
    }

    /// AWS's AccessDenied wording; with `show_rule`, the deciding rule is appended where AWS appends the
    /// policy ARN. `None` when allowed.
    pub fn denial_message(
        &self,
        principal_arn: &str,
        action: &str,
        show_rule: bool,
    ) -> Option<String> {
        let mut message = format!("User: {principal_arn} is not authorized to perform: {action}");
        if let Some(resource) = &self.denied_resource {
            message.push_str(" on resource: ");
            message.push_str(resource);
        }
        match self.outcome {
            Outcome::Allow => return None,
            Outcome::ExplicitDeny => {
                message.push_str(" with an explicit deny in an identity-based policy")
            }
            Outcome::ImplicitDeny => message.push_str(&format!(
                " because no identity-based policy allows the {action} action"
            )),
        }
        if let (true, Some(rule)) = (show_rule, &self.rule) {
            message.push_str(&format!(": {rule}"));
        }
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::request::{RequestContext, ResourceCheck};
    use proptest::prelude::*;

    const PRINCIPAL: &str = "arn:aws:iam::123456789012:user/alice";
    const INVOKE: &str = "bedrock:InvokeModel";
    const FM_CLAUDE: &str =
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0";
    const FM_NOVA: &str = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0";
    const FM_DEEPSEEK: &str = "arn:aws:bedrock:us-west-2::foundation-model/deepseek.r1-v1:0";
    const PROFILE_CLAUDE: &str = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0";

    const FULL_ACCESS: &str = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "FullAWSAccess", "Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;

    fn set(policies: &[(&str, &str)]) -> PolicySet {
        let sources: Vec<PolicySource> = policies
            .iter()
            .map(|(name, text)| PolicySource {
                name: (*name).to_owned(),
                origin: format!("{name}.json"),
                text: (*text).to_owned(),
            })
            .collect();
        match PolicySet::from_sources(&sources) {
            Ok(set) => set,
            Err(e) => panic!("{e}"),
        }
    }

    fn decide(
        set: &PolicySet,
        action: &str,
        checks: &[ResourceCheck],
        context: &RequestContext,
    ) -> Decision {
        set.evaluate(&AuthzRequest {
            principal_arn: PRINCIPAL,
            action,
            checks,
            context,
        })
    }

    fn decide_one(set: &PolicySet, action: &str, arn: &str) -> Decision {
        decide(
            set,
            action,
            &[ResourceCheck::new(arn)],
            &RequestContext::new(),
        )
    }

    fn rule(d: &Decision) -> Option<String> {
        d.rule().map(ToString::to_string)
    }

    #[test]
    fn is_send_sync_static() {
        fn assert<T: Send + Sync + 'static>() {}
        assert::<PolicySet>();
        assert::<Decision>();
    }

    #[test]
    fn action_matching() {
        let cases: &[(&str, &str, bool)] = &[
            ("bedrock:InvokeModel", "bedrock:InvokeModel", true),
            ("bedrock:invokemodel", "bedrock:InvokeModel", true),
            ("BEDROCK:INVOKEMODEL", "bedrock:InvokeModel", true),
            (
                "bedrock:InvokeModel",
                "bedrock:InvokeModelWithResponseStream",
                false,
            ),
            (
                "bedrock:Invoke*",
                "bedrock:InvokeModelWithResponseStream",
                true,
            ),
            ("bedrock:*", "bedrock:Converse", true),
            ("*", "bedrock:Converse", true),
            ("bedrock:?onverse", "bedrock:Converse", true),
            ("bedrock:?Converse", "bedrock:Converse", false),
            ("s3:*", "bedrock:Converse", false),
            ("bedrock*:Converse", "bedrock:Converse", true),
        ];
        for &(pattern, action, want) in cases {
            let text = format!(
                r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Action": "{pattern}", "Resource": "*"}}}}"#
            );
            let d = decide_one(&set(&[("p", &text)]), action, FM_CLAUDE);
            assert_eq!(d.is_allowed(), want, "{pattern} vs {action}");
        }
    }

    #[test]
    fn not_action_and_not_resource() {
        let allow_not_action = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "NotAction": "bedrock:Create*", "Resource": "*"}}"#;
        let s = set(&[("p", allow_not_action)]);
        assert!(decide_one(&s, INVOKE, FM_CLAUDE).is_allowed());
        assert!(!decide_one(&s, "bedrock:CreateModelCustomizationJob", FM_CLAUDE).is_allowed());

        let allow_not_resource = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Action": "bedrock:*", "NotResource": "arn:aws:bedrock:*::foundation-model/deepseek.*"}}"#;
        let s = set(&[("p", allow_not_resource)]);
        assert!(decide_one(&s, INVOKE, FM_CLAUDE).is_allowed());
        let d = decide_one(&s, INVOKE, FM_DEEPSEEK);
        assert!(!d.is_allowed() && !d.is_explicit_deny());

        let deny_not_action = r#"{"Version": "2012-10-17", "Statement": {"Sid": "OnlyInvoke", "Effect": "Deny",
            "NotAction": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"], "Resource": "*"}}"#;
        let s = set(&[("full", FULL_ACCESS), ("p", deny_not_action)]);
        assert!(decide_one(&s, INVOKE, FM_CLAUDE).is_allowed());
        let d = decide_one(&s, "bedrock:Converse", FM_CLAUDE);
        assert!(d.is_explicit_deny());
        assert_eq!(rule(&d).as_deref(), Some("p#OnlyInvoke"));
    }

    #[test]
    fn explicit_deny_wins_and_no_allow_denies() {
        let s = set(&[
            ("full", FULL_ACCESS),
            (
                "deny",
                r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "bedrock:*", "Resource": "*"}}"#,
            ),
        ]);
        let d = decide_one(&s, INVOKE, FM_CLAUDE);
        assert!(d.is_explicit_deny());
        assert_eq!(d.effect(), Effect::Deny);
        assert_eq!(rule(&d).as_deref(), Some("deny#statement[0]"));
        assert_eq!(d.denied_resource(), Some(FM_CLAUDE));

        let none = set(&[(
            "s3",
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#,
        )]);
        let d = decide_one(&none, INVOKE, FM_CLAUDE);
        assert!(!d.is_allowed() && !d.is_explicit_deny());
        assert_eq!(d.rule(), None);
        assert_eq!(d.denied_resource(), Some(FM_CLAUDE));

        // Nothing configured, or nothing to check: deny.
        assert!(!decide_one(&PolicySet::default(), INVOKE, FM_CLAUDE).is_allowed());
        let d = decide(
            &set(&[("full", FULL_ACCESS)]),
            INVOKE,
            &[],
            &RequestContext::new(),
        );
        assert!(!d.is_allowed());
        assert_eq!(d.denied_resource(), None);
        assert_eq!(
            d.denial_message(PRINCIPAL, INVOKE, true).as_deref(),
            Some("User: arn:aws:iam::123456789012:user/alice is not authorized to perform: bedrock:InvokeModel because no identity-based policy allows the bedrock:InvokeModel action")
        );
    }

    #[test]
    fn request_resource_star_only_matches_star() {
        let s = set(&[(
            "p",
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:*:*:*:*:*"}}"#,
        )]);
        assert!(!decide_one(&s, "bedrock:ListFoundationModels", "*").is_allowed());
        assert!(decide_one(
            &set(&[("full", FULL_ACCESS)]),
            "bedrock:ListFoundationModels",
            "*"
        )
        .is_allowed());
    }

    #[test]
    fn every_check_must_pass() {
        let claude_only = set(&[("allow", ALLOW_LIST)]);
        // A profile call authorizes the profile and the foundation model(s) behind it.
        let checks = [
            ResourceCheck::new(PROFILE_CLAUDE),
            ResourceCheck::new(FM_CLAUDE)
                .with_context("bedrock:InferenceProfileArn", PROFILE_CLAUDE),
            ResourceCheck::new(FM_NOVA),
        ];
        let d = decide(&claude_only, INVOKE, &checks, &RequestContext::new());
        assert!(!d.is_allowed() && !d.is_explicit_deny());
        assert_eq!(d.denied_resource(), Some(FM_NOVA));

        // An explicit deny on a later check outranks the implicit deny of an earlier one.
        let s = set(&[("allow", ALLOW_LIST), ("scp", DENY_DEEPSEEK)]);
        let checks = [ResourceCheck::new(FM_NOVA), ResourceCheck::new(FM_DEEPSEEK)];
        let d = decide(&s, INVOKE, &checks, &RequestContext::new());
        assert!(d.is_explicit_deny());
        assert_eq!(d.denied_resource(), Some(FM_DEEPSEEK));

        // Allowed: the rule reported is the first check's allowing statement.
        let checks = [
            ResourceCheck::new(PROFILE_CLAUDE),
            ResourceCheck::new(FM_CLAUDE)
                .with_context("bedrock:InferenceProfileArn", PROFILE_CLAUDE),
        ];
        let d = decide(&claude_only, INVOKE, &checks, &RequestContext::new());
        assert!(d.is_allowed());
        assert_eq!(rule(&d).as_deref(), Some("allow#AllowClaudeSonnet45"));
        assert_eq!(d.denied_resource(), None);
        assert_eq!(d.denial_message(PRINCIPAL, INVOKE, true), None);
    }

    #[test]
    fn denial_messages() {
        let s = set(&[("full", FULL_ACCESS), ("org-allowlist", DENY_DEEPSEEK)]);
        let d = decide_one(&s, INVOKE, FM_DEEPSEEK);
        let expected = format!(
            "User: {PRINCIPAL} is not authorized to perform: bedrock:InvokeModel on resource: {FM_DEEPSEEK} with an explicit deny in an identity-based policy"
        );
        assert_eq!(
            d.denial_message(PRINCIPAL, INVOKE, false),
            Some(expected.clone())
        );
        assert_eq!(
            d.denial_message(PRINCIPAL, INVOKE, true),
            Some(format!(
                "{expected}: org-allowlist#DenyModelAccessEverywhere"
            ))
        );
        let d = decide_one(&set(&[("allow", ALLOW_LIST)]), INVOKE, FM_NOVA);
        let expected = format!(
            "User: {PRINCIPAL} is not authorized to perform: bedrock:InvokeModel on resource: {FM_NOVA} because no identity-based policy allows the bedrock:InvokeModel action"
        );
        assert_eq!(d.denial_message(PRINCIPAL, INVOKE, true), Some(expected));
    }

    #[test]
    fn describe_lists_every_statement() {
        let s = set(&[("org-allowlist", DENY_DEEPSEEK), ("full", FULL_ACCESS)]);
        assert!(!s.is_empty());
        assert_eq!(
            s.describe(),
            [
                "org-allowlist#DenyModelAccessEverywhere: Deny bedrock:* on arn:aws:bedrock:*:*:foundation-model/deepseek.*",
                "full#FullAWSAccess: Allow * on *",
            ]
        );
        assert!(PolicySet::default().is_empty());
    }

    #[test]
    fn conditions_take_check_keys_before_request_keys() {
        let s = set(&[
            ("full", FULL_ACCESS),
            (
                "p",
                r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "bedrock:*", "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "unspecified"]}}}}"#,
            ),
        ]);
        let mut context = RequestContext::new();
        context.set("aws:RequestedRegion", "eu-west-1");
        let global =
            [ResourceCheck::new(FM_CLAUDE).with_context("aws:RequestedRegion", "unspecified")];
        assert!(decide(&s, INVOKE, &global, &context).is_allowed());
        let plain = [ResourceCheck::new(FM_CLAUDE)];
        assert!(decide(&s, INVOKE, &plain, &context).is_explicit_deny());
    }

    // --- AWS's published examples -------------------------------------------------------------------

    /// AWS Organizations SCP example "DenyModelAccessEverywhere".
    const DENY_DEEPSEEK: &str = r#"{
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyModelAccessEverywhere",
            "Effect": "Deny",
            "Action": "bedrock:*",
            "Resource": ["arn:aws:bedrock:*:*:foundation-model/deepseek.*"]
        }]
    }"#;

    /// SCP "PermittedModels": deny everything but Amazon models.
    const PERMITTED_MODELS: &str = r#"{
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PermittedModels",
            "Effect": "Deny",
            "Action": "bedrock:*",
            "NotResource": ["arn:aws:bedrock:*:*:foundation-model/amazon.*"]
        }]
    }"#;

    /// The re:Post SCP: in these Regions, invoke foundation models only through inference profiles.
    const ONLY_THROUGH_PROFILES: &str = r#"{
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyDirectInvocationInRegions",
            "Effect": "Deny",
            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            "Resource": "arn:aws:bedrock:*::foundation-model/*",
            "Condition": {
                "StringEquals": {"aws:RequestedRegion": ["us-east-1", "us-east-2", "us-west-2"]},
                "ArnNotLike": {"bedrock:InferenceProfileArn": [
                    "arn:aws:bedrock:*:*:application-inference-profile/*",
                    "arn:aws:bedrock:*:*:inference-profile/*"
                ]}
            }
        }]
    }"#;

    /// IAM identity-policy allow-list for Claude Sonnet 4.5, directly or through a profile.
    const ALLOW_LIST: &str = r#"{
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowClaudeSonnet45",
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            "Resource": [
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5*",
                "arn:aws:bedrock:*:*:inference-profile/*.anthropic.claude-sonnet-4-5*"
            ]
        }]
    }"#;

    #[test]
    fn aws_example_deny_model_access_everywhere() {
        let s = set(&[("full", FULL_ACCESS), ("scp", DENY_DEEPSEEK)]);
        let d = decide_one(&s, INVOKE, FM_DEEPSEEK);
        assert!(d.is_explicit_deny());
        assert_eq!(rule(&d).as_deref(), Some("scp#DenyModelAccessEverywhere"));
        assert!(decide_one(&s, "bedrock:Converse", FM_DEEPSEEK).is_explicit_deny());
        let d = decide_one(&s, INVOKE, FM_CLAUDE);
        assert!(d.is_allowed());
        assert_eq!(rule(&d).as_deref(), Some("full#FullAWSAccess"));
    }

    #[test]
    fn aws_example_permitted_models() {
        let s = set(&[("full", FULL_ACCESS), ("scp", PERMITTED_MODELS)]);
        assert!(decide_one(&s, INVOKE, FM_NOVA).is_allowed());
        let d = decide_one(&s, INVOKE, FM_CLAUDE);
        assert!(d.is_explicit_deny());
        assert_eq!(rule(&d).as_deref(), Some("scp#PermittedModels"));
        // An inference profile is not an amazon.* foundation model either: denied, even if the model
        // behind it would be allowed.
        let checks = [ResourceCheck::new(
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0",
        )];
        let d = decide(&s, INVOKE, &checks, &RequestContext::new());
        assert!(d.is_explicit_deny());
    }

    #[test]
    fn aws_example_invoke_only_through_inference_profiles() {
        let s = set(&[("allow", ALLOW_LIST), ("scp", ONLY_THROUGH_PROFILES)]);
        let mut in_region = RequestContext::new();
        in_region.set("aws:RequestedRegion", "us-east-1");

        // Direct call: denied by the SCP.
        let direct = [ResourceCheck::new(FM_CLAUDE)];
        let d = decide(&s, INVOKE, &direct, &in_region);
        assert!(d.is_explicit_deny());
        assert_eq!(
            rule(&d).as_deref(),
            Some("scp#DenyDirectInvocationInRegions")
        );
        assert_eq!(d.denied_resource(), Some(FM_CLAUDE));

        // Through a profile: the FM check carries bedrock:InferenceProfileArn, and the allow-list allows.
        let via_profile = [
            ResourceCheck::new(PROFILE_CLAUDE),
            ResourceCheck::new(FM_CLAUDE)
                .with_context("bedrock:InferenceProfileArn", PROFILE_CLAUDE),
        ];
        let d = decide(&s, INVOKE, &via_profile, &in_region);
        assert!(d.is_allowed(), "{d:?}");
        assert_eq!(rule(&d).as_deref(), Some("allow#AllowClaudeSonnet45"));

        // Outside the listed Regions the SCP does not apply.
        let mut elsewhere = RequestContext::new();
        elsewhere.set("aws:RequestedRegion", "eu-west-1");
        assert!(decide(&s, INVOKE, &direct, &elsewhere).is_allowed());

        // Without another policy allowing, the profile call is still (implicitly) denied.
        let scp_only = set(&[("scp", ONLY_THROUGH_PROFILES)]);
        let d = decide(&scp_only, INVOKE, &via_profile, &in_region);
        assert!(!d.is_allowed() && !d.is_explicit_deny());
    }

    #[test]
    fn aws_example_iam_allow_list() {
        let s = set(&[("allow", ALLOW_LIST)]);
        assert!(decide_one(&s, INVOKE, FM_CLAUDE).is_allowed());
        assert!(
            decide_one(&s, "bedrock:InvokeModelWithResponseStream", PROFILE_CLAUDE).is_allowed()
        );
        assert!(decide_one(
            &s,
            INVOKE,
            "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
        )
        .is_allowed());
        assert!(!decide_one(&s, "bedrock:Converse", FM_CLAUDE).is_allowed());
        assert!(!decide_one(&s, INVOKE, FM_NOVA).is_allowed());
        // The foundation-model pattern has an empty account: an account-scoped ARN does not match it.
        assert!(!decide_one(
            &s,
            INVOKE,
            "arn:aws:bedrock:us-east-1:123456789012:foundation-model/anthropic.claude-sonnet-4-5-v1:0"
        )
        .is_allowed());
    }

    // --- properties -----------------------------------------------------------------------------------

    const ACTIONS: &[&str] = &[
        "bedrock:InvokeModel",
        "bedrock:Converse",
        "bedrock:ListFoundationModels",
    ];
    const RESOURCES: &[&str] = &[FM_CLAUDE, FM_NOVA, FM_DEEPSEEK, PROFILE_CLAUDE, "*"];

    fn statement_json() -> impl Strategy<Value = String> {
        let actions = prop::sample::select(vec![
            "*",
            "bedrock:*",
            "bedrock:Invoke*",
            "bedrock:InvokeModel",
            "bedrock:Converse",
            "bedrock:List*",
            "s3:*",
        ]);
        let resources = prop::sample::select(vec![
            "*",
            "arn:aws:bedrock:*::foundation-model/*",
            "arn:aws:bedrock:*:*:foundation-model/amazon.*",
            "arn:aws:bedrock:*:*:foundation-model/deepseek.*",
            "arn:aws:bedrock:*:*:inference-profile/*",
            "arn:aws:bedrock:us-east-1::*",
        ]);
        let conditions = prop::sample::select(vec![
            "",
            r#", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}"#,
            r#", "Condition": {"ArnLike": {"bedrock:InferenceProfileArn": "arn:aws:bedrock:*:*:inference-profile/*"}}"#,
            r#", "Condition": {"Null": {"bedrock:InferenceProfileArn": "true"}}"#,
        ]);
        (
            any::<bool>(),
            any::<bool>(),
            actions,
            any::<bool>(),
            resources,
            conditions,
        )
            .prop_map(
                |(deny, not_action, action, not_resource, resource, condition)| {
                    format!(
                        r#"{{"Effect": "{}", "{}": "{action}", "{}": "{resource}"{condition}}}"#,
                        if deny { "Deny" } else { "Allow" },
                        if not_action { "NotAction" } else { "Action" },
                        if not_resource {
                            "NotResource"
                        } else {
                            "Resource"
                        },
                    )
                },
            )
    }

    fn policy(statements: &[String]) -> PolicySet {
        let text = format!(
            r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
            statements.join(",")
        );
        set(&[("p", &text)])
    }

    fn request_strategy() -> impl Strategy<Value = (&'static str, Vec<ResourceCheck>, bool)> {
        let check =
            (prop::sample::select(RESOURCES.to_vec()), any::<bool>()).prop_map(|(arn, via)| {
                let check = ResourceCheck::new(arn);
                if via {
                    check.with_context("bedrock:InferenceProfileArn", PROFILE_CLAUDE)
                } else {
                    check
                }
            });
        (
            prop::sample::select(ACTIONS.to_vec()),
            prop::collection::vec(check, 0..3),
            any::<bool>(),
        )
    }

    fn context(us_east_1: bool) -> RequestContext {
        let mut context = RequestContext::new();
        context.set(
            "aws:RequestedRegion",
            if us_east_1 { "us-east-1" } else { "eu-west-1" },
        );
        context
    }

    proptest! {
        #[test]
        fn statement_order_never_changes_the_decision(
            (statements, shuffled) in prop::collection::vec(statement_json(), 1..6)
                .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
            (action, checks, region) in request_strategy(),
        ) {
            let context = context(region);
            let a = decide(&policy(&statements), action, &checks, &context);
            let b = decide(&policy(&shuffled), action, &checks, &context);
            prop_assert_eq!(a.is_allowed(), b.is_allowed());
            prop_assert_eq!(a.is_explicit_deny(), b.is_explicit_deny());
        }

        #[test]
        fn adding_a_deny_never_allows_more(
            statements in prop::collection::vec(statement_json(), 1..6),
            extra in statement_json(),
            (action, checks, region) in request_strategy(),
        ) {
            let extra = extra.replacen(r#""Effect": "Allow""#, r#""Effect": "Deny""#, 1);
            let context = context(region);
            let before = decide(&policy(&statements), action, &checks, &context);
            let mut more = statements.clone();
            more.push(extra);
            let after = decide(&policy(&more), action, &checks, &context);
            prop_assert!(before.is_allowed() || !after.is_allowed());
        }
    }
}
