//! One authorization outside the proxy, built exactly as the proxy builds it: the same
//! [`classify::resource_checks`], the same principal keys. Used by `bedrock-guard explain` and by the
//! `[[policy_tests]]` that `check` (and later a hot reload) runs ([`run_policy_tests`]).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::classify::{
    self, ClassifyError, ModelId, Operation, ResourceContext, RouteSource, Routing, Target,
};
use crate::config::{Expectation, Snapshot};
use crate::controlplane::{BuiltinRouting, ControlPlane};
use crate::guard::FALLBACK_REGION;
use crate::policy::{AuthzRequest, Decision, Principal, RequestContext, ResourceCheck};

/// Used in inference-profile ARNs when neither the config nor the principal names an account.
pub const PLACEHOLDER_ACCOUNT: &str = "000000000000";

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
    /// Extra request keys, overriding the computed ones.
    pub context: Vec<(String, String)>,
}

/// The decision with everything it was made from.
#[derive(Debug, Clone)]
pub struct Answer {
    pub principal: Arc<Principal>,
    pub operation: Operation,
    pub action: &'static str,
    pub region: String,
    pub checks: Vec<ResourceCheck>,
    /// Where the routing of a wrapper (inference profile, router, ...) came from; `None`: no wrapper.
    pub routing_source: Option<RouteSource>,
    pub context: RequestContext,
    pub decision: Decision,
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
        Operation::StartAsyncInvoke => (Target::ModelInBody, Some(&model)),
        Operation::InvokeModel
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
    let account = snapshot
        .account_id
        .as_deref()
        .or(principal.account())
        .unwrap_or(PLACEHOLDER_ACCOUNT);
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

    let mut context = RequestContext::new();
    context.set("aws:RequestedRegion", region.as_str());
    principal.fill_context(&mut context);
    context.set_time(SystemTime::now());
    context.set("aws:SecureTransport", "false");
    for (key, value) in &question.context {
        context.set(key, value.as_str());
    }
    let action = operation.iam_action();
    let decision = principal.evaluate(&AuthzRequest {
        principal_arn: principal.arn(),
        action,
        checks: &checks,
        context: &context,
    });
    Ok(Asked::Answer(Box::new(Answer {
        principal: Arc::clone(principal),
        operation,
        action,
        region,
        checks,
        routing_source,
        context,
        decision,
    })))
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
