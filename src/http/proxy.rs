//! One request, in phases: authenticate from the head, admit, read the body (bounded), finish
//! authentication (a SigV4 signature covers the body), classify, authorize, re-sign, forward, stream
//! back (observed for the audit event as it passes).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH};
use tokio::sync::OwnedSemaphorePermit;

use super::body::{self, BodyLimits, ConnectionBudget, Reservation};
use super::context::{self as keys, Inbound};
use super::error::GuardError;
use super::headers::{forwardable_request_headers, strip_hop_by_hop};
use super::inputs;
use crate::auth::{Caller, HeadAuth, RequestHead};
use crate::aws::{sign_request, signed_header_map};
use crate::classify::{self, ClassifyError, ModelId, ResourceContext, Route, RouteSource, Target};
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

pub(crate) async fn handle(shared: Arc<Shared>, request: Request) -> Response {
    let request_id = new_request_id();
    let started = Instant::now();
    let method = request.method().clone();
    // A shared handle on the parsed URI (no copy), for the error path.
    let uri = request.uri().clone();
    let path = uri.path();
    // One snapshot for the whole request, streams included, so a reload mid-request cannot mix two
    // configurations.
    let snapshot = shared.live.load_full();
    let mut audit = Audit::begin(&request_id, &snapshot);
    let in_flight = GaugeGuard::in_flight();
    // Boxed: the handler's state is kilobytes, and the futures wrapping this one (the connection's
    // service call, the router's on the admin path) would otherwise move it by value (two copies of
    // it per request in callgrind).
    let result = Box::pin(proxy(&shared, &snapshot, request, &request_id, &mut audit)).await;
    let mut response = match result {
        Ok((response, permit)) => {
            tracing::debug!(
                request_id,
                status = response.status().as_u16(),
                elapsed_us = started.elapsed().as_micros() as u64,
                "forwarded"
            );
            // The permit and the in-flight count last until the body ends, streams included.
            observe(response, audit, Box::new((permit, in_flight)))
        }
        Err(err) => {
            // A tool's start-up probe (a model the policy denies, a listing without a control
            // plane, which start-up already warned about) is an answer, not a failure.
            if audit.is_probe() || super::probe::is_discovery(&method, path) {
                tracing::debug!(request_id, %method, path, error = %err, config_version = %snapshot.version, "refused a start-up probe");
            } else if err.is_client_fault() {
                tracing::info!(request_id, %method, path, error = %err, config_version = %snapshot.version, "refused");
            } else {
                tracing::warn!(request_id, %method, path, error = %err, config_version = %snapshot.version, "failed");
            }
            let message = err.to_string();
            let response = err.into_response_for_path(path, &request_id);
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
) -> Result<(Response, OwnedSemaphorePermit), GuardError> {
    let (parts, body) = request.into_parts();
    // A bidirectional stream's body is the session itself: it is authorized from the head and
    // relayed frame by frame, never read first.
    if super::bidi::is_bidirectional(&parts.method, parts.uri.path()) {
        return super::bidi::relay(shared, snapshot, parts, body, request_id, audit).await;
    }
    let peer = peer_ip(&parts);
    // Who is calling, from the head: an unauthenticated request never takes a slot or buffers a body.
    let head_auth = authenticate_head(shared, snapshot, &parts)?;
    // Admission next, before reading a byte of the body: overload must cost as little as possible.
    let permit = admit(shared)?;
    let (body, _reservation) = read_body(shared, snapshot, &parts, body).await?;
    let caller = head_auth.finish(&body)?;
    audit.principal(&caller.principal);
    // A SigV4 client's credential scope picks the region (already checked against the allowed ones).
    let region = caller.region.as_deref().unwrap_or(&shared.region);

    if let Some(discovery) =
        crate::discovery::DiscoveryRequest::parse(&parts.method, parts.uri.path())
    {
        return discover(shared, snapshot, &caller, region, peer, &discovery, &parts)
            .map(|response| (response, permit));
    }

    let route = classify::classify(&parts.method, parts.uri.path(), parts.uri.query())?;
    audit.route(&route, parts.uri.path());
    // StartAsyncInvoke and the OpenAI routes name the model in the body, which also picks the
    // OpenAI routes' streaming form.
    let classify::BodyFields {
        route,
        model: body_model,
    } = classify::with_body(route, &body)?;
    if route.target == Target::ModelInBody {
        // The body may have picked the streaming form; model routes are recorded already.
        audit.route(&route, parts.uri.path());
    }

    if let Some(id) = &body_model {
        audit.body_model(id);
    }

    // Fail closed on the inputs policy reads: repeated parameter headers, ambiguous body keys, S3
    // locations outside the caller's allowlist.
    inputs::refuse_duplicate_parameters(&parts.headers)?;
    let body_keys = inputs::read_body(snapshot, &caller, route.operation, &body)?;

    let target = Call {
        caller: &caller,
        region,
        route: &route,
        body_model: body_model.as_ref(),
        body: &body,
    };
    let inbound = Inbound {
        headers: &parts.headers,
        body: &body_keys,
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
    // `target` still lends the body to the deny path's probe check; the upstream gets a shared handle.
    let upstream_body = body.clone();
    let mut response = forward(
        shared,
        &target,
        &parts.method,
        &parts.headers,
        upstream_body,
        audit,
    )
    .await?;
    allowance.write_headers(response.headers_mut());
    Ok((response, permit))
}

/// A concurrency slot, taken only once the caller is known; refused at once when all are taken
/// (refusing beats queueing into timeouts).
pub(super) fn admit(shared: &Shared) -> Result<OwnedSemaphorePermit, GuardError> {
    shared.ops.admit().map_err(|overloaded| {
        guard_metrics::record_overload();
        GuardError::Overloaded {
            limit: overloaded.limit,
        }
    })
}

/// The client address the connection came from (absent when the router is driven without a socket).
pub(crate) fn peer_ip(parts: &http::request::Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// Authentication from the request head alone, for every path that must refuse unknown callers
/// before committing resources to them (a slot, a body buffer, an upstream stream). Finish with
/// [`HeadAuth::finish`] once the body is in.
pub(crate) fn authenticate_head(
    shared: &Shared,
    snapshot: &Snapshot,
    parts: &http::request::Parts,
) -> Result<HeadAuth, GuardError> {
    let head = RequestHead {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        // HTTP/2 carries the host as `:authority`, which hyper puts in the URI.
        authority: (parts.version == http::Version::HTTP_2)
            .then(|| parts.uri.authority().map(|a| a.as_str()))
            .flatten(),
        headers: &parts.headers,
    };
    Ok(snapshot
        .auth
        .authenticate_head(&head, peer_ip(parts), &shared.region, SystemTime::now())?)
}

/// Reads the body within the snapshot's size cap, the deadline and minimum rate, and the byte budgets
/// (the connection's, when served by the guard's own loop, and the whole proxy's). The reservation
/// must live until the body has been handed upstream.
async fn read_body(
    shared: &Shared,
    snapshot: &Snapshot,
    parts: &http::request::Parts,
    body: Body,
) -> Result<(Bytes, Reservation), GuardError> {
    let limits = BodyLimits {
        max_bytes: snapshot.max_body_bytes,
        ..shared.ops.body_limits
    };
    match parts.extensions.get::<ConnectionBudget>() {
        Some(connection) => {
            let budgets = [&connection.0, &shared.ops.body_budget];
            body::read_body(body, &parts.headers, limits, &budgets).await
        }
        None => body::read_body(body, &parts.headers, limits, &[&shared.ops.body_budget]).await,
    }
}

/// A model discovery call, answered from the control-plane cache with only what this caller may
/// invoke (`crate::discovery`); nothing goes upstream.
fn discover(
    shared: &Shared,
    snapshot: &Snapshot,
    caller: &Caller,
    region: &str,
    peer: Option<std::net::IpAddr>,
    request: &crate::discovery::DiscoveryRequest,
    parts: &http::request::Parts,
) -> Result<Response, GuardError> {
    let asker = crate::discovery::Asker {
        principal: (caller.method != crate::auth::AuthMethod::Fixed)
            .then(|| caller.principal.name()),
        region,
        context: peer
            .map(|ip| vec![("aws:SourceIp".to_owned(), keys::source_ip(ip))])
            .unwrap_or_default(),
    };
    let body = crate::discovery::answer(
        snapshot,
        &shared.control_plane,
        &asker,
        request,
        parts.uri.query(),
    )?;
    let mut response = Response::new(Body::from(body.to_string()));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// What one request asks for, once authenticated and classified.
pub(super) struct Call<'a> {
    pub(super) caller: &'a Caller,
    pub(super) region: &'a str,
    pub(super) route: &'a Route,
    pub(super) body_model: Option<&'a ModelId>,
    /// The request body, read only if the call is denied: a tool's start-up probe
    /// (`probe::is_model_probe`) expects its denial, which is logged at debug.
    pub(super) body: &'a [u8],
}

pub(super) async fn authorize(
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
        ..
    } = *call;
    let principal = &caller.principal;
    let checks = match resource_checks(shared, snapshot, region, route, body_model).await {
        Ok(checks) => checks,
        Err(err) => {
            if let GuardError::Classify(ClassifyError::UnresolvedWrapper { arn, .. }) = &err {
                audit.unresolved_wrapper(arn);
            }
            return Err(err);
        }
    };
    audit.resources(&checks);
    let mut context = RequestContext::new();
    context.set("aws:RequestedRegion", region);
    principal.fill_context(&mut context);
    keys::fill(
        &mut context,
        route.operation,
        inbound,
        region,
        shared.account.cached(),
    )?;

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
    } else if super::probe::is_model_probe(route.operation, call.body) {
        audit.mark_probe();
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

/// Lookups one call may trigger: the account id, then a wrapper and what it leads to (a router's
/// inference profile). Each lookup settles its key, so this bounds a loop that always ends anyway.
const MAX_RESOLUTIONS: usize = 4;

/// The resource checks for this call. The account id and what a wrapper routes to are looked up on
/// first need (then cached) rather than making every call wait for them.
async fn resource_checks(
    shared: &Shared,
    snapshot: &Snapshot,
    region: &str,
    route: &Route,
    body_model: Option<&ModelId>,
) -> Result<Vec<ResourceCheck>, GuardError> {
    let mut account = shared.account.cached();
    for _ in 0..MAX_RESOLUTIONS {
        let routing = shared.control_plane.routing();
        let context = ResourceContext {
            region,
            account_id: account,
            profiles: &snapshot.profiles,
            application_profiles: &snapshot.application_profiles,
            routing: &routing,
            unresolved: snapshot.unresolved_wrappers,
        };
        match classify::resource_checks_with_source(
            route.operation,
            &route.target,
            body_model,
            &context,
        ) {
            Err(ClassifyError::AccountIdUnknown) if account.is_none() => {
                account = Some(
                    shared
                        .account
                        .resolve()
                        .await
                        .map_err(GuardError::Account)?,
                );
            }
            Err(ClassifyError::RouteNotCached { region, kind, key }) => {
                shared.control_plane.resolve(&region, kind, &key).await;
            }
            Ok((checks, source)) => {
                if let Some(
                    source @ (RouteSource::BuiltinModelTable | RouteSource::BuiltinPrefixTable),
                ) = source
                {
                    metrics::counter!("bedrock_guard_routing_fallback_total", "source" => source.as_str())
                        .increment(1);
                }
                return Ok(checks);
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ClassifyError::RouteNotCached {
        region: region.to_owned(),
        kind: classify::WrapperKind::SystemProfile,
        key: "(lookups did not settle)".to_owned(),
    }
    .into())
}

async fn forward(
    shared: &Shared,
    call: &Call<'_>,
    method: &http::Method,
    client_headers: &HeaderMap,
    body: Bytes,
    audit: &mut Audit,
) -> Result<Response, GuardError> {
    let target = shared
        .upstream
        .target(call.region, &call.route.upstream_path);
    let mut headers = forwardable_request_headers(client_headers)?;
    headers.push((CONTENT_LENGTH, HeaderValue::from(body.len())));

    let credentials = shared.credentials_for(call.caller).await?;
    let signature = {
        let to_sign = headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        sign_request(
            method.as_str(),
            &target,
            to_sign,
            &body,
            &credentials,
            call.region,
            SystemTime::now(),
        )?
    };

    let outgoing = signed_header_map(headers, signature)?;

    audit.upstream_sent();
    let upstream = shared
        .upstream
        .send(method.clone(), target, outgoing, body)
        .await?;
    audit.upstream_response(upstream.status().as_u16(), upstream.headers());

    // Streams (application/vnd.amazon.eventstream) and plain bodies alike pass through chunk by chunk:
    // nothing is buffered, and dropping the client's body drops the upstream connection with it.
    let (mut parts, upstream_body) = upstream.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let mut response = Response::new(Body::new(upstream_body));
    *response.status_mut() = parts.status;
    *response.headers_mut() = parts.headers;
    Ok(response)
}
