//! The one place where failures become responses. Every response the proxy makes up itself is shaped
//! like Bedrock's own errors (status, `x-amzn-ErrorType`, `{"message": ...}`), so AWS SDKs raise the
//! modeled exception (AccessDeniedException, ValidationException, ...) instead of a generic error.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

use crate::auth::AuthError;
use crate::aws::{CredentialsError, SigningError};
use crate::classify::ClassifyError;
use crate::discovery::DiscoveryError;
use crate::http::headers::InvalidHeader;
use crate::http::inputs::InputError;
use crate::quota::Refusal;
use crate::upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Classify(#[from] ClassifyError),
    #[error("{message}")]
    AccessDenied { message: String },
    #[error("the request body exceeds bedrock-guard's limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("cannot read the request body: {0}")]
    BodyRead(String),
    #[error(
        "the request body did not arrive within {seconds} s (or slower than {min_rate} bytes/s)"
    )]
    BodyTimeout { seconds: u64, min_rate: u64 },
    #[error("bedrock-guard is holding its limit of {limit} bytes of request bodies ({scope}); retry later")]
    BodyBudget { scope: &'static str, limit: usize },
    #[error(transparent)]
    InvalidHeader(#[from] InvalidHeader),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(
        "bedrock-guard cannot determine its AWS account id ({0}); set account_id in the config"
    )]
    Account(String),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("bedrock-guard is handling its limit of {limit} concurrent requests; retry later")]
    Overloaded { limit: usize },
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    Quota(#[from] Refusal),
}

/// (status, `x-amzn-ErrorType`) pairs that several failures share.
const UNAVAILABLE: (StatusCode, &str) = (
    StatusCode::SERVICE_UNAVAILABLE,
    "ServiceUnavailableException",
);
const INTERNAL: (StatusCode, &str) = (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerException");
const INVALID: (StatusCode, &str) = (StatusCode::BAD_REQUEST, "ValidationException");
const DENIED: (StatusCode, &str) = (StatusCode::FORBIDDEN, "AccessDeniedException");

impl GuardError {
    /// The status and the AWS error code (`x-amzn-ErrorType`) for this failure.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            GuardError::Auth(err) => (StatusCode::FORBIDDEN, err.code()),
            GuardError::Classify(ClassifyError::UnknownOperation { .. }) => {
                (StatusCode::NOT_FOUND, "UnknownOperationException")
            }
            GuardError::Classify(ClassifyError::AccountIdUnknown) | GuardError::Account(_) => {
                INTERNAL
            }
            GuardError::Classify(ClassifyError::UnresolvedWrapper { .. }) => DENIED,
            GuardError::Classify(ClassifyError::RouteNotCached { .. }) => UNAVAILABLE,
            GuardError::Classify(_) | GuardError::BodyRead(_) | GuardError::InvalidHeader(_) => {
                INVALID
            }
            GuardError::Input(_) => INVALID,
            GuardError::AccessDenied { .. } => DENIED,
            GuardError::BodyTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "ValidationException")
            }
            GuardError::BodyTimeout { .. } => {
                (StatusCode::REQUEST_TIMEOUT, "RequestTimeoutException")
            }
            GuardError::Credentials(_) => UNAVAILABLE,
            GuardError::Signing(_) => INTERNAL,
            GuardError::Upstream(UpstreamError::Connect { .. }) => UNAVAILABLE,
            GuardError::Upstream(UpstreamError::Timeout { .. }) => {
                (StatusCode::GATEWAY_TIMEOUT, "GatewayTimeoutException")
            }
            GuardError::Upstream(UpstreamError::Broken { .. }) => {
                (StatusCode::BAD_GATEWAY, "BadGatewayException")
            }
            GuardError::Upstream(UpstreamError::Build(_)) => INTERNAL,
            // Retryable by the SDKs' standard retry strategy, like Bedrock's own 503.
            GuardError::Overloaded { .. } | GuardError::BodyBudget { .. } => UNAVAILABLE,
            GuardError::Discovery(DiscoveryError::Validation(_)) => INVALID,
            // A model the caller may not use is absent from its view, as from its listing.
            GuardError::Discovery(DiscoveryError::NotFound { .. }) => {
                (StatusCode::NOT_FOUND, "ResourceNotFoundException")
            }
            GuardError::Discovery(DiscoveryError::Unavailable { .. }) => UNAVAILABLE,
            // Per-minute limits: retried by SDKs with backoff, as Bedrock's own throttling.
            GuardError::Quota(Refusal::Throttled { .. }) => {
                (StatusCode::TOO_MANY_REQUESTS, "ThrottlingException")
            }
            // Budgets: not retried; the message names the quota and when it resets.
            GuardError::Quota(Refusal::Exhausted { .. }) => {
                (StatusCode::BAD_REQUEST, "ServiceQuotaExceededException")
            }
            GuardError::Quota(Refusal::BackendUnavailable) => UNAVAILABLE,
        }
    }

    /// True when the caller sent something wrong (logged at a lower level than proxy faults).
    pub fn is_client_fault(&self) -> bool {
        self.status_and_code().0.is_client_error()
    }

    /// What the client is told. The proxy's own faults name no endpoint, error chain or STS detail:
    /// those are for the log line, which carries the same request id as the response.
    pub fn client_message(&self) -> String {
        let internal = match self {
            GuardError::Credentials(_) => {
                "bedrock-guard has no usable AWS credentials right now; retry later"
            }
            GuardError::Account(_) | GuardError::Classify(ClassifyError::AccountIdUnknown) => {
                "bedrock-guard cannot determine its AWS account id; its operator can set account_id in the config"
            }
            GuardError::Signing(_) => "bedrock-guard could not sign the request to Bedrock",
            GuardError::BodyRead(_) => "cannot read the request body",
            GuardError::Upstream(UpstreamError::Connect { .. }) => {
                "bedrock-guard cannot reach Bedrock right now; retry later"
            }
            GuardError::Upstream(UpstreamError::Timeout { seconds, .. }) => {
                return format!("Bedrock did not answer within {seconds} s");
            }
            GuardError::Upstream(UpstreamError::Broken { .. }) => {
                "the connection between bedrock-guard and Bedrock failed"
            }
            GuardError::Upstream(UpstreamError::Build(_)) => "bedrock-guard internal error",
            _ => return self.to_string(),
        };
        format!("{internal} (the guard's log has the details under this request id)")
    }

    pub fn into_response_with_id(self, request_id: &str) -> Response {
        let (status, code) = self.status_and_code();
        let mut response = aws_error_response(status, code, &self.client_message(), request_id);
        if let GuardError::Quota(Refusal::Throttled {
            retry_after_secs, ..
        }) = self
        {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs),
            );
        }
        response
    }

    /// The error response for a request to `path`: OpenAI-shaped on the OpenAI-compatible routes
    /// (the OpenAI SDKs read `error.message` and pick their exception from the status, so a deny
    /// raises `PermissionDeniedError`), AWS-shaped everywhere else.
    pub fn into_response_for_path(self, path: &str, request_id: &str) -> Response {
        if !crate::classify::is_openai_path(path) {
            return self.into_response_with_id(request_id);
        }
        let (status, code) = self.status_and_code();
        let kind = match self {
            GuardError::Auth(_) => "authentication_error",
            GuardError::AccessDenied { .. } => "permission_error",
            _ => openai_error_type(status),
        };
        openai_error_response(status, code, kind, &self.to_string(), request_id)
    }
}

/// The OpenAI error `type` for a status, as the OpenAI API names them.
fn openai_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        s if s >= 500 => "server_error",
        _ => "invalid_request_error",
    }
}

/// An OpenAI-shaped error response (`{"error": {"message", "type", "code"}}`), still carrying
/// `x-amzn-ErrorType` (the AWS code, also in `code`) and the request id.
pub fn openai_error_response(
    status: StatusCode,
    code: &'static str,
    kind: &'static str,
    message: &str,
    request_id: &str,
) -> Response {
    let body = serde_json::json!({
        "error": { "message": message, "type": kind, "code": code, "param": null }
    })
    .to_string();
    json_error_response(status, code, body, request_id)
}

/// An AWS-shaped error response.
pub fn aws_error_response(
    status: StatusCode,
    code: &'static str,
    message: &str,
    request_id: &str,
) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    json_error_response(status, code, body, request_id)
}

/// A JSON error body with the headers both error shapes carry: `x-amzn-ErrorType` and the request id.
fn json_error_response(
    status: StatusCode,
    code: &'static str,
    body: String,
    request_id: &str,
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn deny_is_a_403_access_denied_with_a_json_message() {
        let err = GuardError::AccessDenied {
            message: "User: u is not authorized".into(),
        };
        let response = err.into_response_with_id("req-1");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "AccessDeniedException"
        );
        assert_eq!(response.headers()["x-amzn-requestid"], "req-1");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["message"], "User: u is not authorized");
    }

    #[tokio::test]
    async fn openai_routes_get_openai_shaped_errors() {
        let cases: Vec<(GuardError, &str, u16, &str, &str)> = vec![
            (
                GuardError::AccessDenied {
                    message: "User: u is not authorized".into(),
                },
                "/openai/v1/chat/completions",
                403,
                "permission_error",
                "AccessDeniedException",
            ),
            (
                GuardError::BodyTooLarge { limit: 1 },
                "/v1/chat/completions",
                413,
                "invalid_request_error",
                "ValidationException",
            ),
            (
                GuardError::Overloaded { limit: 1 },
                "/openai/v1/responses",
                503,
                "server_error",
                "ServiceUnavailableException",
            ),
            (
                GuardError::Classify(ClassifyError::UnknownOperation {
                    method: "GET".into(),
                    path: "/openai/v1/nope".into(),
                }),
                "/openai/v1/nope",
                404,
                "not_found_error",
                "UnknownOperationException",
            ),
        ];
        for (err, path, status, kind, code) in cases {
            let message = err.to_string();
            let response = err.into_response_for_path(path, "req-2");
            assert_eq!(response.status().as_u16(), status, "{path}");
            assert_eq!(response.headers()["x-amzn-errortype"], code);
            assert_eq!(response.headers()["x-amzn-requestid"], "req-2");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["error"]["message"], message.as_str());
            assert_eq!(json["error"]["type"], kind);
            assert_eq!(json["error"]["code"], code);
        }
        // Other routes keep the AWS shape.
        let response = GuardError::AccessDenied {
            message: "m".into(),
        }
        .into_response_for_path("/model/x/invoke", "req-3");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json, serde_json::json!({"message": "m"}));
    }

    #[test]
    fn internal_details_stay_out_of_client_messages() {
        let secret_bits = [
            "10.1.2.3",
            "connection refused",
            "sts.",
            "AccessDenied for arn",
        ];
        let cases = vec![
            GuardError::Upstream(UpstreamError::Connect {
                endpoint: "http://10.1.2.3:443".into(),
                detail: "tcp connect error: connection refused".into(),
            }),
            GuardError::Upstream(UpstreamError::Broken {
                endpoint: "http://10.1.2.3:443".into(),
                detail: "connection refused".into(),
            }),
            GuardError::Upstream(UpstreamError::Timeout {
                endpoint: "http://10.1.2.3:443".into(),
                seconds: 5,
            }),
            GuardError::Upstream(UpstreamError::Build("10.1.2.3".into())),
            GuardError::Credentials(CredentialsError::Provider(
                "sts.us-east-1.amazonaws.com: AccessDenied for arn".into(),
            )),
            GuardError::Account("STS GetCallerIdentity failed: sts. connection refused".into()),
            GuardError::Signing(SigningError::from_message("AccessDenied for arn")),
            GuardError::BodyRead("connection refused".into()),
        ];
        for err in cases {
            let message = err.client_message();
            for bit in secret_bits {
                assert!(!message.contains(bit), "{err}: {message}");
            }
            assert!(!message.is_empty());
        }
        // Client faults keep their full, useful message.
        let denied = GuardError::AccessDenied {
            message: "User: u is not authorized".into(),
        };
        assert_eq!(denied.client_message(), "User: u is not authorized");
    }

    #[test]
    fn throttling_carries_retry_after() {
        let response = GuardError::Quota(Refusal::Throttled {
            quota: "q".into(),
            what: "requests",
            limit: 1,
            retry_after_secs: 7,
        })
        .into_response_with_id("r");
        assert_eq!(response.headers()["retry-after"], "7");
    }

    #[test]
    fn status_table() {
        let endpoint = || "http://x".to_owned();
        let cases: Vec<(GuardError, u16, &str)> = vec![
            (
                GuardError::BodyTooLarge { limit: 1 },
                413,
                "ValidationException",
            ),
            (GuardError::BodyRead("x".into()), 400, "ValidationException"),
            (
                GuardError::Credentials(CredentialsError::NoProvider),
                503,
                "ServiceUnavailableException",
            ),
            (
                GuardError::Account("x".into()),
                500,
                "InternalServerException",
            ),
            (
                GuardError::Upstream(UpstreamError::Connect {
                    endpoint: endpoint(),
                    detail: "refused".into(),
                }),
                503,
                "ServiceUnavailableException",
            ),
            (
                GuardError::Upstream(UpstreamError::Timeout {
                    endpoint: endpoint(),
                    seconds: 1,
                }),
                504,
                "GatewayTimeoutException",
            ),
            (
                GuardError::Upstream(UpstreamError::Broken {
                    endpoint: endpoint(),
                    detail: "reset".into(),
                }),
                502,
                "BadGatewayException",
            ),
            (
                GuardError::Overloaded { limit: 1 },
                503,
                "ServiceUnavailableException",
            ),
            (
                GuardError::BodyBudget {
                    scope: "total",
                    limit: 1,
                },
                503,
                "ServiceUnavailableException",
            ),
            (
                GuardError::BodyTimeout {
                    seconds: 1,
                    min_rate: 1,
                },
                408,
                "RequestTimeoutException",
            ),
            (
                GuardError::Quota(Refusal::Throttled {
                    quota: "q".into(),
                    what: "requests",
                    limit: 1,
                    retry_after_secs: 3,
                }),
                429,
                "ThrottlingException",
            ),
            (
                GuardError::Quota(Refusal::Exhausted {
                    quota: "q".into(),
                    what: "USD",
                    period: "day",
                    limit: "$1.00".into(),
                    resets_at: "2026-12-02T00:00:00Z".into(),
                }),
                400,
                "ServiceQuotaExceededException",
            ),
            (
                GuardError::Quota(Refusal::BackendUnavailable),
                503,
                "ServiceUnavailableException",
            ),
        ];
        for (err, status, code) in cases {
            let (s, c) = err.status_and_code();
            assert_eq!((s.as_u16(), c), (status, code), "{err}");
        }
    }
}
