//! One authorization outside the proxy, built exactly as the proxy builds it: the same
//! [`classify::resource_checks`], the same principal keys. Used by `bedrock-guard explain` and by the
//! `[[policy_tests]]` that `check` (and later a hot reload) runs ([`run_policy_tests`]).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::classify::{self, ModelId, Operation, ResourceContext, Target};
use crate::config::{Expectation, Snapshot};
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
    pub context: RequestContext,
    pub decision: Decision,
    /// The `[[quotas.rules]]` entries the call falls under, in config order.
    pub quotas: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QuestionError(pub String);

/// Decides `question` against `snapshot`.
pub fn ask(snapshot: &Snapshot, question: &Question<'_>) -> Result<Answer, QuestionError> {
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
    let checks = classify::resource_checks(
        operation,
        &target,
        body_model,
        &ResourceContext {
            region: &region,
            account_id: Some(account),
            profiles: &snapshot.profiles,
            application_profiles: &snapshot.application_profiles,
        },
    )
    .map_err(|e| QuestionError(e.to_string()))?;

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
    Ok(Answer {
        quotas,
        principal: Arc::clone(principal),
        operation,
        action,
        region,
        checks,
        context,
        decision,
    })
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
        match ask(snapshot, &question) {
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
