//! One authorization outside the proxy, built exactly as the proxy builds it: the same
//! [`classify::resource_checks`], the same principal keys. Used by `bedrock-guard explain` and by the
//! `[[policy_tests]]` that `check` (and later a hot reload) runs ([`run_policy_tests`]).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;

use crate::classify::body::BodyKeys;
use crate::classify::{
    self, ClassifyError, ModelId, Operation, ResourceContext, RouteSource, Routing, Target,
};
use crate::config::{Expectation, Snapshot};
use crate::controlplane::{BuiltinRouting, ControlPlane};
use crate::guard::FALLBACK_REGION;
use crate::http::context::{self as keys, Inbound};
use crate::policy::{AuthzRequest, Decision, Principal, RequestContext, ResourceCheck};

/// Used in inference-profile ARNs when no account is known (no config, no STS, no principal account).
pub const PLACEHOLDER_ACCOUNT: &str = "000000000000";

/// `aws:SourceIp` when the question does not give one: a client on the guard's own host. The proxy
/// sets the TCP peer's address, so a policy on `aws:SourceIp` is decided for that client.
pub const DEFAULT_SOURCE_IP: &str = "127.0.0.1";

/// A request to decide, as a person writes it.
#[derive(Debug, Clone, Default)]
pub struct Question<'a> {
    /// A `[[principals]]` name; `None`: the fixed caller.
    pub principal: Option<&'a str>,
    /// Operation name (`Converse`, case-insensitive); `None`: `InvokeModel`.
    pub operation: Option<&'a str>,
    pub model: &'a str,
    /// `None`: the config's region, else us-east-1.
    pub region: Option<&'a str>,
    /// Extra request keys, in order. They replace the computed key of the same name; a key given
    /// several times is multi-valued (for `ForAnyValue:` / `ForAllValues:`).
    pub context: Vec<(String, String)>,
    /// The proxy's account as the caller found it (`--account`, STS), used when the config names
    /// none.
    pub account: Option<(&'a str, AccountSource)>,
}

/// Where the account in inference-profile and guardrail ARNs came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountSource {
    /// `account_id` in the config: what the proxy uses too.
    Config,
    /// Given on the command line (`explain --account`).
    Given,
    /// STS GetCallerIdentity with the proxy's credentials: what the proxy does too.
    Sts,
    /// The principal's account: a guess, the proxy uses its own credentials' account.
    Principal,
    /// [`PLACEHOLDER_ACCOUNT`]: no account known.
    Placeholder,
}

impl AccountSource {
    pub fn name(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Given => "given",
            Self::Sts => "sts",
            Self::Principal => "principal",
            Self::Placeholder => "placeholder",
        }
    }
}

/// The decision with everything it was made from.
#[derive(Debug, Clone)]
pub struct Answer {
    pub principal: Arc<Principal>,
    pub operation: Operation,
    pub action: &'static str,
    pub region: String,
    pub account: String,
    pub account_source: AccountSource,
    pub checks: Vec<ResourceCheck>,
    /// Where the routing of a wrapper (inference profile, router, ...) came from; `None`: no wrapper.
    pub routing_source: Option<RouteSource>,
    pub context: RequestContext,
    pub decision: Decision,
    /// What may make this answer differ from the proxy's for the same call (defaults and unset keys
    /// the principal's policies read).
    pub warnings: Vec<String>,
    /// The `[[quotas.rules]]` entries the call falls under, in config order.
    pub quotas: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QuestionError(pub String);

/// Decides `question` against `snapshot`, with the built-in routing tables (no control plane).
pub fn ask(snapshot: &Snapshot, question: &Question<'_>) -> Result<Answer, QuestionError> {
    ask_with_routing(snapshot, question, &BuiltinRouting)
}

/// Decides `question` against `snapshot`, with profile routing from `routing` (the control-plane
/// cache the proxy uses, when the caller has one). An id the cache does not know is an error here;
/// [`ask_resolving`] looks it up.
pub fn ask_with_routing(
    snapshot: &Snapshot,
    question: &Question<'_>,
    routing: &dyn Routing,
) -> Result<Answer, QuestionError> {
    match ask_inner(snapshot, question, routing)? {
        Asked::Answer(answer) => Ok(*answer),
        Asked::NotCached(err) => Err(QuestionError(err.to_string())),
    }
}

/// Decides `question` with routing from `control_plane`, looking up (once each) the ids its cache
/// does not know, exactly as the proxy does.
pub async fn ask_resolving(
    snapshot: &Snapshot,
    question: &Question<'_>,
    control_plane: &ControlPlane,
) -> Result<Answer, QuestionError> {
    // Each lookup settles its id (found or marked missing), so a few rounds always suffice.
    for _ in 0..4 {
        match ask_inner(snapshot, question, &control_plane.routing())? {
            Asked::Answer(answer) => return Ok(*answer),
            Asked::NotCached(ClassifyError::RouteNotCached { region, kind, key }) => {
                control_plane.resolve(&region, kind, &key).await;
            }
            Asked::NotCached(err) => return Err(QuestionError(err.to_string())),
        }
    }
    Err(QuestionError(
        "control-plane lookups did not settle".to_owned(),
    ))
}

enum Asked {
    Answer(Box<Answer>),
    NotCached(ClassifyError),
}

fn ask_inner(
    snapshot: &Snapshot,
    question: &Question<'_>,
    routing: &dyn Routing,
) -> Result<Asked, QuestionError> {
    let principal = match question.principal {
        Some(name) => snapshot
            .principal(name)
            .ok_or_else(|| QuestionError(format!("no principal named {name:?} in the config")))?,
        None => snapshot.fixed_principal(),
    };
    let operation = match question.operation {
        None => Operation::InvokeModel,
        Some(name) => *Operation::all()
            .iter()
            .find(|op| op.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| QuestionError(format!("unknown operation {name:?}")))?,
    };
    let model = ModelId::from_decoded(question.model)
        .map_err(|e| QuestionError(format!("model {:?}: {e}", question.model)))?;
    let (target, body_model) = match operation {
        Operation::StartAsyncInvoke
        | Operation::ChatCompletions
        | Operation::ChatCompletionsStream
        | Operation::CreateResponse
        | Operation::CreateResponseStream => (Target::ModelInBody, Some(&model)),
        Operation::InvokeModel
        | Operation::InvokeModelWithBidirectionalStream
        | Operation::InvokeModelWithResponseStream
        | Operation::Converse
        | Operation::ConverseStream
        | Operation::CountTokens => (Target::Model(model.clone()), None),
        other => {
            return Err(QuestionError(format!(
                "{} does not take a model id",
                other.name()
            )))
        }
    };
    let region = question
        .region
        .or(snapshot.region.as_deref())
        .unwrap_or(FALLBACK_REGION)
        .to_owned();
    let (account, account_source) = match (
        snapshot.account_id.as_deref(),
        question.account,
        principal.account(),
    ) {
        (Some(account), _, _) => (account, AccountSource::Config),
        (None, Some((account, source)), _) => (account, source),
        (None, None, Some(account)) => (account, AccountSource::Principal),
        (None, None, None) => (PLACEHOLDER_ACCOUNT, AccountSource::Placeholder),
    };
    let classified = classify::resource_checks_with_source(
        operation,
        &target,
        body_model,
        &ResourceContext {
            region: &region,
            account_id: Some(account),
            profiles: &snapshot.profiles,
            application_profiles: &snapshot.application_profiles,
            routing,
            unresolved: snapshot.unresolved_wrappers,
        },
    );
    let (checks, routing_source) = match classified {
        Ok(classified) => classified,
        Err(err @ ClassifyError::RouteNotCached { .. }) => return Ok(Asked::NotCached(err)),
        Err(err) => return Err(QuestionError(err.to_string())),
    };

    // The proxy's own key builder, with an empty request from DEFAULT_SOURCE_IP: what the proxy sets
    // for every call is set here the same way.
    let mut context = RequestContext::new();
    context.set(classify::REQUESTED_REGION_KEY, region.as_str());
    principal.fill_context(&mut context);
    let source_ip: IpAddr = DEFAULT_SOURCE_IP
        .parse()
        .map_err(|_| QuestionError("bad default source address".to_owned()))?;
    keys::fill(
        &mut context,
        operation,
        &Inbound {
            headers: &HeaderMap::new(),
            body: &BodyKeys::default(),
            client_ip: Some(source_ip),
        },
        &region,
        Some(account),
    )
    .map_err(|e| QuestionError(e.to_string()))?;
    let mut given: Vec<(&str, Vec<String>)> = Vec::new();
    for (key, value) in &question.context {
        match given.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
            Some((_, values)) => values.push(value.clone()),
            None => given.push((key, vec![value.clone()])),
        }
    }
    for (key, values) in given {
        context.set_many(key.to_owned(), values);
    }

    let action = operation.iam_action();
    let decision = principal.evaluate(&AuthzRequest {
        principal_arn: principal.arn(),
        action,
        checks: &checks,
        context: &context,
    });
    let warnings = warnings(
        principal,
        &question.context,
        &context,
        &checks,
        account_source,
    );
    let call = crate::quota::CallInfo {
        principal,
        operation,
        model: question.model,
    };
    let quotas = snapshot
        .quotas
        .applying(&call)
        .map(|rule| rule.name.to_string())
        .collect();
    Ok(Asked::Answer(Box::new(Answer {
        quotas,
        principal: Arc::clone(principal),
        operation,
        action,
        region,
        account: account.to_owned(),
        account_source,
        checks,
        routing_source,
        context,
        decision,
        warnings,
    })))
}

/// Keys the principal's policies read that `explain` had to default or could not set, and an account
/// that is not the proxy's.
fn warnings(
    principal: &Principal,
    given: &[(String, String)],
    context: &RequestContext,
    checks: &[ResourceCheck],
    account: AccountSource,
) -> Vec<String> {
    let mut read: Vec<&str> = Vec::new();
    for (_, set) in principal.layers() {
        for key in set.condition_keys() {
            if !read.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                read.push(key);
            }
        }
    }
    let given = |key: &str| given.iter().any(|(k, _)| k.eq_ignore_ascii_case(key));
    let mut warnings = Vec::new();
    for key in read {
        if key.eq_ignore_ascii_case("aws:SourceIp") && !given(key) {
            warnings.push(format!(
                "aws:SourceIp is {DEFAULT_SOURCE_IP} here; the proxy uses the client's address \
                 (--context aws:SourceIp=ADDRESS)"
            ));
        } else if context.get(key).is_none()
            && !checks
                .iter()
                .any(|c| c.context.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)))
        {
            warnings.push(format!(
                "{key} is unset for this call: {} (--context {key}=VALUE)",
                unset_reason(key)
            ));
        }
    }
    match account {
        AccountSource::Principal => warnings.push(
            "the account in profile ARNs is the principal's; the proxy uses its own credentials' \
             account (set account_id, or give credentials so STS can tell)"
                .to_owned(),
        ),
        AccountSource::Placeholder => warnings.push(format!(
            "the account in profile ARNs is the placeholder {PLACEHOLDER_ACCOUNT}: no account_id in \
             the config and no credentials for STS"
        )),
        AccountSource::Config | AccountSource::Given | AccountSource::Sts => {}
    }
    warnings
}

/// Why the proxy may not set `key`, for the "unset" warning (README "Condition keys" says the same).
fn unset_reason(key: &str) -> &'static str {
    let key = key.to_ascii_lowercase();
    match key.as_str() {
        "bedrock:guardrailidentifier" => {
            "the proxy sets it only when the request names a guardrail (header or Converse body)"
        }
        "bedrock:servicetier" => "the proxy sets it only when the request asks for a service tier",
        "bedrock:inferenceprofilearn" => {
            "the proxy sets it only on the model checks of an inference-profile call"
        }
        "aws:requesttag" | "aws:tagkeys" => {
            "the proxy sets it only for StartAsyncInvoke bodies that carry tags"
        }
        _ if key.starts_with("aws:requesttag/") => {
            "the proxy sets it only for StartAsyncInvoke bodies that carry this tag"
        }
        _ if key.starts_with("aws:principaltag/") => "the principal has no such tag in the config",
        _ => "the guard never sets it, so a condition on it sees a missing key",
    }
}

/// A `[[policy_tests]]` case that did not get its expected decision (or could not be asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub name: String,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy test {}: {}", self.name, self.message)
    }
}

/// Runs every `[[policy_tests]]` case of the snapshot; `Ok(count)` when all pass.
pub fn run_policy_tests(snapshot: &Snapshot) -> Result<usize, Vec<Failure>> {
    run_policy_tests_with(snapshot, &BuiltinRouting)
}

/// [`run_policy_tests`] with profile routing from `routing`.
pub fn run_policy_tests_with(
    snapshot: &Snapshot,
    routing: &dyn Routing,
) -> Result<usize, Vec<Failure>> {
    let mut failures = Vec::new();
    for (i, test) in snapshot.policy_tests.iter().enumerate() {
        let name = test
            .name
            .clone()
            .unwrap_or_else(|| format!("#{i} ({})", test.model));
        let question = Question {
            principal: test.principal.as_deref(),
            operation: test.operation.as_deref(),
            model: &test.model,
            region: test.region.as_deref(),
            context: test
                .context
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            account: None,
        };
        match ask_with_routing(snapshot, &question, routing) {
            Ok(answer) => {
                let allowed = answer.decision.is_allowed();
                if allowed != (test.expect == Expectation::Allow) {
                    failures.push(Failure {
                        name,
                        message: format!(
                            "expected {}, got {}",
                            if allowed { "deny" } else { "allow" },
                            answer.decision
                        ),
                    });
                }
            }
            Err(e) => failures.push(Failure { name, message: e.0 }),
        }
    }
    if failures.is_empty() {
        Ok(snapshot.policy_tests.len())
    } else {
        Err(failures)
    }
}
