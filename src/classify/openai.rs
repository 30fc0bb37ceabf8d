//! The OpenAI-compatible APIs Bedrock Runtime serves next to its own (user guide, "Invoke a model with
//! the OpenAI Chat Completions API" and "Responses API": base URL
//! `https://bedrock-runtime.{region}.amazonaws.com/openai/v1`):
//!
//! | route | operation |
//! |---|---|
//! | `POST /openai/v1/chat/completions` (also `/v1/chat/completions`) | ChatCompletions(Stream) |
//! | `POST /openai/v1/responses` | CreateResponse(Stream) |
//! | `GET /openai/v1/responses/{id}` | GetResponse |
//! | `DELETE /openai/v1/responses/{id}` | DeleteResponse |
//! | `POST /openai/v1/responses/{id}/cancel` | CancelResponse |
//!
//! The model is the body's `model`; `"stream": true` makes the call a streaming one (authorized as
//! `bedrock:InvokeModelWithResponseStream`, as ConverseStream is). The body is read as one JSON
//! object with the derived deserializer, which refuses a duplicated `model` or `stream` key: the
//! upstream could otherwise read the copy that was not authorized.

use http::Method;
use serde::Deserialize;

use super::model_id::decode_identifier;
use super::{
    canonical_query, refuse_query, unknown_operation, ClassifyError, ModelId, Operation, Route,
    Target,
};

const PREFIX: &str = "/openai/v1";
/// OpenAI response ids are short (`resp_` + hex); anything longer is not one.
const MAX_RESPONSE_ID_LEN: usize = 256;

/// True for the paths whose errors the OpenAI SDKs parse (`{"error": {...}}`), known operation or not.
pub fn is_openai_path(path: &str) -> bool {
    path.starts_with("/openai/") || path.starts_with("/v1/")
}

/// `Some` when `path` is one of the OpenAI-compatible routes' paths.
pub(super) fn classify_openai(
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Option<Result<Route, ClassifyError>> {
    if path == "/v1/chat/completions" || path == "/openai/v1/chat/completions" {
        return Some(inference(method, path, query, Operation::ChatCompletions));
    }
    let rest = path.strip_prefix(PREFIX)?.strip_prefix("/responses")?;
    if rest.is_empty() {
        return Some(inference(method, path, query, Operation::CreateResponse));
    }
    let rest = rest.strip_prefix('/')?;
    Some(stored_response(method, path, rest, query))
}

fn inference(
    method: &Method,
    path: &str,
    query: Option<&str>,
    operation: Operation,
) -> Result<Route, ClassifyError> {
    if *method != Method::POST {
        return Err(unknown_operation(method, path));
    }
    refuse_query(query, operation)?;
    Ok(Route {
        operation,
        target: Target::ModelInBody,
        upstream_path: path.to_owned(),
    })
}

fn stored_response(
    method: &Method,
    path: &str,
    rest: &str,
    query: Option<&str>,
) -> Result<Route, ClassifyError> {
    let (raw_id, operation) = match (method, rest.strip_suffix("/cancel")) {
        (&Method::POST, Some(id)) => (id, Operation::CancelResponse),
        (&Method::GET, None) => (rest, Operation::GetResponse),
        (&Method::DELETE, None) => (rest, Operation::DeleteResponse),
        _ => return Err(unknown_operation(method, path)),
    };
    let id = decode_identifier(raw_id, MAX_RESPONSE_ID_LEN)
        .ok()
        .filter(|id| {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .ok_or_else(|| {
            ClassifyError::invalid_request(
                "response id must be letters, digits, '_' and '-' (as `resp_...`)",
            )
        })?;
    // Retrieving a response takes optional query parameters (`include[]`, `stream`, ...); they are
    // re-encoded canonically like ListAsyncInvokes'. Delete and cancel take none.
    let query = match operation {
        Operation::GetResponse => canonical_query(query)?,
        _ => {
            refuse_query(query, operation)?;
            None
        }
    };
    let mut upstream_path = format!("{PREFIX}/responses/{id}");
    if operation == Operation::CancelResponse {
        upstream_path.push_str("/cancel");
    }
    if let Some(q) = query {
        upstream_path.push('?');
        upstream_path.push_str(&q);
    }
    Ok(Route {
        operation,
        upstream_path,
        target: Target::StoredResponse { id },
    })
}

/// The fields of an OpenAI-compatible request body that authorization needs; others are skipped.
#[derive(Debug, Deserialize)]
struct OpenAiBody {
    model: String,
    #[serde(default)]
    stream: Option<bool>,
}

/// What the body added to a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFields {
    /// The route, with the operation turned into its streaming form when the body asks to stream.
    pub route: Route,
    /// The model named in the body, when the operation takes it from there.
    pub model: Option<ModelId>,
}

/// Completes a route whose model id (and, for the OpenAI routes, streaming form) is in the body.
/// Routes that do not read their body are returned unchanged.
pub fn with_body(route: Route, body: &[u8]) -> Result<BodyFields, ClassifyError> {
    if route.target != Target::ModelInBody {
        return Ok(BodyFields { route, model: None });
    }
    let streaming = match route.operation {
        Operation::StartAsyncInvoke => {
            let model = super::model_id_from_async_body(body)?;
            return Ok(BodyFields {
                route,
                model: Some(model),
            });
        }
        Operation::ChatCompletions | Operation::ChatCompletionsStream => {
            Operation::ChatCompletionsStream
        }
        Operation::CreateResponse | Operation::CreateResponseStream => {
            Operation::CreateResponseStream
        }
        other => {
            return Err(ClassifyError::invalid_request(format!(
                "{other} takes no model from its body"
            )))
        }
    };
    let name = route.operation.name();
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ClassifyError::invalid_request(format!(
            "{name} body must be a JSON object"
        )));
    }
    let parsed: OpenAiBody = serde_json::from_slice(body)
        .map_err(|e| ClassifyError::invalid_request(format!("{name} body: {e}")))?;
    let model = ModelId::from_decoded(&parsed.model)?;
    let operation = if parsed.stream == Some(true) {
        streaming
    } else {
        route.operation
    };
    Ok(BodyFields {
        route: Route { operation, ..route },
        model: Some(model),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;

    fn route(method: Method, path: &str, query: Option<&str>) -> Route {
        match classify(&method, path, query) {
            Ok(r) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    /// Method, path, query; the operation, target and upstream path it classifies as.
    type Case<'a> = (Method, &'a str, Option<&'a str>, Operation, Target, &'a str);

    #[test]
    fn routes() {
        let cases: Vec<Case> = vec![
            (
                Method::POST,
                "/openai/v1/chat/completions",
                None,
                Operation::ChatCompletions,
                Target::ModelInBody,
                "/openai/v1/chat/completions",
            ),
            (
                Method::POST,
                "/v1/chat/completions",
                None,
                Operation::ChatCompletions,
                Target::ModelInBody,
                "/v1/chat/completions",
            ),
            (
                Method::POST,
                "/openai/v1/responses",
                None,
                Operation::CreateResponse,
                Target::ModelInBody,
                "/openai/v1/responses",
            ),
            (
                Method::GET,
                "/openai/v1/responses/resp_abc-1",
                None,
                Operation::GetResponse,
                Target::StoredResponse {
                    id: "resp_abc-1".into(),
                },
                "/openai/v1/responses/resp_abc-1",
            ),
            (
                Method::GET,
                "/openai/v1/responses/resp_%61",
                Some("include[]=x&stream=false"),
                Operation::GetResponse,
                Target::StoredResponse {
                    id: "resp_a".into(),
                },
                "/openai/v1/responses/resp_a?include%5B%5D=x&stream=false",
            ),
            (
                Method::DELETE,
                "/openai/v1/responses/resp_1",
                None,
                Operation::DeleteResponse,
                Target::StoredResponse {
                    id: "resp_1".into(),
                },
                "/openai/v1/responses/resp_1",
            ),
            (
                Method::POST,
                "/openai/v1/responses/resp_1/cancel",
                None,
                Operation::CancelResponse,
                Target::StoredResponse {
                    id: "resp_1".into(),
                },
                "/openai/v1/responses/resp_1/cancel",
            ),
        ];
        for (method, path, query, operation, target, upstream) in cases {
            let r = route(method.clone(), path, query);
            assert_eq!(
                (r.operation, &r.target, r.upstream_path.as_str()),
                (operation, &target, upstream),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn refused_routes() {
        let unknown = [
            (Method::GET, "/openai/v1/chat/completions"),
            (Method::POST, "/openai/v1/chat/completions/"),
            (Method::POST, "/openai/v1/completions"),
            (Method::POST, "/openai/v1/embeddings"),
            (Method::GET, "/openai/v1/responses"),
            (Method::POST, "/openai/v1/responses/resp_1"),
            (Method::GET, "/openai/v1/responses/resp_1/cancel"),
            (Method::POST, "/openai/v1/responses/resp_1/input_items"),
            (Method::POST, "/OpenAI/v1/chat/completions"),
            (Method::POST, "/openai/v2/responses"),
            (Method::POST, "/v1/responses"),
        ];
        for (method, path) in unknown {
            let r = classify(&method, path, None);
            assert!(
                matches!(
                    r,
                    Err(ClassifyError::UnknownOperation { .. })
                        | Err(ClassifyError::InvalidRequest { .. })
                ),
                "{method} {path}: {r:?}"
            );
        }
        let invalid = [
            (Method::POST, "/openai/v1/chat/completions", Some("model=x")),
            (Method::POST, "/openai/v1/responses", Some("a=b")),
            (Method::GET, "/openai/v1/responses/", None),
            (Method::GET, "/openai/v1/responses/..%2Fx", None),
            (Method::GET, "/openai/v1/responses/a/b", None),
            (Method::GET, "/openai/v1/responses/resp%00", None),
            (Method::DELETE, "/openai/v1/responses/resp_1", Some("x=1")),
            (
                Method::POST,
                "/openai/v1/responses/resp_1/cancel",
                Some("x=1"),
            ),
        ];
        for (method, path, query) in invalid {
            let r = classify(&method, path, query);
            assert!(
                matches!(r, Err(ClassifyError::InvalidRequest { .. })),
                "{method} {path} {query:?}: {r:?}"
            );
        }
    }

    fn body(operation: Operation, text: &str) -> Result<BodyFields, ClassifyError> {
        let route = Route {
            operation,
            target: Target::ModelInBody,
            upstream_path: "/openai/v1/chat/completions".into(),
        };
        with_body(route, text.as_bytes())
    }

    #[test]
    fn body_model_and_stream() {
        let cases = [
            (
                Operation::ChatCompletions,
                r#"{"model":"openai.gpt-oss-20b-1:0","messages":[]}"#,
                Operation::ChatCompletions,
                "openai.gpt-oss-20b-1:0",
            ),
            (
                Operation::ChatCompletions,
                r#"{"model":"us.anthropic.claude-sonnet-4-5-20250929-v1:0","stream":true,"stream_options":{"include_usage":true}}"#,
                Operation::ChatCompletionsStream,
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            ),
            (
                Operation::ChatCompletions,
                r#"{"stream":false,"model":"m.x"}"#,
                Operation::ChatCompletions,
                "m.x",
            ),
            (
                Operation::CreateResponse,
                r#"{"model":"m.x","input":"hi","stream":true}"#,
                Operation::CreateResponseStream,
                "m.x",
            ),
            (
                Operation::CreateResponse,
                r#" {"model":"arn:aws:bedrock:us-east-1::foundation-model/m.x","input":[{"model":"other"}]}"#,
                Operation::CreateResponse,
                "arn:aws:bedrock:us-east-1::foundation-model/m.x",
            ),
        ];
        for (op, text, want_op, want_model) in cases {
            let fields = match body(op, text) {
                Ok(f) => f,
                Err(e) => panic!("{text}: {e}"),
            };
            assert_eq!(fields.route.operation, want_op, "{text}");
            assert_eq!(
                fields.model.as_ref().map(ModelId::as_str),
                Some(want_model),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_bodies() {
        for text in [
            "",
            "[]",
            r#"["model"]"#,
            r#"{"messages":[]}"#,
            r#"{"model":"a.b","model":"c.d"}"#,
            r#"{"model":"a.b","stream":true,"stream":false}"#,
            r#"{"model":"a.b","stream":"yes"}"#,
            r#"{"model":"../x"}"#,
            r#"{"model":""}"#,
            r#"{"model":1}"#,
            r#"{"model":"a.b"} trailing"#,
        ] {
            let r = body(Operation::ChatCompletions, text);
            assert!(
                matches!(
                    r,
                    Err(ClassifyError::InvalidRequest { .. })
                        | Err(ClassifyError::InvalidModelId { .. })
                ),
                "{text}: {r:?}"
            );
        }
    }

    #[test]
    fn routes_not_reading_bodies_pass_unchanged() {
        let r = route(Method::GET, "/openai/v1/responses/resp_1", None);
        let fields = match with_body(r.clone(), b"not json") {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            fields,
            BodyFields {
                route: r,
                model: None
            }
        );
    }

    #[test]
    fn openai_paths() {
        assert!(is_openai_path("/openai/v1/chat/completions"));
        assert!(is_openai_path("/v1/chat/completions"));
        assert!(is_openai_path("/openai/v1/nope"));
        assert!(!is_openai_path("/model/x/invoke"));
        assert!(!is_openai_path("/guardrail-checks/invoke"));
    }
}
