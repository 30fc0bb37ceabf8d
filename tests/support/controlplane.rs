//! A local stand-in for the Bedrock control plane (`bedrock.{region}.amazonaws.com`) on port 0.
//!
//! Answers ListInferenceProfiles (paginated, two per page, filtered by `type`), GetInferenceProfile,
//! ListFoundationModels, GetPromptRouter and GetProvisionedModelThroughput as restJson1, from data
//! the test sets per region. Every request must carry a SigV4 signature (signing name `bedrock`) by
//! the `PROXY_*` credentials, checked with the independent verifier in [`super::sigv4`]; anything
//! else gets 403 InvalidSignatureException. [`ControlPlaneDouble::set_denied`] answers
//! AccessDeniedException to everything, as for a proxy role without `bedrock:ListInferenceProfiles`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use super::sigv4::{self, Credentials, SignedRequest};
use super::{PROXY_ACCESS_KEY, PROXY_SECRET_KEY, PROXY_SESSION_TOKEN};

pub const ACCOUNT: &str = "123456789012";
const PAGE_SIZE: usize = 2;

#[derive(Default)]
struct Region {
    profiles: Vec<Value>,
    /// Found by GetInferenceProfile but not listed: a profile created after the guard's listing.
    unlisted_profiles: Vec<Value>,
    foundation_models: Vec<Value>,
    routers: Vec<Value>,
    provisioned: Vec<Value>,
}

#[derive(Default)]
struct DoubleState {
    regions: Mutex<HashMap<String, Region>>,
    denied: AtomicBool,
    /// `Operation region key` per request, in order.
    calls: Mutex<Vec<String>>,
}

pub struct ControlPlaneDouble {
    pub url: String,
    state: Arc<DoubleState>,
}

/// `arn:aws:bedrock:{region}::foundation-model/{model}`.
pub fn fm(region: &str, model: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{model}")
}

/// A system-defined profile `id` in `region` routing to `model` in `destinations`.
pub fn system_profile(region: &str, id: &str, destinations: &[&str]) -> Value {
    let model = id.split_once('.').map_or(id, |(_, m)| m);
    json!({
        "inferenceProfileName": format!("profile {id}"),
        "description": "system-defined",
        "createdAt": "2024-08-01T00:00:00Z",
        "updatedAt": "2024-08-01T00:00:00Z",
        "inferenceProfileArn": format!("arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/{id}"),
        "models": destinations.iter().map(|d| json!({"modelArn": fm(d, model)})).collect::<Vec<_>>(),
        "inferenceProfileId": id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    })
}

/// An application profile `id` in `region` routing to `model_arns`.
pub fn application_profile(region: &str, id: &str, model_arns: &[String]) -> Value {
    json!({
        "inferenceProfileName": format!("app {id}"),
        "inferenceProfileArn": application_profile_arn(region, id),
        "models": model_arns.iter().map(|m| json!({"modelArn": m})).collect::<Vec<_>>(),
        "inferenceProfileId": id,
        "status": "ACTIVE",
        "type": "APPLICATION",
    })
}

pub fn application_profile_arn(region: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{ACCOUNT}:application-inference-profile/{id}")
}

/// A prompt router `arn` choosing between `targets` (the last one is the fallback).
pub fn prompt_router(arn: &str, targets: &[String]) -> Value {
    json!({
        "promptRouterName": "router",
        "routingCriteria": {"responseQualityDifference": 0.25},
        "promptRouterArn": arn,
        "models": targets.iter().map(|m| json!({"modelArn": m})).collect::<Vec<_>>(),
        "fallbackModel": {"modelArn": targets.last().cloned().unwrap_or_default()},
        "status": "AVAILABLE",
        "type": "default",
    })
}

/// A provisioned model `arn` running `model_arn`.
pub fn provisioned_model(arn: &str, model_arn: &str) -> Value {
    json!({
        "modelUnits": 1,
        "desiredModelUnits": 1,
        "provisionedModelName": "provisioned",
        "provisionedModelArn": arn,
        "modelArn": model_arn,
        "desiredModelArn": model_arn,
        "foundationModelArn": model_arn,
        "status": "InService",
        "creationTime": "2024-08-01T00:00:00Z",
        "lastModifiedTime": "2024-08-01T00:00:00Z",
    })
}

pub fn foundation_model(region: &str, model: &str) -> Value {
    json!({
        "modelArn": fm(region, model),
        "modelId": model,
        "modelName": model,
        "providerName": "Anthropic",
        "inputModalities": ["TEXT"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": true,
        "customizationsSupported": [],
        "inferenceTypesSupported": ["INFERENCE_PROFILE"],
        "modelLifecycle": {"status": "ACTIVE"},
    })
}

impl ControlPlaneDouble {
    pub async fn start() -> ControlPlaneDouble {
        let state = Arc::new(DoubleState::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ControlPlaneDouble { url, state }
    }

    fn with_region(&self, region: &str, f: impl FnOnce(&mut Region)) {
        f(self
            .state
            .regions
            .lock()
            .unwrap()
            .entry(region.to_owned())
            .or_default());
    }

    pub fn add_profile(&self, region: &str, profile: Value) {
        self.with_region(region, |r| r.profiles.push(profile));
    }
    /// A profile GetInferenceProfile finds but ListInferenceProfiles does not return (created after
    /// the guard listed the region).
    pub fn add_unlisted_profile(&self, region: &str, profile: Value) {
        self.with_region(region, |r| r.unlisted_profiles.push(profile));
    }
    pub fn add_foundation_model(&self, region: &str, model: Value) {
        self.with_region(region, |r| r.foundation_models.push(model));
    }
    pub fn add_router(&self, region: &str, router: Value) {
        self.with_region(region, |r| r.routers.push(router));
    }
    pub fn add_provisioned(&self, region: &str, model: Value) {
        self.with_region(region, |r| r.provisioned.push(model));
    }

    /// Every request answers AccessDeniedException while set.
    pub fn set_denied(&self, denied: bool) {
        self.state.denied.store(denied, Ordering::SeqCst);
    }

    /// `Operation region key` for each request received, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state.calls.lock().unwrap().clone()
    }

    pub fn count(&self, operation: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.split(' ').next() == Some(operation))
            .count()
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [
            ("x-amzn-ErrorType", code),
            ("content-type", "application/json"),
        ],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    ([("content-type", "application/json")], body.to_string()).into_response()
}

async fn handle(State(state): State<Arc<DoubleState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let Some(region) = parts
        .headers
        .get("authorization")
        .and_then(|a| a.to_str().ok())
        .and_then(|a| sigv4::parse_authorization(a).ok())
        .map(|a| a.region)
    else {
        return error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "unsigned",
        );
    };
    let signed = SignedRequest {
        method: parts.method.as_str(),
        path: &path,
        query: query.as_deref(),
        headers: &headers,
        body: &body,
    };
    let creds = Credentials {
        access_key: PROXY_ACCESS_KEY,
        secret_key: PROXY_SECRET_KEY,
        session_token: Some(PROXY_SESSION_TOKEN),
    };
    if let Err(e) = sigv4::verify(&signed, &creds, &region, "bedrock") {
        return error(StatusCode::FORBIDDEN, "InvalidSignatureException", &e);
    }
    let params: HashMap<String, String> = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                percent_decode_str(v).decode_utf8_lossy().into_owned(),
            )
        })
        .collect();
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let (operation, key) = match segments.as_slice() {
        [a] if a == "inference-profiles" => ("ListInferenceProfiles", params.get("type").cloned()),
        [a, id] if a == "inference-profiles" => ("GetInferenceProfile", Some(id.clone())),
        [a] if a == "foundation-models" => ("ListFoundationModels", None),
        [a, arn] if a == "prompt-routers" => ("GetPromptRouter", Some(arn.clone())),
        [a, id] if a == "provisioned-model-throughput" => {
            ("GetProvisionedModelThroughput", Some(id.clone()))
        }
        _ => return error(StatusCode::NOT_FOUND, "UnknownOperationException", &path),
    };
    state.calls.lock().unwrap().push(format!(
        "{operation} {region} {}",
        key.clone().unwrap_or_default()
    ));
    if state.denied.load(Ordering::SeqCst) {
        return error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            &format!("User is not authorized to perform: bedrock:{operation}"),
        );
    }
    let regions = state.regions.lock().unwrap();
    let empty = Region::default();
    let data = regions.get(&region).unwrap_or(&empty);
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "not found",
        )
    };
    match operation {
        "ListInferenceProfiles" => {
            let wanted = key.unwrap_or_default();
            let matching: Vec<&Value> = data
                .profiles
                .iter()
                .filter(|p| wanted.is_empty() || p["type"] == wanted.as_str())
                .collect();
            let start: usize = params
                .get("nextToken")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let page: Vec<&Value> = matching
                .iter()
                .skip(start)
                .take(PAGE_SIZE)
                .copied()
                .collect();
            let mut body = json!({ "inferenceProfileSummaries": page });
            if start + PAGE_SIZE < matching.len() {
                body["nextToken"] = (start + PAGE_SIZE).to_string().into();
            }
            ok(body)
        }
        "GetInferenceProfile" => {
            let id = key.unwrap_or_default();
            data.profiles
                .iter()
                .chain(data.unlisted_profiles.iter())
                .find(|p| {
                    p["inferenceProfileId"] == id.as_str()
                        || p["inferenceProfileArn"] == id.as_str()
                })
                .map_or_else(not_found, |p| ok(p.clone()))
        }
        "ListFoundationModels" => ok(json!({ "modelSummaries": data.foundation_models })),
        "GetPromptRouter" => {
            let arn = key.unwrap_or_default();
            data.routers
                .iter()
                .find(|r| r["promptRouterArn"] == arn.as_str())
                .map_or_else(not_found, |r| ok(r.clone()))
        }
        _ => {
            let id = key.unwrap_or_default();
            data.provisioned
                .iter()
                .find(|p| p["provisionedModelArn"] == id.as_str())
                .map_or_else(not_found, |p| ok(p.clone()))
        }
    }
}
