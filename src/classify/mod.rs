//! Request classification: which Bedrock Runtime operation an HTTP request is, what it targets, the
//! canonical path to forward, and which ARNs it must be authorized against.
//!
//! - [`classify`] maps method + raw path (+ query) to a [`Route`]: the [`Operation`], its [`Target`]
//!   and an `upstream_path` rebuilt from the parsed values. The client's path is never forwarded as
//!   sent, so what was authorized and what is called cannot drift apart.
//! - `model_id`: decoding, validation and canonical encoding of [`ModelId`]s.
//! - `profiles`: the inference profile prefix table, configured application profiles, and the
//!   [`Routing`] trait through which the control-plane cache says what wrappers route to.
//! - `openai`: the OpenAI-compatible routes (`/openai/v1/...`) and their JSON bodies.
//! - `table`: [`OPERATION_TABLE`], one row per operation (method, path, actions, resources, model
//!   source, streaming kind), checked against the vendored service model and rendered in the README.
//! - `resources`: [`resource_checks`].
//! - `error`: [`ClassifyError`].
//! - [`body`]: what a JSON body says that authorization reads (body condition keys, S3 locations),
//!   scanned fail-closed.
//!
//! Anything that does not match a route exactly (other methods, trailing slashes, extra segments,
//! different case) is an unknown operation: guessing what a client meant is how proxies get bypassed.

pub mod body;
mod error;
mod model_id;
mod openai;
mod profiles;
mod resources;
mod table;

pub use error::ClassifyError;
pub use model_id::{model_id_from_async_body, ModelId, ModelIdKind, MAX_MODEL_ID_LEN};
pub use openai::{is_openai_path, with_body, BodyFields};
pub use profiles::{
    ApplicationProfiles, InferenceProfileTable, Lookup, NoRouting, RouteSource, Routing,
    UnresolvedWrappers, WrapperKind,
};
pub use resources::{
    partition_for_region, resource_checks, resource_checks_with_source, ResourceContext,
    INFERENCE_PROFILE_ARN_KEY, PROMPT_ROUTER_ARN_KEY, REQUESTED_REGION_KEY,
};
pub use table::{render_markdown_table, OperationRow, OPERATION_TABLE};

use std::fmt;

use http::Method;

use model_id::{decode_identifier, encode_component, percent_decode_strict};
use resources::{
    is_guardrail_version, validate_async_invocation_arn, validate_guardrail_identifier,
};

/// Longest guardrail identifier or invocation ARN accepted, decoded.
const MAX_IDENTIFIER_LEN: usize = 2048;
/// ListAsyncInvokes takes a handful of short parameters; anything longer is not a real client.
const MAX_QUERY_LEN: usize = 8192;
/// How much of an unmatched path is echoed back in the error.
const MAX_ECHOED_PATH: usize = 256;

/// The Bedrock Runtime operations this proxy knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    InvokeModel,
    InvokeModelWithResponseStream,
    Converse,
    ConverseStream,
    CountTokens,
    ApplyGuardrail,
    StartAsyncInvoke,
    GetAsyncInvoke,
    ListAsyncInvokes,
    InvokeGuardrailChecks,
    /// Relayed frame by frame by `http::bidi` (HTTP/2, each inbound frame re-signed).
    InvokeModelWithBidirectionalStream,
    /// OpenAI-compatible Chat Completions; `...Stream` once the body says `"stream": true`.
    ChatCompletions,
    ChatCompletionsStream,
    /// OpenAI-compatible Responses API.
    CreateResponse,
    CreateResponseStream,
    GetResponse,
    DeleteResponse,
    CancelResponse,
}

impl Operation {
    /// The API operation name (`InvokeModel`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Operation::InvokeModel => "InvokeModel",
            Operation::InvokeModelWithResponseStream => "InvokeModelWithResponseStream",
            Operation::Converse => "Converse",
            Operation::ConverseStream => "ConverseStream",
            Operation::CountTokens => "CountTokens",
            Operation::ApplyGuardrail => "ApplyGuardrail",
            Operation::StartAsyncInvoke => "StartAsyncInvoke",
            Operation::GetAsyncInvoke => "GetAsyncInvoke",
            Operation::ListAsyncInvokes => "ListAsyncInvokes",
            Operation::InvokeGuardrailChecks => "InvokeGuardrailChecks",
            Operation::InvokeModelWithBidirectionalStream => "InvokeModelWithBidirectionalStream",
            Operation::ChatCompletions => "ChatCompletions",
            Operation::ChatCompletionsStream => "ChatCompletionsStream",
            Operation::CreateResponse => "CreateResponse",
            Operation::CreateResponseStream => "CreateResponseStream",
            Operation::GetResponse => "GetResponse",
            Operation::DeleteResponse => "DeleteResponse",
            Operation::CancelResponse => "CancelResponse",
        }
    }

    /// The IAM action Bedrock checks. There is no `bedrock:Converse`: Converse is authorized as
    /// InvokeModel and ConverseStream as InvokeModelWithResponseStream.
    ///
    /// Sources: the Service Authorization Reference for Amazon Bedrock
    /// (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonbedrock.html>:
    /// `InvokeGuardrailChecks`, no resource type, so `*`), the API reference of each runtime
    /// operation ("This operation requires permission for the bedrock:InvokeModel action", also for
    /// InvokeModelWithBidirectionalStream), and the user guide's "Making inference requests"
    /// (<https://docs.aws.amazon.com/bedrock/latest/userguide/inference.html>), whose policy for "the
    /// bedrock-runtime endpoint (Converse, Invoke, Chat Completions, and Responses APIs)" lists
    /// `bedrock:InvokeModel`, `bedrock:InvokeModelWithResponseStream`, `bedrock:GetInvoke`,
    /// `bedrock:CancelInvoke` and `bedrock:DeleteInvoke`: inference on the OpenAI routes is
    /// authorized like Converse (streaming when the body asks for it), and retrieving, cancelling
    /// and deleting a stored response are GetInvoke, CancelInvoke and DeleteInvoke.
    pub fn iam_action(self) -> &'static str {
        match self {
            Operation::InvokeModel
            | Operation::Converse
            | Operation::StartAsyncInvoke
            | Operation::InvokeModelWithBidirectionalStream
            | Operation::ChatCompletions
            | Operation::CreateResponse => "bedrock:InvokeModel",
            Operation::InvokeModelWithResponseStream
            | Operation::ConverseStream
            | Operation::ChatCompletionsStream
            | Operation::CreateResponseStream => "bedrock:InvokeModelWithResponseStream",
            Operation::CountTokens => "bedrock:CountTokens",
            Operation::ApplyGuardrail => "bedrock:ApplyGuardrail",
            Operation::GetAsyncInvoke => "bedrock:GetAsyncInvoke",
            Operation::ListAsyncInvokes => "bedrock:ListAsyncInvokes",
            Operation::InvokeGuardrailChecks => "bedrock:InvokeGuardrailChecks",
            Operation::GetResponse => "bedrock:GetInvoke",
            Operation::DeleteResponse => "bedrock:DeleteInvoke",
            Operation::CancelResponse => "bedrock:CancelInvoke",
        }
    }

    /// True when the response is a stream (event stream or server-sent events).
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            Operation::InvokeModelWithResponseStream
                | Operation::ConverseStream
                | Operation::InvokeModelWithBidirectionalStream
                | Operation::ChatCompletionsStream
                | Operation::CreateResponseStream
        )
    }

    /// True for the OpenAI-compatible operations, whose errors are shaped as the OpenAI SDKs expect.
    pub fn is_openai(self) -> bool {
        matches!(
            self,
            Operation::ChatCompletions
                | Operation::ChatCompletionsStream
                | Operation::CreateResponse
                | Operation::CreateResponseStream
                | Operation::GetResponse
                | Operation::DeleteResponse
                | Operation::CancelResponse
        )
    }

    pub fn all() -> &'static [Operation] {
        &[
            Operation::InvokeModel,
            Operation::InvokeModelWithResponseStream,
            Operation::Converse,
            Operation::ConverseStream,
            Operation::CountTokens,
            Operation::ApplyGuardrail,
            Operation::StartAsyncInvoke,
            Operation::GetAsyncInvoke,
            Operation::ListAsyncInvokes,
            Operation::InvokeGuardrailChecks,
            Operation::InvokeModelWithBidirectionalStream,
            Operation::ChatCompletions,
            Operation::ChatCompletionsStream,
            Operation::CreateResponse,
            Operation::CreateResponseStream,
            Operation::GetResponse,
            Operation::DeleteResponse,
            Operation::CancelResponse,
        ]
    }

    /// The last path segment of the `/model/{modelId}/...` operations.
    fn model_path_suffix(self) -> Option<&'static str> {
        match self {
            Operation::InvokeModel => Some("invoke"),
            Operation::InvokeModelWithResponseStream => Some("invoke-with-response-stream"),
            Operation::Converse => Some("converse"),
            Operation::ConverseStream => Some("converse-stream"),
            Operation::CountTokens => Some("count-tokens"),
            Operation::InvokeModelWithBidirectionalStream => {
                Some("invoke-with-bidirectional-stream")
            }
            _ => None,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a call acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Model(ModelId),
    /// Decoded guardrail id or guardrail ARN, and `DRAFT` or a version number.
    Guardrail {
        identifier: String,
        version: String,
    },
    /// Decoded invocation ARN.
    AsyncInvocation {
        arn: String,
    },
    /// StartAsyncInvoke and the OpenAI-compatible inference routes: the model id is in the JSON
    /// body ([`with_body`]).
    ModelInBody,
    /// A stored OpenAI-compatible response (`resp_...`), validated charset.
    StoredResponse {
        id: String,
    },
    /// ListAsyncInvokes, InvokeGuardrailChecks.
    None,
}

impl Target {
    /// The model named in the path, if any.
    pub fn model_id(&self) -> Option<&ModelId> {
        match self {
            Target::Model(id) => Some(id),
            _ => None,
        }
    }
}

/// A classified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub operation: Operation,
    pub target: Target,
    /// Path (+ "?query" if any) to send upstream, rebuilt canonically from what was parsed, never the
    /// raw client path.
    pub upstream_path: String,
}

/// Classifies one request. `path` is the raw request path, still percent-encoded, without the query;
/// `query` is the raw query string without `?`.
pub fn classify(method: &Method, path: &str, query: Option<&str>) -> Result<Route, ClassifyError> {
    let query = query.filter(|q| !q.is_empty());
    if let Some(route) = openai::classify_openai(method, path, query) {
        return route;
    }
    if path == "/guardrail-checks/invoke" {
        if *method != Method::POST {
            return Err(unknown_operation(method, path));
        }
        refuse_query(query, Operation::InvokeGuardrailChecks)?;
        return Ok(Route {
            operation: Operation::InvokeGuardrailChecks,
            target: Target::None,
            upstream_path: path.to_owned(),
        });
    }
    if let Some(rest) = path.strip_prefix("/model/") {
        return classify_model(method, path, rest, query);
    }
    if let Some(rest) = path.strip_prefix("/guardrail/") {
        return classify_guardrail(method, path, rest, query);
    }
    if path == "/async-invoke" {
        return match *method {
            Method::POST => {
                refuse_query(query, Operation::StartAsyncInvoke)?;
                Ok(Route {
                    operation: Operation::StartAsyncInvoke,
                    target: Target::ModelInBody,
                    upstream_path: path.to_owned(),
                })
            }
            Method::GET => {
                let upstream_path = match canonical_query(query)? {
                    Some(q) => format!("/async-invoke?{q}"),
                    None => "/async-invoke".to_owned(),
                };
                Ok(Route {
                    operation: Operation::ListAsyncInvokes,
                    target: Target::None,
                    upstream_path,
                })
            }
            _ => Err(unknown_operation(method, path)),
        };
    }
    if let Some(raw_arn) = path.strip_prefix("/async-invoke/") {
        if *method != Method::GET || raw_arn.is_empty() || raw_arn.ends_with('/') {
            return Err(unknown_operation(method, path));
        }
        refuse_query(query, Operation::GetAsyncInvoke)?;
        let arn = decode_identifier(raw_arn, MAX_IDENTIFIER_LEN)
            .map_err(|e| ClassifyError::invalid_request(format!("invocation ARN: {e}")))?;
        validate_async_invocation_arn(&arn).map_err(ClassifyError::invalid_request)?;
        return Ok(Route {
            operation: Operation::GetAsyncInvoke,
            upstream_path: format!("/async-invoke/{}", encode_component(&arn)),
            target: Target::AsyncInvocation { arn },
        });
    }
    Err(unknown_operation(method, path))
}

fn classify_model(
    method: &Method,
    path: &str,
    rest: &str,
    query: Option<&str>,
) -> Result<Route, ClassifyError> {
    // The operation is the last segment; everything before it is the id, which may hold raw '/'
    // when a client sends an ARN unencoded.
    let Some((raw_id, suffix)) = rest.rsplit_once('/') else {
        return Err(unknown_operation(method, path));
    };
    let operation = Operation::all()
        .iter()
        .copied()
        .find(|op| op.model_path_suffix() == Some(suffix));
    let Some(operation) = operation.filter(|_| *method == Method::POST) else {
        return Err(unknown_operation(method, path));
    };
    if query.is_some() {
        // No model operation takes query parameters; one here could only be read differently by
        // the proxy and by the upstream.
        return Err(ClassifyError::invalid_request(format!(
            "{operation} takes no query string"
        )));
    }
    let id = ModelId::from_path_segment(raw_id)?;
    Ok(Route {
        operation,
        upstream_path: ["/model/", &id.encoded(), "/", suffix].concat(),
        target: Target::Model(id),
    })
}

fn classify_guardrail(
    method: &Method,
    path: &str,
    rest: &str,
    query: Option<&str>,
) -> Result<Route, ClassifyError> {
    // `{id}/version/{version}/apply`; the id may hold raw '/' when it is an unencoded ARN.
    let parts = rest
        .strip_suffix("/apply")
        .and_then(|inner| inner.rsplit_once("/version/"))
        .filter(|(_, version)| !version.contains('/'));
    let Some((raw_id, raw_version)) = parts.filter(|_| *method == Method::POST) else {
        return Err(unknown_operation(method, path));
    };
    refuse_query(query, Operation::ApplyGuardrail)?;
    let identifier = decode_identifier(raw_id, MAX_IDENTIFIER_LEN)
        .map_err(|e| ClassifyError::invalid_request(format!("guardrail identifier: {e}")))?;
    validate_guardrail_identifier(&identifier).map_err(ClassifyError::invalid_request)?;
    let version = decode_identifier(raw_version, 16)
        .ok()
        .filter(|v| is_guardrail_version(v))
        .ok_or_else(|| {
            ClassifyError::invalid_request(
                "guardrail version must be DRAFT or a number from 1 to 99999999",
            )
        })?;
    Ok(Route {
        operation: Operation::ApplyGuardrail,
        upstream_path: format!(
            "/guardrail/{}/version/{version}/apply",
            encode_component(&identifier)
        ),
        target: Target::Guardrail {
            identifier,
            version,
        },
    })
}

fn refuse_query(query: Option<&str>, operation: Operation) -> Result<(), ClassifyError> {
    match query {
        Some(_) => Err(ClassifyError::invalid_request(format!(
            "{operation} takes no query string"
        ))),
        None => Ok(()),
    }
}

/// Rebuilds a ListAsyncInvokes query: each key and value decoded once and re-encoded, order kept.
/// `+` is a literal plus (RFC 3986), re-sent as `%2B`, so no reader can take it for a space.
fn canonical_query(query: Option<&str>) -> Result<Option<String>, ClassifyError> {
    let Some(query) = query else {
        return Ok(None);
    };
    if query.len() > MAX_QUERY_LEN {
        return Err(ClassifyError::invalid_request(format!(
            "query string longer than {MAX_QUERY_LEN} bytes"
        )));
    }
    let mut out = String::with_capacity(query.len());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_query_part(key)?;
        if key.is_empty() {
            return Err(ClassifyError::invalid_request(
                "query string has a parameter without a name",
            ));
        }
        let value = decode_query_part(value)?;
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode_component(&key));
        out.push('=');
        out.push_str(&encode_component(&value));
    }
    // The limit holds for what is forwarded too (encoding can triple a raw query's length), so the
    // upstream path always classifies like the request it came from.
    if out.len() > MAX_QUERY_LEN {
        return Err(ClassifyError::invalid_request(format!(
            "query string longer than {MAX_QUERY_LEN} bytes once percent-encoded"
        )));
    }
    Ok((!out.is_empty()).then_some(out))
}

fn decode_query_part(raw: &str) -> Result<String, ClassifyError> {
    let bytes = percent_decode_strict(raw)
        .map_err(|e| ClassifyError::invalid_request(format!("query string: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        ClassifyError::invalid_request("query string is not valid UTF-8 once decoded")
    })?;
    if text.chars().any(char::is_control) {
        return Err(ClassifyError::invalid_request(
            "query string contains a control character",
        ));
    }
    Ok(text)
}

fn unknown_operation(method: &Method, path: &str) -> ClassifyError {
    // The path is echoed to the client and into logs: bound it.
    let mut end = path.len().min(MAX_ECHOED_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    let mut shown = path[..end].to_owned();
    if end < path.len() {
        shown.push_str("...");
    }
    ClassifyError::UnknownOperation {
        method: method.as_str().to_owned(),
        path: shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HAIKU_ENC: &str = "anthropic.claude-3-haiku-20240307-v1%3A0";
    const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

    fn post() -> Method {
        Method::POST
    }

    fn route(method: Method, path: &str, query: Option<&str>) -> Route {
        match classify(&method, path, query) {
            Ok(r) => r,
            Err(e) => panic!("{method} {path} {query:?} rejected: {e}"),
        }
    }

    #[test]
    fn operation_metadata() {
        let expected = [
            (
                Operation::InvokeModel,
                "InvokeModel",
                "bedrock:InvokeModel",
                false,
            ),
            (
                Operation::InvokeModelWithResponseStream,
                "InvokeModelWithResponseStream",
                "bedrock:InvokeModelWithResponseStream",
                true,
            ),
            (
                Operation::Converse,
                "Converse",
                "bedrock:InvokeModel",
                false,
            ),
            (
                Operation::ConverseStream,
                "ConverseStream",
                "bedrock:InvokeModelWithResponseStream",
                true,
            ),
            (
                Operation::CountTokens,
                "CountTokens",
                "bedrock:CountTokens",
                false,
            ),
            (
                Operation::ApplyGuardrail,
                "ApplyGuardrail",
                "bedrock:ApplyGuardrail",
                false,
            ),
            (
                Operation::StartAsyncInvoke,
                "StartAsyncInvoke",
                "bedrock:InvokeModel",
                false,
            ),
            (
                Operation::GetAsyncInvoke,
                "GetAsyncInvoke",
                "bedrock:GetAsyncInvoke",
                false,
            ),
            (
                Operation::ListAsyncInvokes,
                "ListAsyncInvokes",
                "bedrock:ListAsyncInvokes",
                false,
            ),
            (
                Operation::InvokeGuardrailChecks,
                "InvokeGuardrailChecks",
                "bedrock:InvokeGuardrailChecks",
                false,
            ),
            (
                Operation::InvokeModelWithBidirectionalStream,
                "InvokeModelWithBidirectionalStream",
                "bedrock:InvokeModel",
                true,
            ),
            (
                Operation::ChatCompletions,
                "ChatCompletions",
                "bedrock:InvokeModel",
                false,
            ),
            (
                Operation::ChatCompletionsStream,
                "ChatCompletionsStream",
                "bedrock:InvokeModelWithResponseStream",
                true,
            ),
            (
                Operation::CreateResponse,
                "CreateResponse",
                "bedrock:InvokeModel",
                false,
            ),
            (
                Operation::CreateResponseStream,
                "CreateResponseStream",
                "bedrock:InvokeModelWithResponseStream",
                true,
            ),
            (
                Operation::GetResponse,
                "GetResponse",
                "bedrock:GetInvoke",
                false,
            ),
            (
                Operation::DeleteResponse,
                "DeleteResponse",
                "bedrock:DeleteInvoke",
                false,
            ),
            (
                Operation::CancelResponse,
                "CancelResponse",
                "bedrock:CancelInvoke",
                false,
            ),
        ];
        assert_eq!(Operation::all().len(), expected.len());
        for (op, (want, name, action, streaming)) in Operation::all().iter().zip(expected) {
            assert_eq!(*op, want);
            assert_eq!(op.name(), name);
            assert_eq!(op.to_string(), name);
            assert_eq!(op.iam_action(), action);
            assert_eq!(op.is_streaming(), streaming);
        }
    }

    /// (method, path, query, operation, target, upstream path)
    type RouteCase<'a> = (Method, String, Option<&'a str>, Operation, Target, String);

    #[test]
    fn every_route() {
        let ga = "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123";
        let ga_enc = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aguardrail%2Fabc123";
        let ia = "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc123def456";
        let ia_enc = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aasync-invoke%2Fabc123def456";
        let cases: Vec<RouteCase<'_>> = vec![
            (post(), format!("/model/{HAIKU_ENC}/invoke"), None, Operation::InvokeModel, model(HAIKU), format!("/model/{HAIKU_ENC}/invoke")),
            (post(), format!("/model/{HAIKU}/invoke"), None, Operation::InvokeModel, model(HAIKU), format!("/model/{HAIKU_ENC}/invoke")),
            (post(), format!("/model/{HAIKU_ENC}/invoke-with-response-stream"), None, Operation::InvokeModelWithResponseStream, model(HAIKU), format!("/model/{HAIKU_ENC}/invoke-with-response-stream")),
            (post(), format!("/model/{HAIKU_ENC}/converse"), None, Operation::Converse, model(HAIKU), format!("/model/{HAIKU_ENC}/converse")),
            (post(), format!("/model/{HAIKU_ENC}/converse-stream"), Some(""), Operation::ConverseStream, model(HAIKU), format!("/model/{HAIKU_ENC}/converse-stream")),
            (post(), format!("/model/{HAIKU_ENC}/count-tokens"), None, Operation::CountTokens, model(HAIKU), format!("/model/{HAIKU_ENC}/count-tokens")),
            (
                post(),
                "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0/converse".into(),
                None,
                Operation::Converse,
                model("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"),
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0/converse".into(),
            ),
            (
                post(),
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Acustom-model%2Fa.b%3A0%2Fxyz/invoke".into(),
                None,
                Operation::InvokeModel,
                model("arn:aws:bedrock:us-east-1:123456789012:custom-model/a.b:0/xyz"),
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Acustom-model%2Fa.b%3A0%2Fxyz/invoke".into(),
            ),
            (
                post(),
                "/model/arn:aws:bedrock:us-east-1:123456789012:custom-model/a.b:0/xyz/invoke".into(),
                None,
                Operation::InvokeModel,
                model("arn:aws:bedrock:us-east-1:123456789012:custom-model/a.b:0/xyz"),
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Acustom-model%2Fa.b%3A0%2Fxyz/invoke".into(),
            ),
            (
                post(),
                "/guardrail/abc123/version/DRAFT/apply".into(),
                None,
                Operation::ApplyGuardrail,
                Target::Guardrail { identifier: "abc123".into(), version: "DRAFT".into() },
                "/guardrail/abc123/version/DRAFT/apply".into(),
            ),
            (
                post(),
                format!("/guardrail/{ga_enc}/version/12/apply"),
                None,
                Operation::ApplyGuardrail,
                Target::Guardrail { identifier: ga.into(), version: "12".into() },
                format!("/guardrail/{ga_enc}/version/12/apply"),
            ),
            (
                post(),
                format!("/guardrail/{ga}/version/%31/apply"),
                None,
                Operation::ApplyGuardrail,
                Target::Guardrail { identifier: ga.into(), version: "1".into() },
                format!("/guardrail/{ga_enc}/version/1/apply"),
            ),
            (post(), "/async-invoke".into(), None, Operation::StartAsyncInvoke, Target::ModelInBody, "/async-invoke".into()),
            (post(), "/guardrail-checks/invoke".into(), None, Operation::InvokeGuardrailChecks, Target::None, "/guardrail-checks/invoke".into()),
            (Method::GET, format!("/async-invoke/{ia_enc}"), None, Operation::GetAsyncInvoke, Target::AsyncInvocation { arn: ia.into() }, format!("/async-invoke/{ia_enc}")),
            (Method::GET, format!("/async-invoke/{ia}"), None, Operation::GetAsyncInvoke, Target::AsyncInvocation { arn: ia.into() }, format!("/async-invoke/{ia_enc}")),
            (Method::GET, "/async-invoke".into(), None, Operation::ListAsyncInvokes, Target::None, "/async-invoke".into()),
            (Method::GET, "/async-invoke".into(), Some(""), Operation::ListAsyncInvokes, Target::None, "/async-invoke".into()),
            (Method::GET, "/async-invoke".into(), Some("&&"), Operation::ListAsyncInvokes, Target::None, "/async-invoke".into()),
            (
                Method::GET,
                "/async-invoke".into(),
                Some("maxResults=10&statusEquals=InProgress&submitTimeAfter=2024-01-01T00%3A00%3A00Z&nextToken=a%2Bb%2Fc%3D%3D"),
                Operation::ListAsyncInvokes,
                Target::None,
                "/async-invoke?maxResults=10&statusEquals=InProgress&submitTimeAfter=2024-01-01T00%3A00%3A00Z&nextToken=a%2Bb%2Fc%3D%3D".into(),
            ),
            (
                Method::GET,
                "/async-invoke".into(),
                Some("sortOrder=Descending&nextToken=a+b/c==&flag&x=%E2%9C%93"),
                Operation::ListAsyncInvokes,
                Target::None,
                "/async-invoke?sortOrder=Descending&nextToken=a%2Bb%2Fc%3D%3D&flag=&x=%E2%9C%93".into(),
            ),
        ];
        for (method, path, query, operation, target, upstream) in cases {
            let r = route(method.clone(), &path, query);
            assert_eq!(r.operation, operation, "{method} {path}");
            assert_eq!(r.target, target, "{method} {path}");
            assert_eq!(r.upstream_path, upstream, "{method} {path}");
        }
    }

    fn model(id: &str) -> Target {
        match ModelId::from_decoded(id) {
            Ok(id) => Target::Model(id),
            Err(e) => panic!("{id}: {e}"),
        }
    }

    #[test]
    fn unknown_routes() {
        let unknown: Vec<(Method, String)> = vec![
            (Method::GET, format!("/model/{HAIKU_ENC}/invoke")),
            (Method::PUT, format!("/model/{HAIKU_ENC}/converse")),
            (Method::DELETE, "/async-invoke".into()),
            (
                Method::POST,
                "/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aasync-invoke%2Fabc"
                    .into(),
            ),
            (Method::GET, "/async-invoke/".into()),
            (Method::GET, "/async-invoke/x/".into()),
            (Method::GET, "/guardrail/abc/version/1/apply".into()),
            (post(), format!("/model/{HAIKU_ENC}/invoke/")),
            (post(), format!("/model/{HAIKU_ENC}/invoke/extra")),
            (post(), format!("/model/{HAIKU_ENC}/Invoke")),
            (post(), format!("/model/{HAIKU_ENC}/%69nvoke")),
            (post(), format!("/model/{HAIKU_ENC}")),
            (post(), format!("/model/{HAIKU_ENC}/")),
            (post(), "/model/".into()),
            (post(), "/model".into()),
            (post(), format!("/Model/{HAIKU_ENC}/invoke")),
            (post(), format!("//model/{HAIKU_ENC}/invoke")),
            (post(), format!("/v1/model/{HAIKU_ENC}/invoke")),
            (post(), format!("/%6Dodel/{HAIKU_ENC}/invoke")),
            (post(), "/async-invoke/".into()),
            (post(), "/async-invoke?x".into()),
            (post(), "/guardrail/abc/version/1/apply/".into()),
            (post(), "/guardrail/abc/version/1".into()),
            (post(), "/guardrail/abc/1/apply".into()),
            (post(), "/guardrail/abc/version/1/2/apply".into()),
            (post(), "/guardrail/abc/versions/1/apply".into()),
            (post(), "/".into()),
            (post(), "".into()),
            (post(), "*".into()),
            (post(), "/foundation-models".into()),
            (Method::GET, "/guardrail-checks/invoke".into()),
            (post(), "/guardrail-checks/invoke/".into()),
            (post(), "/guardrail-checks".into()),
            (
                Method::GET,
                "/model/x/invoke-with-bidirectional-stream".into(),
            ),
        ];
        for (method, path) in unknown {
            match classify(&method, &path, None) {
                Err(ClassifyError::UnknownOperation { method: m, path: p }) => {
                    assert_eq!(m, method.as_str());
                    assert_eq!(p, path);
                }
                other => panic!("{method} {path}: {other:?}"),
            }
        }
        let long = format!("/nope/{}", "é".repeat(500));
        match classify(&Method::GET, &long, None) {
            Err(ClassifyError::UnknownOperation { path, .. }) => {
                assert!(
                    path.len() <= MAX_ECHOED_PATH + 3 && path.ends_with("..."),
                    "{path}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bidirectional_stream_is_classified() {
        for (raw, id) in [
            (HAIKU_ENC, HAIKU),
            ("amazon.nova-sonic-v1:0", "amazon.nova-sonic-v1:0"),
        ] {
            let r = route(
                post(),
                &format!("/model/{raw}/invoke-with-bidirectional-stream"),
                None,
            );
            assert_eq!(r.operation, Operation::InvokeModelWithBidirectionalStream);
            assert_eq!(r.target, model(id));
            assert_eq!(
                r.upstream_path,
                format!(
                    "/model/{}/invoke-with-bidirectional-stream",
                    encode_component(id)
                )
            );
        }
        assert!(matches!(
            classify(&post(), "/model/%zz/invoke-with-bidirectional-stream", None),
            Err(ClassifyError::InvalidModelId { .. })
        ));
    }

    #[test]
    fn rejected_requests() {
        enum Want {
            Model,
            Request,
        }
        use Want::*;
        let cases: Vec<(Method, String, Option<&str>, Want)> = vec![
            // Hostile model ids.
            (post(), "/model/../invoke".into(), None, Model),
            (post(), "/model/%2e%2e/invoke".into(), None, Model),
            (post(), "/model/%2E/invoke".into(), None, Model),
            (post(), "/model/x/../invoke".into(), None, Model),
            (post(), "/model/anthropic%2Fclaude/invoke".into(), None, Model),
            (post(), "/model/anthropic%252Fclaude/invoke".into(), None, Model),
            (post(), "/model/anthropic.claude-v1%253A0/invoke".into(), None, Model),
            (post(), "/model/anthropic.claude%00/invoke".into(), None, Model),
            (post(), "/model/anthropic.claude%0a/invoke".into(), None, Model),
            (post(), "/model/anthropic.claude%3Fx=1/invoke".into(), None, Model),
            (post(), "/model/anthropic.claude%23/invoke".into(), None, Model),
            (post(), "/model/anthropic.claude%zz/invoke".into(), None, Model),
            (post(), "/model/anthropic.claude%4/invoke".into(), None, Model),
            (post(), "/model/anthropic.claud\u{e9}/invoke".into(), None, Model),
            (post(), "/model/anthropic.claud%C3%A9/invoke".into(), None, Model),
            (post(), "/model//invoke".into(), None, Model),
            (post(), "/model/x//invoke".into(), None, Model),
            (post(), format!("/model/{}/invoke", "a".repeat(MAX_MODEL_ID_LEN + 1)), None, Model),
            (post(), "/model/foo/invoke/converse".into(), None, Model),
            (post(), "/model/arn:aws:bedrock:us-east-1:123456789012:guardrail/abc/invoke".into(), None, Model),
            // Query tricks on routes that take none.
            (post(), format!("/model/{HAIKU_ENC}/invoke"), Some("x=1"), Request),
            (post(), format!("/model/{HAIKU_ENC}/invoke"), Some("/../other"), Request),
            (post(), format!("/model/{HAIKU_ENC}/converse"), Some("modelId=evil.model"), Request),
            (post(), "/async-invoke".into(), Some("a=b"), Request),
            (post(), "/guardrail/abc/version/1/apply".into(), Some("a"), Request),
            (post(), "/guardrail-checks/invoke".into(), Some("a=1"), Request),
            (Method::GET, "/async-invoke/arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc".into(), Some("x"), Request),
            // Guardrails.
            (post(), "/guardrail/ABC/version/1/apply".into(), None, Request),
            (post(), "/guardrail/abc%2F..%2Fx/version/1/apply".into(), None, Request),
            (post(), "/guardrail/../version/1/apply".into(), None, Request),
            (post(), "/guardrail//version/1/apply".into(), None, Request),
            (post(), "/guardrail/abc%252F/version/1/apply".into(), None, Request),
            (post(), "/guardrail/arn:aws:bedrock:us-east-1::guardrail/abc/version/1/apply".into(), None, Request),
            (post(), "/guardrail/abc/version/draft/apply".into(), None, Request),
            (post(), "/guardrail/abc/version/0/apply".into(), None, Request),
            (post(), "/guardrail/abc/version/1.0/apply".into(), None, Request),
            (post(), "/guardrail/abc/version//apply".into(), None, Request),
            (post(), "/guardrail/abc/version/%zz/apply".into(), None, Request),
            // Invocation ARNs.
            (Method::GET, "/async-invoke/abc".into(), None, Request),
            (Method::GET, "/async-invoke/arn:aws:bedrock:us-east-1:123456789012:guardrail/abc".into(), None, Request),
            (Method::GET, "/async-invoke/arn:aws:bedrock:us-east-1:123456789012:async-invoke/a/../b".into(), None, Request),
            (Method::GET, "/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aasync-invoke%2Fa%00".into(), None, Request),
            // List query.
            (Method::GET, "/async-invoke".into(), Some("a=%0a"), Request),
            (Method::GET, "/async-invoke".into(), Some("a%00=1"), Request),
            (Method::GET, "/async-invoke".into(), Some("a=%zz"), Request),
            (Method::GET, "/async-invoke".into(), Some("a=%FF"), Request),
            (Method::GET, "/async-invoke".into(), Some("=1"), Request),
            (Method::GET, "/async-invoke".into(), Some("a=\u{7f}"), Request),
        ];
        let too_long = "a=".to_owned() + &"b".repeat(MAX_QUERY_LEN);
        // Found by the classify fuzz target: short enough raw, too long once encoded.
        let too_long_encoded = "a=".to_owned() + &"\u{e9}".repeat(MAX_QUERY_LEN / 4);
        let mut cases = cases;
        for query in [&too_long, &too_long_encoded] {
            cases.push((Method::GET, "/async-invoke".into(), Some(query), Request));
        }
        for (method, path, query, want) in cases {
            let r = classify(&method, &path, query);
            let ok = match want {
                Model => matches!(r, Err(ClassifyError::InvalidModelId { .. })),
                Request => matches!(r, Err(ClassifyError::InvalidRequest { .. })),
            };
            assert!(ok, "{method} {path} {query:?}: {r:?}");
        }
    }

    /// Builds a request from parts that are often, but not always, valid.
    fn request() -> impl Strategy<Value = (Method, String, Option<String>)> {
        let ids = prop_oneof![
            4 => model_id::tests::valid_id().prop_flat_map(|id| {
                let encoded = encode_component(&id);
                prop::sample::select(vec![id, encoded])
            }),
            1 => "(%[0-9a-fA-F]{2}|[a-zA-Z0-9.:/%?#_+-])*",
            1 => any::<String>(),
        ];
        let guardrail_ids = prop_oneof![
            "[a-z0-9]{1,12}",
            "[0-9]{12}".prop_map(|a| format!("arn:aws:bedrock:us-east-1:{a}:guardrail/abc")),
            "(%[0-9a-fA-F]{2}|[a-zA-Z0-9.:/%])*",
        ];
        let suffix = prop::sample::select(vec![
            "invoke",
            "invoke-with-response-stream",
            "converse",
            "converse-stream",
            "count-tokens",
            "invoke-with-bidirectional-stream",
            "nope",
        ]);
        let method = prop::sample::select(vec![Method::POST, Method::GET]);
        let query = proptest::option::of("(%[0-9a-fA-F]{2}|[a-zA-Z0-9=&+%/])*");
        let path = prop_oneof![
            4 => (ids, suffix).prop_map(|(id, s)| format!("/model/{id}/{s}")),
            1 => (guardrail_ids, "DRAFT|[0-9]{1,3}|%3[0-9]")
                .prop_map(|(g, v)| format!("/guardrail/{g}/version/{v}/apply")),
            1 => "[0-9a-z]{1,12}".prop_map(|id| format!("/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aasync-invoke%2F{id}")),
            1 => Just("/async-invoke".to_owned()),
        ];
        (method, path, query)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn upstream_paths_classify_the_same((method, path, query) in request()) {
            if let Ok(r) = classify(&method, &path, query.as_deref()) {
                let (p, q) = match r.upstream_path.split_once('?') {
                    Some((p, q)) => (p, Some(q)),
                    None => (r.upstream_path.as_str(), None),
                };
                let again = classify(&method, p, q);
                prop_assert_eq!(again.as_ref(), Ok(&r), "{} {} {:?}", method, path, query);
                // The upstream path is plain ASCII with nothing a server could re-interpret.
                prop_assert!(r.upstream_path.bytes().all(|b| b.is_ascii_graphic()));
                prop_assert!(!r.upstream_path.contains('#'));
                prop_assert!(!p.contains('?'));
                if let Some(id) = r.target.model_id() {
                    prop_assert_eq!(p, format!("/model/{}/{}", id.encoded(), p.rsplit('/').next().unwrap_or("")));
                }
            }
        }
    }
}
