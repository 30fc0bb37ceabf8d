//! One request, in phases: admit, read the body, authenticate, classify, authorize, re-sign,
//! forward, stream back (observed for the audit event as it passes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH};
use http_body_util::{BodyExt, Limited};

use super::context::{self as keys, Inbound};
use super::error::GuardError;
use super::headers::{client_response_headers, forwardable_request_headers};
use crate::auth::{Caller, IncomingRequest};
use crate::aws::{sign_request, SigningError};
use crate::classify::{self, ClassifyError, ModelId, ResourceContext, Route, Target};
use crate::config::{EnforcementMode, Snapshot};
use crate::policy::{AuthzRequest, RequestContext, ResourceCheck};
use crate::state::Shared;
use crate::telemetry::audit::{Audit, Outcome};
use crate::telemetry::body::observe;
use crate::telemetry::metrics::{self as guard_metrics, GaugeGuard};
use crate::telemetry::request_id::new_request_id;
use crate::telemetry::tokens::Tokens;

/// Names the configuration snapshot that answered, on every response (forwarded or not).
pub(crate) const CONFIG_VERSION_HEADER: &str = "x-bedrock-guard-config-version";

pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let request_id = new_request_id();
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // One snapshot for the whole request, streams included, so a reload mid-request cannot mix two
    // configurations.
    let snapshot = shared.live.load_full();
    let mut audit = Audit::begin(&request_id, &snapshot);
    let in_flight = GaugeGuard::in_flight();
    // Admission first, before reading a byte: overload must cost as little as possible.
    let result = match shared.ops.admit() {
        Ok(permit) => proxy(&shared, &snapshot, request, &request_id, &mut audit)
            .await
            .map(|response| (response, permit)),
        Err(overloaded) => {
            guard_metrics::record_overload();
            Err(GuardError::Overloaded {
                limit: overloaded.limit,
            })
        }
    };
    let mut response = match result {
        Ok((response, permit)) => {
            tracing::debug!(
                request_id,
                status = response.status().as_u16(),
                elapsed_us = started.elapsed().as_micros() as u64,
                "forwarded"
            );
            // The permit and the in-flight count last until the body ends, streams included.
            observe(response, audit, vec![Box::new(permit), Box::new(in_flight)])
        }
        Err(err) => {
            if err.is_client_fault() {
                tracing::info!(request_id, %method, path, error = %err, config_version = %snapshot.version, "refused");
            } else {
                tracing::warn!(request_id, %method, path, error = %err, config_version = %snapshot.version, "failed");
            }
            let message = err.to_string();
            let response = err.into_response_with_id(&request_id);
            audit.finish(
                Outcome::Refused,
                response.status().as_u16(),
                Tokens::default(),
                Some(&message),
            );
            response
        }
    };
    if let Ok(version) = HeaderValue::from_str(&snapshot.version) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(CONFIG_VERSION_HEADER), version);
    }
    response
}

async fn proxy(
    shared: &Shared,
    snapshot: &Snapshot,
    request: Request,
    request_id: &str,
    audit: &mut Audit,
) -> Result<Response, GuardError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, &parts.headers, snapshot.max_body_bytes).await?;

    // Who is calling, before any policy or upstream work.
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let incoming = IncomingRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    let caller = snapshot
        .auth
        .authenticate(&incoming, peer, &shared.region, SystemTime::now())?;
    audit.principal(&caller.principal);
    // A SigV4 client's credential scope picks the region (already checked against the allowed ones).
    let region = caller.region.as_deref().unwrap_or(&shared.region);

    let route = classify::classify(&parts.method, parts.uri.path(), parts.uri.query())?;
    audit.route(&route, parts.uri.path());
    let body_model = match route.target {
        Target::ModelInBody => Some(classify::model_id_from_async_body(&body)?),
        _ => None,
    };

    if let Some(id) = &body_model {
        audit.body_model(id);
    }

    let target = Call {
        caller: &caller,
        region,
        route: &route,
        body_model: body_model.as_ref(),
    };
    let inbound = Inbound {
        headers: &parts.headers,
        body: &body,
        client_ip: peer,
    };
    authorize(shared, snapshot, &target, &inbound, request_id, audit).await?;
    let allowance = crate::quota::enforce::admit_call(
        shared,
        snapshot,
        &caller,
        &route,
        body_model.as_ref(),
        &body,
        audit,
    )
    .await?;
    let mut response = forward(shared, &target, &parts.method, &parts.headers, body, audit).await?;
    allowance.write_headers(response.headers_mut());
    Ok(response)
}

/// What one request asks for, once authenticated and classified.
struct Call<'a> {
    caller: &'a Caller,
    region: &'a str,
    route: &'a Route,
    body_model: Option<&'a ModelId>,
}

async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, GuardError> {
    // Refuse a declared oversize body before reading a byte of it.
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(GuardError::BodyTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            Err(GuardError::BodyTooLarge { limit })
        }
        Err(err) => Err(GuardError::BodyRead(err.to_string())),
    }
}

async fn authorize(
    shared: &Shared,
    snapshot: &Snapshot,
    call: &Call<'_>,
    inbound: &Inbound<'_>,
    request_id: &str,
    audit: &mut Audit,
) -> Result<(), GuardError> {
    let Call {
        caller,
        region,
        route,
        body_model,
    } = *call;
    let principal = &caller.principal;
    let checks = resource_checks(shared, snapshot, region, route, body_model).await?;
    audit.resources(&checks);
    let mut context = RequestContext::new();
    context.set("aws:RequestedRegion", region);
    principal.fill_context(&mut context);
    keys::fill(
        &mut context,
        route.operation,
        inbound,
        principal.reads_body(),
        region,
        shared.account.cached(),
    );

    let action = route.operation.iam_action();
    let request = AuthzRequest {
        principal_arn: principal.arn(),
        action,
        checks: &checks,
        context: &context,
    };
    let evaluation = Instant::now();
    let decision = principal.evaluate(&request);
    guard_metrics::record_policy_evaluation(evaluation.elapsed());
    audit.decision(&decision);
    let model = match (&route.target, body_model) {
        (Target::Model(id), _) | (_, Some(id)) => id.as_str(),
        _ => "",
    };
    // The deciding rule's name, built only for a line that is actually logged (not for an allowed call
    // at the default level).
    let rule = || decision.rule().map(|r| r.to_string()).unwrap_or_default();
    let enforced = snapshot.mode == EnforcementMode::Enforce;
    // The audit event already records every call with its decision and rule, so the decision line
    // with the full reasoning is logged at info for denials only; allowed calls log it at debug.
    macro_rules! decision_line {
        ($level:expr) => {
            tracing::event!(
                target: "bedrock_guard::decision",
                $level,
                request_id,
                config_version = %snapshot.version,
                principal = %principal.name(),
                principal_arn = %principal.arn(),
                auth = caller.method.name(),
                operation = route.operation.name(),
                action,
                model,
                decision = verdict(decision.is_allowed()),
                enforced,
                outcome = decision.outcome_name(),
                layer = decision.layer().map(|l| l.to_string()).unwrap_or_default(),
                rule = rule(),
                denied_resource = decision.denied_resource().unwrap_or(""),
                "decision"
            )
        };
    }
    if decision.is_allowed() {
        decision_line!(tracing::Level::DEBUG);
    } else {
        decision_line!(tracing::Level::INFO);
    }
    if let Some(shadow) = &snapshot.shadow {
        let shadow_decision = shadow.evaluate(&request);
        if shadow_decision.is_allowed() != decision.is_allowed() {
            metrics::counter!(
                "bedrock_guard_shadow_disagreements_total",
                "enforced" => verdict(decision.is_allowed()),
                "shadow" => verdict(shadow_decision.is_allowed())
            )
            .increment(1);
            tracing::warn!(
                target: "bedrock_guard::shadow",
                request_id,
                config_version = %snapshot.version,
                operation = route.operation.name(),
                model,
                enforced_decision = verdict(decision.is_allowed()),
                enforced_rule = %rule(),
                shadow_decision = verdict(shadow_decision.is_allowed()),
                shadow_rule = %shadow_decision.rule().map(|r| r.to_string()).unwrap_or_default(),
                shadow_denied_resource = shadow_decision.denied_resource().unwrap_or(""),
                "shadow policy disagrees"
            );
        }
    }
    if decision.is_allowed() {
        return Ok(());
    }
    if !enforced {
        tracing::warn!(target: "bedrock_guard::decision", request_id, operation = route.operation.name(), model, rule = rule(), "report-only: forwarding a call the policy denies");
        return Ok(());
    }
    let message = decision
        .denial_message(principal.arn(), action, !snapshot.hide_rule_names)
        .unwrap_or_else(|| {
            format!(
                "User: {} is not authorized to perform: {action}",
                principal.arn()
            )
        });
    Err(GuardError::AccessDenied { message })
}

fn verdict(allowed: bool) -> &'static str {
    if allowed {
        "allow"
    } else {
        "deny"
    }
}

/// The resource checks for this call. The account id is only needed for some ARNs (inference profiles,
/// guardrails); it is looked up on first need rather than making every call wait for it.
async fn resource_checks(
    shared: &Shared,
    snapshot: &Snapshot,
    region: &str,
    route: &Route,
    body_model: Option<&ModelId>,
) -> Result<Vec<ResourceCheck>, GuardError> {
    let context = |account_id| ResourceContext {
        region,
        account_id,
        profiles: &snapshot.profiles,
        application_profiles: &snapshot.application_profiles,
    };
    match classify::resource_checks(
        route.operation,
        &route.target,
        body_model,
        &context(shared.account.cached()),
    ) {
        Err(ClassifyError::AccountIdUnknown) => {
            let account = shared
                .account
                .resolve()
                .await
                .map_err(GuardError::Account)?;
            Ok(classify::resource_checks(
                route.operation,
                &route.target,
                body_model,
                &context(Some(account)),
            )?)
        }
        other => Ok(other?),
    }
}

async fn forward(
    shared: &Shared,
    call: &Call<'_>,
    method: &http::Method,
    client_headers: &HeaderMap,
    body: Bytes,
    audit: &mut Audit,
) -> Result<Response, GuardError> {
    let url = shared
        .upstream
        .url(call.region, &call.route.upstream_path)?;
    let mut headers = forwardable_request_headers(client_headers)?;
    headers.push((CONTENT_LENGTH, HeaderValue::from(body.len())));

    let credentials = shared.credentials_for(call.caller).await?;
    let signature = {
        let to_sign = headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        sign_request(
            method.as_str(),
            url.as_str(),
            to_sign,
            &body,
            &credentials,
            call.region,
            SystemTime::now(),
        )?
    };

    let mut outgoing = HeaderMap::with_capacity(headers.len() + signature.len());
    for (name, value) in headers {
        outgoing.append(name, value);
    }
    for (name, value) in signature {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(SigningError::from_message)?;
        let value = HeaderValue::from_str(&value).map_err(SigningError::from_message)?;
        outgoing.insert(name, value);
    }

    audit.upstream_sent();
    let upstream = shared
        .upstream
        .send(method.clone(), url, outgoing, body)
        .await?;
    audit.upstream_response(upstream.status().as_u16(), upstream.headers());

    // Streams (application/vnd.amazon.eventstream) and plain bodies alike pass through chunk by chunk:
    // nothing is buffered, and dropping the client's body drops the upstream connection with it.
    let status = upstream.status();
    let headers = client_response_headers(upstream.headers());
    let mut response = Response::new(Body::from_stream(upstream.bytes_stream()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}
