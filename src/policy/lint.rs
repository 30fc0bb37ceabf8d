//! Warnings for policies that parse but probably do not do what their author meant. Lints never change
//! a decision; `bedrock-guard check` prints them.

use std::fmt;
use std::sync::Arc;

use super::catalog::Catalog;
use super::document::Effect;
use super::evaluate::{PolicySet, RuleRef};
use super::glob::{glob_match, Case};
use super::resource::{Arn, ArnPattern};
use super::variables::NoVars;

/// The IAM actions a Bedrock Runtime call is authorized as (see `classify::Operation::iam_action`).
pub const RUNTIME_ACTIONS: &[&str] = &[
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
    "bedrock:CountTokens",
    "bedrock:ApplyGuardrail",
    "bedrock:GetAsyncInvoke",
    "bedrock:ListAsyncInvokes",
    "bedrock:InvokeGuardrailChecks",
    "bedrock:GetInvoke",
    "bedrock:DeleteInvoke",
    "bedrock:CancelInvoke",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    pub origin: Arc<str>,
    pub rule: RuleRef,
    pub message: String,
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.rule, self.message)
    }
}

/// Every warning for `set`.
pub fn lint(set: &PolicySet, catalog: &Catalog) -> Vec<Lint> {
    let mut lints = Vec::new();
    for s in set.statements() {
        let mut warn = |message: String| {
            lints.push(Lint {
                origin: Arc::clone(&s.origin),
                rule: s.rule.clone(),
                message,
            })
        };

        // Statements that can never apply to a call through the guard.
        if !RUNTIME_ACTIONS.iter().any(|a| s.action_matches(a)) {
            warn("never applies: its actions match no Bedrock Runtime action (bedrock:InvokeModel, bedrock:InvokeModelWithResponseStream, bedrock:CountTokens, bedrock:ApplyGuardrail, bedrock:GetAsyncInvoke, bedrock:ListAsyncInvokes)".to_owned());
            continue;
        }
        if !s.resources.not
            && s.resources.patterns.iter().all(|p| {
                p.service()
                    .is_some_and(|svc| !glob_match(svc, "bedrock", Case::Sensitive))
            })
        {
            warn("never applies: none of its resources is a Bedrock ARN".to_owned());
            continue;
        }
        if s.source.conditions().iter().any(|c| {
            c.key().eq_ignore_ascii_case("aws:SecureTransport")
                && c.operator().base == super::condition::BaseOperator::Bool
                && !c.operator().if_exists
                && c.values().iter().all(|v| v.eq_ignore_ascii_case("true"))
        }) {
            warn("never applies: aws:SecureTransport is always false behind the guard (clients speak plain HTTP to it)".to_owned());
        }

        // Shapes IAM accepts that test nothing the author can have meant.
        for c in s.source.conditions() {
            if !c.key().contains(':') {
                warn(format!(
                    "condition key {} has no vendor prefix (aws:, bedrock:, ...): IAM accepts it, but no request carries it, so the condition always sees a missing key",
                    c.key()
                ));
            }
            if c.values().is_empty() {
                warn(format!(
                    "{} {} has no values: it matches no request value",
                    c.operator(),
                    c.key()
                ));
            }
        }

        // Patterns that name no known model.
        for p in s.resources.patterns.iter() {
            if let Some(unknown) = unknown_model_pattern(p, catalog) {
                warn(format!(
                    "{} {p} matches no known model id ({unknown}); a typo? (add new ids under [catalog] models)",
                    if s.resources.not { "NotResource" } else { "Resource" }
                ));
            }
        }

        if s.resources.not && s.effect() == Effect::Allow {
            warn("Allow with NotResource allows every resource not listed, including future models and resource types; list what is allowed instead".to_owned());
        }
        if s.resources.not && s.effect() == Effect::Deny {
            if let Some(model) = profile_blocked(&s.resources.patterns, catalog) {
                warn(format!(
                    "Deny with NotResource exempts foundation model {model} but not its inference profiles (arn:aws:bedrock:*:*:inference-profile/*.{model}): calls through a profile are denied; add the inference-profile ARNs to NotResource"
                ));
            }
        }
    }
    lints
}

/// Wrapper ARNs that lead to models (a prompt router, an application inference profile, a prompt,
/// a provisioned model), one of each kind, to test Allow statements against.
const WRAPPER_SAMPLES: &[&str] = &[
    "arn:aws:bedrock:us-east-1:111122223333:default-prompt-router/anthropic.claude:1",
    "arn:aws:bedrock:us-east-1:111122223333:prompt-router/abcdef123456",
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abcdef123456",
    "arn:aws:bedrock:us-east-1:111122223333:prompt/ABCDEF1234:1",
    "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/abcdef123456",
];

/// A Deny on foundation models beside an Allow on wrappers: bypassable when wrappers are authorized
/// alone (`[control_plane] unresolved_wrappers = "wrapper-only"`), so `check` runs this lint then.
pub fn wrapper_bypass_lints(set: &PolicySet) -> Vec<Lint> {
    let mut lints = Vec::new();
    lint_wrapper_bypass(set, &mut lints);
    lints
}

fn lint_wrapper_bypass(set: &PolicySet, lints: &mut Vec<Lint>) {
    let allows_wrappers = set.statements().iter().any(|s| {
        s.effect() == Effect::Allow
            && !s.resources.not
            && WRAPPER_SAMPLES.iter().any(|arn| {
                let parsed = Arn::parse(arn);
                s.resources
                    .patterns
                    .iter()
                    .any(|p| p.matches(parsed.as_ref(), &NoVars))
            })
    });
    if !allows_wrappers {
        return;
    }
    for s in set.statements() {
        let denies_models = s.effect() == Effect::Deny
            && !s.resources.not
            && s.resources.patterns.iter().any(|p| {
                p.resource_text()
                    .is_some_and(|r| r.starts_with("foundation-model/"))
            });
        if denies_models {
            lints.push(Lint {
                origin: Arc::clone(&s.origin),
                rule: s.rule.clone(),
                message: "denies foundation models while the policy allows wrappers (prompt routers, application inference profiles, prompts, provisioned models), and unresolved_wrappers = \"wrapper-only\" authorizes a wrapper the guard cannot resolve by its ARN alone: a call through it reaches the model without this Deny seeing it. Set [control_plane] unresolved_wrappers = \"deny\" (AWS checks the model behind a wrapper), or deny the wrapper ARNs too".to_owned(),
            });
        }
    }
}

/// For a `foundation-model/...` or `inference-profile/...` pattern without variables whose model part
/// matches nothing in the catalog: that model part.
fn unknown_model_pattern(pattern: &ArnPattern, catalog: &Catalog) -> Option<String> {
    if pattern.has_variables() {
        return None;
    }
    let resource = pattern.resource_text()?;
    if let Some(model) = resource.strip_prefix("foundation-model/") {
        return (!catalog.matches_model(model)).then(|| model.to_owned());
    }
    if let Some(profile) = resource.strip_prefix("inference-profile/") {
        return (!catalog.matches_profile(profile)).then(|| profile.to_owned());
    }
    None
}

/// A catalog model whose foundation-model ARN the NotResource list exempts while its system inference
/// profile ARN stays denied.
fn profile_blocked(not_resources: &[ArnPattern], catalog: &Catalog) -> Option<String> {
    let exempt = |arn: &str| {
        let parsed = Arn::parse(arn);
        not_resources
            .iter()
            .any(|p| p.matches(parsed.as_ref(), &NoVars))
    };
    catalog.models().find_map(|model| {
        let fm = format!("arn:aws:bedrock:us-east-1::foundation-model/{model}");
        let profile =
            format!("arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.{model}");
        (exempt(&fm) && !exempt(&profile)).then(|| model.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicySource;

    fn lints(text: &str) -> Vec<String> {
        let set = PolicySet::from_sources(&[PolicySource {
            name: "p".into(),
            origin: "p.json".into(),
            text: text.into(),
        }])
        .unwrap();
        lint(&set, &Catalog::default())
            .into_iter()
            .chain(wrapper_bypass_lints(&set))
            .map(|l| l.to_string())
            .collect()
    }

    #[test]
    fn each_lint() {
        let typo = lints(
            r#"{"Version":"2012-10-17","Statement":{"Sid":"T","Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/anthropic.claude-sonet-*"}}"#,
        );
        assert!(typo[0].contains("matches no known model id"), "{typo:?}");
        let ok = lints(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":["arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-*","arn:aws:bedrock:*:*:inference-profile/us.anthropic.*"]}}"#,
        );
        assert!(ok.is_empty(), "{ok:?}");
        let allow_not = lints(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"bedrock:*","NotResource":"arn:aws:bedrock:*::foundation-model/deepseek.*"}}"#,
        );
        assert!(
            allow_not
                .iter()
                .any(|l| l.contains("Allow with NotResource")),
            "{allow_not:?}"
        );
        let deny_not = lints(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"bedrock:InvokeModel","NotResource":"arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0"}}"#,
        );
        assert!(
            deny_not.iter().any(|l| l.contains("inference profiles")),
            "{deny_not:?}"
        );
        let never = lints(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"bedrock:*","Resource":"arn:aws:s3:::b/*"},{"Effect":"Allow","Action":"bedrock:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#,
        );
        assert_eq!(
            never.iter().filter(|l| l.contains("never applies")).count(),
            3,
            "{never:?}"
        );
        let odd = lints(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"bedrock:*","Resource":"*","Condition":{"StringEquals":{"RequestedRegion":"us-east-1","aws:PrincipalTag/team":[]}}}}"#,
        );
        assert!(
            odd.iter().any(|l| l.contains("has no vendor prefix")),
            "{odd:?}"
        );
        assert!(odd.iter().any(|l| l.contains("has no values")), "{odd:?}");
        let deny_list = lints(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"},{"Sid":"NoClaude","Effect":"Deny","Action":"bedrock:InvokeModel*","Resource":"arn:aws:bedrock:*::foundation-model/anthropic.*"}]}"#,
        );
        assert!(
            deny_list
                .iter()
                .any(|l| l.contains("NoClaude") && l.contains("wrappers")),
            "{deny_list:?}"
        );
        let models_only = lints(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"arn:aws:bedrock:*::foundation-model/*"},{"Effect":"Deny","Action":"bedrock:InvokeModel*","Resource":"arn:aws:bedrock:*::foundation-model/anthropic.*"}]}"#,
        );
        assert!(
            !models_only.iter().any(|l| l.contains("wrappers")),
            "{models_only:?}"
        );
    }
}
