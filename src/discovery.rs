//! Model discovery, filtered by policy: the Bedrock control-plane calls SDKs and tools make on the
//! endpoint they are given (Claude Code lists inference profiles at start), answered from the
//! control-plane cache ([`crate::controlplane`]) with only the entries the caller may use.
//!
//! An entry is shown when an invoke of it (InvokeModel or InvokeModelWithResponseStream) would be
//! allowed for this caller, in this region, with the keys the call would carry: decided by
//! [`authz::ask_with_routing`], exactly as the proxy decides the call itself. Only these four read
//! operations are served; any other control-plane call stays an unknown operation.

use crate::authz::{self, Question};
use crate::classify::{Operation, Routing};
use crate::config::Snapshot;
use crate::controlplane::{ControlPlane, FoundationModel, InferenceProfile, RegionStatus};

use http::Method;
use serde_json::{json, Value};

/// ListInferenceProfiles' `maxResults` bounds (the service's).
const MAX_RESULTS: usize = 1000;

/// One discovery call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryRequest {
    ListInferenceProfiles,
    GetInferenceProfile(String),
    ListFoundationModels,
    GetFoundationModel(String),
}

impl DiscoveryRequest {
    /// The discovery call a request is, if any. `path` is raw (the id segment is decoded once).
    pub fn parse(method: &Method, path: &str) -> Option<Self> {
        if method != Method::GET {
            return None;
        }
        let decode = |id: &str| {
            percent_encoding::percent_decode_str(id)
                .decode_utf8()
                .ok()
                .map(|id| id.into_owned())
                .filter(|id| !id.is_empty())
        };
        match path.trim_end_matches('/') {
            "/inference-profiles" => Some(Self::ListInferenceProfiles),
            "/foundation-models" => Some(Self::ListFoundationModels),
            other => {
                if let Some(id) = other.strip_prefix("/inference-profiles/") {
                    (!id.contains('/'))
                        .then(|| decode(id))
                        .flatten()
                        .map(Self::GetInferenceProfile)
                } else if let Some(id) = other.strip_prefix("/foundation-models/") {
                    (!id.contains('/'))
                        .then(|| decode(id))
                        .flatten()
                        .map(Self::GetFoundationModel)
                } else {
                    None
                }
            }
        }
    }

    pub fn operation_name(&self) -> &'static str {
        match self {
            Self::ListInferenceProfiles => "ListInferenceProfiles",
            Self::GetInferenceProfile(_) => "GetInferenceProfile",
            Self::ListFoundationModels => "ListFoundationModels",
            Self::GetFoundationModel(_) => "GetFoundationModel",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{0}")]
    Validation(String),
    #[error("{what} {id} was not found, or this caller may not invoke it")]
    NotFound { what: &'static str, id: String },
    #[error("model discovery needs the Bedrock control plane, which has no listing for {region}: {reason}")]
    Unavailable { region: String, reason: String },
}

/// Who asks, and the keys an invoke of theirs would carry.
#[derive(Debug, Clone)]
pub struct Asker<'a> {
    /// A `[[principals]]` name; `None`: the fixed caller.
    pub principal: Option<&'a str>,
    pub region: &'a str,
    /// Request keys beyond those every decision gets (`aws:SourceIp`).
    pub context: Vec<(String, String)>,
}

/// Whether `asker` may invoke `model` (an id or ARN), streaming or not.
pub fn may_invoke(
    snapshot: &Snapshot,
    routing: &dyn Routing,
    asker: &Asker<'_>,
    model: &str,
) -> bool {
    [
        Operation::InvokeModel,
        Operation::InvokeModelWithResponseStream,
    ]
    .iter()
    .any(|operation| {
        let question = Question {
            principal: asker.principal,
            operation: Some(operation.name()),
            model,
            region: Some(asker.region),
            context: asker.context.clone(),
            // Entries are named by ARN (profiles carry their account); bare model ids need none.
            account: None,
        };
        authz::ask_with_routing(snapshot, &question, routing)
            .is_ok_and(|answer| answer.decision.is_allowed())
    })
}

/// The inference profiles `asker` may invoke, as listed for their region.
pub fn visible_profiles(
    snapshot: &Snapshot,
    control_plane: &ControlPlane,
    asker: &Asker<'_>,
) -> Result<Vec<std::sync::Arc<InferenceProfile>>, DiscoveryError> {
    listing_available(control_plane, asker.region)?;
    let routing = control_plane.settled_routing();
    Ok(control_plane
        .profiles(asker.region)
        .into_iter()
        .filter(|p| may_invoke(snapshot, &routing, asker, &p.inference_profile_arn))
        .collect())
}

/// The foundation models `asker` may invoke, as listed for their region.
pub fn visible_foundation_models(
    snapshot: &Snapshot,
    control_plane: &ControlPlane,
    asker: &Asker<'_>,
) -> Result<Vec<std::sync::Arc<FoundationModel>>, DiscoveryError> {
    listing_available(control_plane, asker.region)?;
    let routing = control_plane.settled_routing();
    Ok(control_plane
        .foundation_models(asker.region)
        .into_iter()
        .filter(|m| may_invoke(snapshot, &routing, asker, &m.model_id))
        .collect())
}

/// The JSON answer to `request` (`query` as on the wire), shaped as the control plane's.
pub fn answer(
    snapshot: &Snapshot,
    control_plane: &ControlPlane,
    asker: &Asker<'_>,
    request: &DiscoveryRequest,
    query: Option<&str>,
) -> Result<Value, DiscoveryError> {
    let params = query_params(query.unwrap_or_default());
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match request {
        DiscoveryRequest::ListInferenceProfiles => {
            let max_results = match param("maxResults") {
                None => MAX_RESULTS,
                Some(text) => text
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_RESULTS).contains(n))
                    .ok_or_else(|| {
                        DiscoveryError::Validation(format!(
                            "1 validation error detected: Value '{text}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and {MAX_RESULTS}"
                        ))
                    })?,
            };
            let start = match param("nextToken") {
                None => 0,
                Some(token) => parse_token(token).ok_or_else(|| {
                    DiscoveryError::Validation("The nextToken is not valid.".to_owned())
                })?,
            };
            let kind = param("type");
            if let Some(kind) = kind.filter(|k| !matches!(*k, "SYSTEM_DEFINED" | "APPLICATION")) {
                return Err(DiscoveryError::Validation(format!(
                    "1 validation error detected: Value '{kind}' at 'typeEquals' failed to satisfy constraint: Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]"
                )));
            }
            let profiles: Vec<_> = visible_profiles(snapshot, control_plane, asker)?
                .into_iter()
                .filter(|p| kind.is_none_or(|k| p.kind == k))
                .collect();
            let page: Vec<&InferenceProfile> = profiles
                .iter()
                .skip(start)
                .take(max_results)
                .map(|p| p.as_ref())
                .collect();
            let mut out = json!({ "inferenceProfileSummaries": page });
            if start + page.len() < profiles.len() {
                out["nextToken"] = Value::String(format_token(start + page.len()));
            }
            Ok(out)
        }
        DiscoveryRequest::GetInferenceProfile(id) => {
            listing_available(control_plane, asker.region)?;
            let routing = control_plane.settled_routing();
            control_plane
                .profile(asker.region, id)
                .filter(|p| may_invoke(snapshot, &routing, asker, &p.inference_profile_arn))
                .map(|p| json!(p.as_ref()))
                .ok_or_else(|| DiscoveryError::NotFound {
                    what: "Inference profile",
                    id: id.clone(),
                })
        }
        DiscoveryRequest::ListFoundationModels => {
            let matches = |value: Option<&str>, have: &[String]| {
                value.is_none_or(|v| have.iter().any(|h| h.eq_ignore_ascii_case(v)))
            };
            let provider = param("byProvider");
            let models: Vec<_> = visible_foundation_models(snapshot, control_plane, asker)?
                .into_iter()
                .filter(|m| {
                    provider.is_none_or(|p| {
                        m.provider_name
                            .as_deref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(p))
                    }) && matches(param("byOutputModality"), &m.output_modalities)
                        && matches(param("byInferenceType"), &m.inference_types_supported)
                        && matches(param("byCustomizationType"), &m.customizations_supported)
                })
                .collect();
            let models: Vec<&FoundationModel> = models.iter().map(|m| m.as_ref()).collect();
            Ok(json!({ "modelSummaries": models }))
        }
        DiscoveryRequest::GetFoundationModel(id) => {
            visible_foundation_models(snapshot, control_plane, asker)?
                .into_iter()
                .find(|m| m.model_id == *id || m.model_arn == *id)
                .map(|m| json!({ "modelDetails": m.as_ref() }))
                .ok_or_else(|| DiscoveryError::NotFound {
                    what: "Foundation model",
                    id: id.clone(),
                })
        }
    }
}

fn listing_available(control_plane: &ControlPlane, region: &str) -> Result<(), DiscoveryError> {
    let unavailable = |reason: &str| DiscoveryError::Unavailable {
        region: region.to_owned(),
        reason: reason.to_owned(),
    };
    if !control_plane.is_enabled() {
        return Err(unavailable("[control_plane] is disabled"));
    }
    let catalog = control_plane.catalog();
    match catalog.region(region).map(|r| &r.status) {
        Some(RegionStatus::Live) => Ok(()),
        Some(RegionStatus::Pending) => Err(unavailable("the first listing is still pending")),
        Some(RegionStatus::Unavailable { reason }) => Err(unavailable(reason)),
        None => Err(unavailable("the region is not served by this guard")),
    }
}

/// Pages are offsets into the filtered list; the token is opaque to clients.
fn format_token(offset: usize) -> String {
    format!("bg1-{offset}")
}

fn parse_token(token: &str) -> Option<usize> {
    token.strip_prefix("bg1-")?.parse().ok()
}

fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| {
                percent_encoding::percent_decode_str(&text.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(key), decode(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_routes_parse() {
        let get = Method::GET;
        for (path, expected) in [
            (
                "/inference-profiles",
                Some(DiscoveryRequest::ListInferenceProfiles),
            ),
            (
                "/inference-profiles/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0",
                Some(DiscoveryRequest::GetInferenceProfile(
                    "us.anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
                )),
            ),
            (
                "/inference-profiles/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fabc",
                Some(DiscoveryRequest::GetInferenceProfile(
                    "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc".into(),
                )),
            ),
            (
                "/foundation-models",
                Some(DiscoveryRequest::ListFoundationModels),
            ),
            (
                "/foundation-models/amazon.nova-lite-v1:0",
                Some(DiscoveryRequest::GetFoundationModel(
                    "amazon.nova-lite-v1:0".into(),
                )),
            ),
            ("/inference-profiles/a/b", None),
            ("/custom-models", None),
            ("/inference-profiles-x", None),
        ] {
            assert_eq!(DiscoveryRequest::parse(&get, path), expected, "{path}");
        }
        assert_eq!(
            DiscoveryRequest::parse(&Method::POST, "/inference-profiles"),
            None,
            "CreateInferenceProfile does not pass"
        );
    }

    #[test]
    fn tokens_round_trip() {
        assert_eq!(parse_token(&format_token(42)), Some(42));
        assert_eq!(parse_token("garbage"), None);
        assert_eq!(
            query_params("maxResults=2&nextToken=bg1-2&type=SYSTEM_DEFINED"),
            vec![
                ("maxResults".to_owned(), "2".to_owned()),
                ("nextToken".to_owned(), "bg1-2".to_owned()),
                ("type".to_owned(), "SYSTEM_DEFINED".to_owned()),
            ]
        );
    }
}
