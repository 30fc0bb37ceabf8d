//! One request, in phases: classify, read the body, authorize, re-sign, forward, stream back.

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
use crate::aws::{sign_request, SigningError};
use crate::classify::{self, ClassifyError, ModelId, ResourceContext, Route, Target};
use crate::config::Snapshot;
use crate::policy::{AuthzRequest, RequestContext, ResourceCheck};
use crate::server::Shared;

pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match proxy(&shared, request, &request_id).await {
        Ok(response) => {
            tracing::debug!(
                request_id,
                status = response.status().as_u16(),
                elapsed_us = started.elapsed().as_micros() as u64,
                "forwarded"
            );
            response
        }
        Err(err) => {
            if err.is_client_fault() {
                tracing::info!(request_id, %method, path, error = %err, "refused");
            } else {
                tracing::warn!(request_id, %method, path, error = %err, "failed");
            }
            err.into_response_with_id(&request_id)
        }
    }
}

async fn proxy(
    shared: &Shared,
    request: Request,
    request_id: &str,
) -> Result<Response, GuardError> {
    // One snapshot for the whole request, so a reload mid-request cannot mix two policies.
    let snapshot = shared.live.load_full();
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = request.into_parts();

    let route = classify::classify(&parts.method, parts.uri.path(), parts.uri.query())?;
    let body = read_body(body, &parts.headers, snapshot.max_body_bytes).await?;
    let body_model = match route.target {
        Target::ModelInBody => Some(classify::model_id_from_async_body(&body)?),
        _ => None,
    };

    let inbound = Inbound {
        headers: &parts.headers,
        body: &body,
        client_ip,
    };
    authorize(
        shared,
        &snapshot,
        &route,
        body_model.as_ref(),
        &inbound,
        request_id,
    )
    .await?;
    forward(shared, &parts.method, &parts.headers, &route, body).await
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
    route: &Route,
    body_model: Option<&ModelId>,
    inbound: &Inbound<'_>,
    request_id: &str,
) -> Result<(), GuardError> {
    let checks = resource_checks(shared, snapshot, route, body_model).await?;
    let principal = snapshot.fixed_principal();
    let mut context = RequestContext::new();
    context.set("aws:RequestedRegion", shared.region.as_str());
    principal.fill_context(&mut context);
    keys::fill(
        &mut context,
        route.operation,
        inbound,
        principal.reads_body(),
        &shared.region,
        shared.account.cached(),
    );

    let action = route.operation.iam_action();
    let decision = principal.evaluate(&AuthzRequest {
        principal_arn: principal.arn(),
        action,
        checks: &checks,
        context: &context,
    });
    let model = match (&route.target, body_model) {
        (Target::Model(id), _) | (_, Some(id)) => id.as_str(),
        _ => "",
    };
    let rule = decision.rule().map(|r| r.to_string()).unwrap_or_default();
    tracing::info!(
        target: "bedrock_guard::decision",
        request_id,
        principal = %snapshot.principal_arn,
        operation = route.operation.name(),
        action,
        model,
        decision = if decision.is_allowed() { "allow" } else { "deny" },
        outcome = decision.outcome_name(),
        layer = decision.layer().map(|l| l.to_string()).unwrap_or_default(),
        rule,
        denied_resource = decision.denied_resource().unwrap_or(""),
        "decision"
    );
    if decision.is_allowed() {
        return Ok(());
    }
    let message = decision
        .denial_message(&snapshot.principal_arn, action, !snapshot.hide_rule_names)
        .unwrap_or_else(|| {
            format!(
                "User: {} is not authorized to perform: {action}",
                snapshot.principal_arn
            )
        });
    Err(GuardError::AccessDenied { message })
}

/// The resource checks for this call. The account id is only needed for some ARNs (inference profiles,
/// guardrails); it is looked up on first need rather than making every call wait for it.
async fn resource_checks(
    shared: &Shared,
    snapshot: &Snapshot,
    route: &Route,
    body_model: Option<&ModelId>,
) -> Result<Vec<ResourceCheck>, GuardError> {
    let context = |account_id| ResourceContext {
        region: &shared.region,
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
    method: &http::Method,
    client_headers: &HeaderMap,
    route: &Route,
    body: Bytes,
) -> Result<Response, GuardError> {
    let url = shared.upstream.url(&route.upstream_path);
    let mut headers = forwardable_request_headers(client_headers)?;
    headers.push((CONTENT_LENGTH, HeaderValue::from(body.len())));

    let credentials = shared.credentials.get().await?;
    let signature = {
        let to_sign = headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        sign_request(
            method.as_str(),
            &url,
            to_sign,
            &body,
            &credentials,
            &shared.region,
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

    let upstream = shared
        .upstream
        .send(method.clone(), &url, outgoing, body)
        .await?;

    // Streams (application/vnd.amazon.eventstream) and plain bodies alike pass through chunk by chunk:
    // nothing is buffered, and dropping the client's body drops the upstream connection with it.
    let status = upstream.status();
    let headers = client_response_headers(upstream.headers());
    let mut response = Response::new(Body::from_stream(upstream.bytes_stream()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}
