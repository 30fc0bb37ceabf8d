//! The compiled [`PolicySet`]: the statements of one or more documents, indexed for evaluation.
//!
//! A `PolicySet` is one *layer* in AWS's terms (all SCPs attached at one level, a principal's identity
//! policies, a permissions boundary). [`PolicySet::evaluate`] decides with the set as the only layer,
//! like identity policies alone; [`super::org::Principal`] combines layers the way AWS does.
//!
//! Patterns are prepared at compile time (action patterns lowercased, resource patterns split into ARN
//! parts, condition values parsed) and statements are indexed ([`super::index`]), so evaluation neither
//! parses nor allocates on the common path.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::condition::Context;
use super::document::{parse, Effect, PolicyDocument, PolicySource, Statement};
use super::error::PolicyError;
use super::glob::Case;
use super::index::{Id, Index, Key, Walk};
use super::request::{RequestContext, ResourceCheck};
use super::resource::{Arn, ArnPattern, SharedHeads};
pub use super::rule::RuleRef;
use super::shared::Shared;
use super::variables::{NoVars, Template};

/// Condition keys whose value is read from the request body: a policy set that reads none of them lets
/// the proxy skip parsing bodies.
pub const BODY_KEYS: &[&str] = &[
    "bedrock:GuardrailIdentifier",
    "bedrock:ServiceTier",
    "aws:TagKeys",
];

/// Body keys named by prefix: `aws:RequestTag/<key>` (the `tags` of a StartAsyncInvoke body).
pub const BODY_KEY_PREFIXES: &[&str] = &["aws:RequestTag/"];

/// Whether `key` is read from the request body ([`BODY_KEYS`], [`BODY_KEY_PREFIXES`]).
pub fn is_body_key(key: &str) -> bool {
    BODY_KEYS.iter().any(|b| b.eq_ignore_ascii_case(key))
        || BODY_KEY_PREFIXES.iter().any(|p| {
            key.get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p))
        })
}

/// Below this many statements, scan them all instead of indexing them. Measured: even at 10 statements
/// the index was faster than a scan, so everything is indexed; tests use the knob to force the index.
const SMALL_SET: usize = 0;

/// Policies compiled for evaluation. Immutable; cheap to share behind an `Arc`.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    statements: Vec<CompiledStatement>,
    /// Deny and Allow statements together: one walk per resource check finds both.
    index: Index,
    /// Where each document came from (file paths), in order.
    origins: Vec<String>,
    reads_body: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledStatement {
    pub(crate) rule: RuleRef,
    effect: Effect,
    /// Lowercased: actions compare case-insensitively.
    actions: Patterns<Template>,
    pub(crate) resources: Patterns<ArnPattern>,
    /// Kept for its conditions (already compiled), for `describe` and for lints.
    pub(crate) source: Statement,
    pub(crate) origin: Arc<str>,
}

/// Patterns of `Action`/`Resource` (match any) or `NotAction`/`NotResource` (match none).
#[derive(Debug, Clone)]
pub(crate) struct Patterns<T> {
    pub(crate) not: bool,
    /// Shared where equal lists repeat (see [`Sharing`]).
    pub(crate) patterns: Arc<[T]>,
}

/// What the statements of one set share instead of each holding a copy: a large policy repeats a few
/// action lists (`bedrock:InvokeModel`, `bedrock:InvokeModelWithResponseStream`) and ARN heads
/// (`arn:aws:bedrock:*:`) thousands of times.
#[derive(Default)]
struct Sharing {
    heads: SharedHeads,
    action_lists: Shared<[Template]>,
    /// Action lists compiled so far, by the address of the document's list (held here, so the
    /// address stays its own): a list the document already shares is compiled once, not lowercased,
    /// parsed and hashed again for every statement that names it.
    compiled_actions: FxHashMap<usize, CompiledActions>,
}

/// A document's Action list (held) and its compiled form.
type CompiledActions = (Arc<[String]>, Arc<[Template]>);

impl Sharing {
    fn action_list(&mut self, list: &Arc<[String]>) -> Arc<[Template]> {
        let address = list.as_ptr() as usize;
        if let Some((_, compiled)) = self.compiled_actions.get(&address) {
            return Arc::clone(compiled);
        }
        let compiled = self.action_lists.one_copy::<Vec<Template>>(
            list.iter()
                .map(|a| {
                    let lower = a.to_ascii_lowercase();
                    match Template::parse(&lower, false) {
                        Ok(t) => t,
                        // Without variables parsing cannot fail; keep the text as a pattern regardless.
                        Err(_) => Template::Plain(lower.into()),
                    }
                })
                .collect(),
        );
        self.compiled_actions
            .insert(address, (Arc::clone(list), Arc::clone(&compiled)));
        compiled
    }
}

impl<T> Patterns<T> {
    fn applies(&self, matches: impl Fn(&T) -> bool) -> bool {
        self.patterns.iter().any(matches) != self.not
    }
}

impl CompiledStatement {
    fn compile(
        policy: &Arc<str>,
        origin: &Arc<str>,
        statement: Statement,
        variables: bool,
        sharing: &mut Sharing,
    ) -> Result<Self, PolicyError> {
        let rule = RuleRef {
            policy: Arc::clone(policy),
            sid: statement.shared_sid().cloned(),
            index: statement.index(),
        };
        let actions = Patterns {
            not: statement.action().is_not(),
            patterns: sharing.action_list(statement.action().shared()),
        };
        let element = if statement.resource().is_not() {
            "NotResource"
        } else {
            "Resource"
        };
        let located = |message: String| {
            PolicyError::new(origin, message)
                .in_statement(super::error::StatementLocation {
                    index: statement.index(),
                    sid: statement.shared_sid().cloned(),
                })
                .in_element(element)
        };
        let resources: Vec<ArnPattern> = statement
            .resource()
            .patterns()
            .iter()
            .map(|r| {
                // `parse` validated these already; this only guards documents built some other way.
                match ArnPattern::parse_sharing(r, variables, &mut sharing.heads) {
                    Ok(Some(p)) => Ok(p),
                    Ok(None) => Err(located(format!(
                        "Resource {r} must be in ARN format or \"*\"."
                    ))),
                    Err(detail) => {
                        Err(located(super::error::SYNTAX.to_owned()).with_detail(detail))
                    }
                }
            })
            .collect::<Result<_, _>>()?;
        let resources = Patterns {
            not: statement.resource().is_not(),
            patterns: resources.into(),
        };
        Ok(Self {
            rule,
            effect: statement.effect(),
            actions,
            resources,
            source: statement,
            origin: Arc::clone(origin),
        })
    }

    pub(crate) fn effect(&self) -> Effect {
        self.effect
    }

    pub(crate) fn action_matches(&self, action: &str) -> bool {
        self.actions
            .applies(|p| p.glob(action, Case::AsciiInsensitive, &NoVars))
    }

    fn applies(&self, action: &str, arn: Option<&Arn<'_>>, context: &Context<'_>) -> bool {
        self.action_matches(action)
            && self.resources.applies(|p| p.matches(arn, context))
            && self.source.conditions().iter().all(|c| c.holds(context))
    }

    /// Where the index files this statement (see [`super::index`]).
    fn index_key(&self) -> Key<'_> {
        if !self.resources.not {
            let literals: Option<Vec<&str>> = self
                .resources
                .patterns
                .iter()
                .map(|p| p.resource_literal().filter(|literal| !literal.is_empty()))
                .collect();
            if let Some(literals) = literals {
                return Key::ResourceLiterals(literals);
            }
        }
        if !self.actions.not
            && self
                .actions
                .patterns
                .iter()
                .all(|a| matches!(a, Template::Literal(_)))
        {
            return Key::Actions(self.actions.patterns.iter().map(Template::as_str).collect());
        }
        Key::Scan
    }

    /// Every condition key the statement reads (condition keys and variables).
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.source
            .conditions()
            .iter()
            .flat_map(|c| c.keys())
            .chain(
                self.resources
                    .patterns
                    .iter()
                    .flat_map(ArnPattern::variable_keys),
            )
    }
}

impl PolicySet {
    pub fn compile(docs: Vec<PolicyDocument>) -> Result<PolicySet, PolicyError> {
        Self::compile_indexing(docs, SMALL_SET)
    }

    /// `scan_below`: a set with fewer statements than this is scanned, not indexed.
    fn compile_indexing(
        docs: Vec<PolicyDocument>,
        scan_below: usize,
    ) -> Result<PolicySet, PolicyError> {
        let mut set = PolicySet::default();
        let mut sharing = Sharing::default();
        for doc in docs {
            let policy: Arc<str> = Arc::from(doc.name());
            let origin: Arc<str> = Arc::from(doc.origin());
            let variables = doc.version() == super::document::Version::V2012_10_17;
            set.origins.push(doc.origin().to_owned());
            for statement in doc.into_statements() {
                set.statements.push(CompiledStatement::compile(
                    &policy,
                    &origin,
                    statement,
                    variables,
                    &mut sharing,
                )?);
            }
        }
        set.statements.shrink_to_fit();
        let mut index = Index::default();
        let scan = set.statements.len() < scan_below;
        for (id, statement) in set.statements.iter().enumerate() {
            let key = if scan {
                Key::Scan
            } else {
                statement.index_key()
            };
            index.insert(id as Id, key);
        }
        index.finish();
        set.index = index;
        set.reads_body = set.statements.iter().any(|s| s.keys().any(is_body_key));
        Ok(set)
    }

    /// Parses every source, then compiles them together; the first error wins and nothing is built.
    pub fn from_sources(sources: &[PolicySource]) -> Result<PolicySet, PolicyError> {
        let docs = sources.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        Self::compile(docs)
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Number of statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Where the documents came from, in order.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// Every condition key some statement reads (in conditions or policy variables), repeats included.
    pub fn condition_keys(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().flat_map(CompiledStatement::keys)
    }

    /// Whether some statement reads a condition key taken from the request body ([`BODY_KEYS`]).
    /// Compiled once, so the proxy parses bodies only when a policy needs it.
    pub fn reads_body(&self) -> bool {
        self.reads_body
    }

    /// Whether some statement reads `key` (in a condition or a policy variable).
    pub fn reads_key(&self, key: &str) -> bool {
        self.statements
            .iter()
            .any(|s| s.keys().any(|k| k.eq_ignore_ascii_case(key)))
    }

    pub(crate) fn statements(&self) -> &[CompiledStatement] {
        &self.statements
    }

    /// Each statement with its rule name, for lints and tools.
    pub fn rules(&self) -> impl Iterator<Item = (&RuleRef, &Statement)> {
        self.statements.iter().map(|s| (&s.rule, &s.source))
    }

    /// One line per statement, for the start-up log:
    /// `org-allowlist#DenyDeepSeek: Deny bedrock:* on arn:aws:bedrock:*:*:foundation-model/deepseek.*`.
    pub fn describe(&self) -> Vec<String> {
        self.statements
            .iter()
            .map(|s| format!("{}: {}", s.rule, s.source))
            .collect()
    }

    /// The first Deny and the first Allow that apply to `action` on `check` (the Allow is not looked
    /// for once a Deny is found: the Deny decides). One index walk for both effects, shared through
    /// `walk` with the previous check when both have the same resource part. Allocates nothing
    /// unless a pattern holds a policy variable.
    pub(crate) fn applying<'r>(
        &self,
        action: &str,
        check: &'r ResourceCheck,
        arn: Option<&Arn<'r>>,
        request: &RequestContext,
        walk: &mut Walk<'r>,
    ) -> (Option<&RuleRef>, Option<&RuleRef>) {
        let context = Context {
            check: &check.context,
            request,
        };
        let mut allow = None;
        let mut consider = |id: Id| -> Option<&RuleRef> {
            let s = &self.statements[id as usize];
            match s.effect {
                Effect::Deny => {
                    if s.applies(action, arn, &context) {
                        return Some(&s.rule);
                    }
                }
                Effect::Allow => {
                    if allow.is_none() && s.applies(action, arn, &context) {
                        allow = Some(&s.rule);
                    }
                }
            }
            None
        };
        let resource = arn.map(Arn::resource);
        let remembered = resource.and_then(|r| walk.candidates(&self.index, r));
        let deny = match remembered {
            Some(ids) => ids.iter().find_map(|&id| consider(id)),
            None => self
                .index
                .resource_candidates(resource)
                .find_map(&mut consider),
        };
        let deny = deny.or_else(|| {
            self.index
                .action_candidates(action)
                .find_map(|&id| consider(id))
        });
        (deny, allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::Targets;
    use crate::policy::explain::Decision;
    use crate::policy::request::{AuthzRequest, RequestContext, ResourceCheck};
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
            // A wildcard may stand for the whole vendor (IAM refuses `bedrock*:` as a vendor).
            ("*:Converse", "bedrock:Converse", true),
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
    fn equal_action_lists_are_stored_once() {
        let text = r#"{"Version": "2012-10-17", "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": ["bedrock:InvokeModel", "bedrock:Converse"],
             "Resource": "arn:aws:bedrock:*::foundation-model/a"},
            {"Sid": "B", "Effect": "Deny", "Action": ["bedrock:InvokeModel", "bedrock:Converse"],
             "Resource": "arn:aws:bedrock:*::foundation-model/b"},
            {"Sid": "C", "Effect": "Allow", "Action": "bedrock:InvokeModel",
             "Resource": "arn:aws:bedrock:*::foundation-model/c"}]}"#;
        let s = set(&[("p", text)]);
        let st = s.statements();
        assert!(Arc::ptr_eq(
            &st[0].actions.patterns,
            &st[1].actions.patterns
        ));
        assert!(!Arc::ptr_eq(
            &st[0].actions.patterns,
            &st[2].actions.patterns
        ));
        match (st[0].source.action(), st[1].source.action()) {
            (Targets::Listed(a), Targets::Listed(b)) => assert!(Arc::ptr_eq(a, b)),
            other => panic!("{other:?}"),
        }
        let fm = |m: &str| format!("arn:aws:bedrock:us-east-1::foundation-model/{m}");
        assert!(decide_one(&s, "bedrock:Converse", &fm("a")).is_allowed());
        assert!(decide_one(&s, "bedrock:Converse", &fm("b")).is_explicit_deny());
        assert!(!decide_one(&s, "bedrock:Converse", &fm("c")).is_allowed());
        assert!(decide_one(&s, INVOKE, &fm("c")).is_allowed());
    }

    /// The checks of a profile call repeat one resource part in several regions; the index walk is
    /// shared between them (`index::Walk`), the decision of each check is not. Covered with few
    /// candidates (remembered walk) and with more than the walk holds (walked again per check).
    #[test]
    fn checks_sharing_a_resource_part_are_decided_each() {
        const FM_CLAUDE_WEST: &str =
            "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0";
        let deny_west = r#"{"Sid": "DenyWest", "Effect": "Deny", "Action": "bedrock:*",
            "Resource": "arn:aws:bedrock:us-west-2::foundation-model/anthropic.*"}"#;
        for allows in [1, 40] {
            let mut statements: Vec<String> = (0..allows)
                .map(|i| {
                    format!(
                        r#"{{"Sid": "Allow{i}", "Effect": "Allow", "Action": "bedrock:InvokeModel",
                        "Resource": "arn:aws:bedrock:us-east-*::foundation-model/anthropic.claude*"}}"#
                    )
                })
                .collect();
            statements.push(deny_west.to_owned());
            let text = format!(
                r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
                statements.join(",")
            );
            let s = set(&[("p", &text)]);
            let east = [ResourceCheck::new(FM_CLAUDE), ResourceCheck::new(FM_CLAUDE)];
            assert!(decide(&s, INVOKE, &east, &RequestContext::new()).is_allowed());
            let both = [
                ResourceCheck::new(FM_CLAUDE),
                ResourceCheck::new(FM_CLAUDE_WEST),
            ];
            let d = decide(&s, INVOKE, &both, &RequestContext::new());
            assert!(d.is_explicit_deny(), "{allows} allows");
            assert_eq!(rule(&d).as_deref(), Some("p#DenyWest"));
            assert_eq!(d.denied_resource(), Some(FM_CLAUDE_WEST));
        }
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

        /// The index only narrows the statements looked at: it must decide exactly like a scan of
        /// every statement.
        #[test]
        fn index_agrees_with_a_full_scan(
            statements in prop::collection::vec(statement_json(), 1..12),
            (action, checks, region) in request_strategy(),
        ) {
            let context = context(region);
            let text = format!(r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#, statements.join(","));
            let doc = parse(&PolicySource { name: "p".into(), origin: "p.json".into(), text }).unwrap();
            // Index every statement, however few.
            let set = PolicySet::compile_indexing(vec![doc], 0).unwrap();
            let indexed = decide(&set, action, &checks, &context);
            let applies = |effect: Effect, check: &ResourceCheck| {
                let arn = Arn::parse(&check.arn);
                let ctx = Context { check: &check.context, request: &context };
                set.statements().iter().any(|s| s.effect() == effect && s.applies(action, arn.as_ref(), &ctx))
            };
            let explicit = checks.iter().any(|c| applies(Effect::Deny, c));
            let allowed = !explicit && !checks.is_empty() && checks.iter().all(|c| applies(Effect::Allow, c));
            prop_assert_eq!(indexed.is_explicit_deny(), explicit);
            prop_assert_eq!(indexed.is_allowed(), allowed);
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
