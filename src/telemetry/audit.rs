//! The audit event: exactly one per request, emitted when the answer is complete (a stream's last
//! byte, or the client going away), so streams are logged with their final token counts.
//!
//! It goes through `tracing` on the [`AUDIT_TARGET`] target, in whatever format the log is configured
//! for (`[log] format`), and can be routed or filtered on its own (`RUST_LOG=bedrock_guard::audit=info`).
//! What it never contains: request or response bodies (prompts, completions), client credentials or
//! signatures, or the proxy's own credentials. Model ids, ARNs and the principal are not secret.
//!
//! Fields: `request_id`, `upstream_request_id`, `principal`, `operation`, `model_sent` (the id as it
//! appeared on the wire), `model` (decoded and validated: what was authorized and forwarded),
//! `resources` (every ARN authorized, comma-separated), `decision` (allow, deny, none), `rule`,
//! `config_version`, `status` (to the client; 499 when it left before any answer), `upstream_status`,
//! `latency_ms` (arrival to last byte), `upstream_latency_ms` (upstream request to its response
//! headers), `ttfb_ms` (upstream request to its first body byte), `input_tokens`, `output_tokens`,
//! `outcome` (complete, refused, client_gone, upstream_broken), `error`, `quota` (the quota that
//! refused the call, if one did).

use std::time::{Duration, Instant};

use http::HeaderMap;

use super::metrics;
use super::tokens::Tokens;
use crate::classify::{ModelId, Operation, Route};
use crate::config::Snapshot;
use crate::policy::{Decision, ResourceCheck};

pub const AUDIT_TARGET: &str = "bedrock_guard::audit";

/// How a request ended, as logged in `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The whole response reached the client (whatever its status).
    Complete,
    /// The proxy answered itself (deny, validation, overload, upstream unreachable ...).
    Refused,
    /// The client went away before the end of the response (or before there was one).
    ClientGone,
    /// The upstream body failed after the response had started.
    UpstreamBroken,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::Refused => "refused",
            Outcome::ClientGone => "client_gone",
            Outcome::UpstreamBroken => "upstream_broken",
        }
    }
}

/// What is known about one request so far; filled in phase by phase.
#[derive(Debug)]
pub struct Audit {
    request_id: String,
    started: Instant,
    principal: String,
    config_version: String,
    operation: Option<Operation>,
    model_sent: Option<String>,
    model: Option<String>,
    /// Every ARN authorized, comma-separated (joined once, as logged).
    resources: String,
    decision: &'static str,
    rule: Option<String>,
    upstream_sent: Option<Instant>,
    upstream_latency: Option<Duration>,
    upstream_ttfb: Option<Duration>,
    upstream_status: Option<u16>,
    upstream_request_id: Option<String>,
    /// A tool's start-up probe (see `http::probe`): its refusal is logged at debug.
    probe: bool,
    /// Charged with this request's tokens when the event is emitted.
    quota: Option<crate::quota::Admission>,
    quota_refused: Option<String>,
    emitted: bool,
}

/// Logged as the status of a request whose client left before any response (nginx's convention).
pub const CLIENT_CLOSED_REQUEST: u16 = 499;

impl Audit {
    pub fn begin(request_id: &str, snapshot: &Snapshot) -> Self {
        Self {
            request_id: request_id.to_owned(),
            started: Instant::now(),
            // Until the caller is authenticated: the fixed principal (what unauthenticated set-ups use).
            principal: snapshot.fixed_principal().arn().to_owned(),
            config_version: snapshot.version.clone(),
            operation: None,
            model_sent: None,
            model: None,
            resources: String::new(),
            decision: "none",
            rule: None,
            upstream_sent: None,
            upstream_latency: None,
            upstream_ttfb: None,
            upstream_status: None,
            upstream_request_id: None,
            probe: false,
            quota: None,
            quota_refused: None,
            emitted: false,
        }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    pub fn operation(&self) -> Option<Operation> {
        self.operation
    }

    pub fn mark_probe(&mut self) {
        self.probe = true;
    }

    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The authenticated caller.
    pub fn principal(&mut self, principal: &crate::auth::Principal) {
        principal.arn().clone_into(&mut self.principal);
    }

    /// The classified route; `raw_path` is the path as received, for the model id as sent.
    pub fn route(&mut self, route: &Route, raw_path: &str) {
        self.operation = Some(route.operation);
        if let Some(id) = route.target.model_id() {
            self.model = Some(id.as_str().to_owned());
            self.model_sent = model_segment(raw_path).map(str::to_owned);
        }
    }

    /// StartAsyncInvoke: the model id from the JSON body (sent as a JSON string, so already decoded).
    pub fn body_model(&mut self, id: &ModelId) {
        self.model = Some(id.as_str().to_owned());
        self.model_sent = Some(id.as_str().to_owned());
    }

    pub fn resources(&mut self, checks: &[ResourceCheck]) {
        let len = checks.iter().map(|c| c.arn.len() + 1).sum();
        let mut joined = String::with_capacity(len);
        for (i, check) in checks.iter().enumerate() {
            if i > 0 {
                joined.push(',');
            }
            joined.push_str(&check.arn);
        }
        self.resources = joined;
    }

    pub fn decision(&mut self, decision: &Decision) {
        self.decision = if decision.is_allowed() {
            "allow"
        } else {
            "deny"
        };
        self.rule = decision.rule().map(crate::policy::RuleRef::name);
    }

    /// Refused before policy evaluation because what `wrapper_arn` routes to is unknown: a denial
    /// (AccessDeniedException), recorded as one.
    pub fn unresolved_wrapper(&mut self, wrapper_arn: &str) {
        wrapper_arn.clone_into(&mut self.resources);
        self.decision = "deny";
        self.rule = Some("unresolved-wrapper".to_owned());
    }

    /// The upstream request is about to be sent.
    pub fn upstream_sent(&mut self) {
        self.upstream_sent = Some(Instant::now());
    }

    pub fn upstream_response(&mut self, status: u16, headers: &HeaderMap) {
        self.upstream_latency = self.upstream_sent.map(|t| t.elapsed());
        self.upstream_status = Some(status);
        self.upstream_request_id = headers
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
    }

    /// The first body byte from upstream has arrived (later calls are ignored).
    pub fn first_byte(&mut self) {
        if self.upstream_ttfb.is_none() {
            self.upstream_ttfb = self.upstream_sent.map(|t| t.elapsed());
        }
    }

    /// The call was admitted under quotas: charge it with the metered tokens at the end.
    pub fn quota_admission(&mut self, admission: crate::quota::Admission) {
        self.quota = Some(admission);
    }

    /// The quota that refused the call.
    pub fn quota_refused(&mut self, quota: &str) {
        self.quota_refused = Some(quota.to_owned());
    }

    /// Emits the event and records the request's metrics.
    pub fn finish(mut self, outcome: Outcome, status: u16, tokens: Tokens, error: Option<&str>) {
        self.emit(outcome, status, tokens, error);
    }

    fn emit(&mut self, outcome: Outcome, status: u16, tokens: Tokens, error: Option<&str>) {
        if std::mem::replace(&mut self.emitted, true) {
            return;
        }
        // Quotas are charged from the same meter as the event (a call cut short: what was metered).
        if let Some(admission) = self.quota.take() {
            admission.settle(&tokens);
        }
        let latency = self.started.elapsed();
        let operation = self.operation.map(Operation::name).unwrap_or("unknown");
        tracing::info!(
            target: AUDIT_TARGET,
            request_id = %self.request_id,
            upstream_request_id = self.upstream_request_id.as_deref(),
            principal = %self.principal,
            operation,
            model_sent = self.model_sent.as_deref(),
            model = self.model.as_deref(),
            resources = %self.resources,
            decision = self.decision,
            rule = self.rule.as_deref(),
            config_version = %self.config_version,
            status,
            upstream_status = self.upstream_status,
            latency_ms = millis(latency),
            upstream_latency_ms = self.upstream_latency.map(millis),
            ttfb_ms = self.upstream_ttfb.map(millis),
            input_tokens = tokens.input,
            output_tokens = tokens.output,
            outcome = outcome.as_str(),
            error,
            quota = self.quota_refused.as_deref(),
            "audit"
        );
        metrics::record_request(operation, self.decision, status, latency);
        if self.decision == "deny" {
            metrics::record_denial(self.rule.as_deref().unwrap_or("implicit"));
        }
        metrics::record_upstream(operation, self.upstream_latency, self.upstream_ttfb);
        if let Some(model) = &self.model {
            metrics::record_tokens(&self.principal, model, tokens.input, tokens.output);
        }
    }
}

/// A request whose handler was cancelled (the client disconnected while the guard was still reading
/// the body or waiting for Bedrock) is still audited, once.
impl Drop for Audit {
    fn drop(&mut self) {
        self.emit(
            Outcome::ClientGone,
            CLIENT_CLOSED_REQUEST,
            Tokens::default(),
            None,
        );
    }
}

/// Milliseconds with microsecond precision.
fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// `/model/{id}/{operation}` -> `{id}` exactly as received (still percent-encoded if it was).
fn model_segment(raw_path: &str) -> Option<&str> {
    let rest = raw_path.strip_prefix("/model/")?;
    let (id, _operation) = rest.rsplit_once('/')?;
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_segment_is_taken_raw() {
        assert_eq!(
            model_segment("/model/anthropic.claude-v2%3A1/invoke"),
            Some("anthropic.claude-v2%3A1")
        );
        assert_eq!(
            model_segment("/model/arn:aws:bedrock:us-east-1::foundation-model/x/converse"),
            Some("arn:aws:bedrock:us-east-1::foundation-model/x")
        );
        assert_eq!(model_segment("/async-invoke"), None);
        assert_eq!(model_segment("/model//invoke"), None);
    }
}
