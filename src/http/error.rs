//! The one place where failures become responses. Every response the proxy makes up itself is shaped
//! like Bedrock's own errors (status, `x-amzn-ErrorType`, `{"message": ...}`), so AWS SDKs raise the
//! modeled exception (AccessDeniedException, ValidationException, ...) instead of a generic error.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

use crate::auth::AuthError;
use crate::aws::{CredentialsError, SigningError};
use crate::classify::ClassifyError;
use crate::http::headers::InvalidHeader;
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
    #[error(transparent)]
    InvalidHeader(#[from] InvalidHeader),
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
    Quota(#[from] Refusal),
}

impl GuardError {
    /// The status and the AWS error code (`x-amzn-ErrorType`) for this failure.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            GuardError::Auth(err) => (StatusCode::FORBIDDEN, err.code()),
            GuardError::Classify(ClassifyError::UnknownOperation { .. }) => {
                (StatusCode::NOT_FOUND, "UnknownOperationException")
            }
            GuardError::Classify(ClassifyError::AccountIdUnknown) | GuardError::Account(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerException")
            }
            GuardError::Classify(_) | GuardError::BodyRead(_) | GuardError::InvalidHeader(_) => {
                (StatusCode::BAD_REQUEST, "ValidationException")
            }
            GuardError::AccessDenied { .. } => (StatusCode::FORBIDDEN, "AccessDeniedException"),
            GuardError::BodyTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "ValidationException")
            }
            GuardError::Credentials(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
            ),
            GuardError::Signing(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerException")
            }
            GuardError::Upstream(UpstreamError::Connect { .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
            ),
            GuardError::Upstream(UpstreamError::Timeout { .. }) => {
                (StatusCode::GATEWAY_TIMEOUT, "GatewayTimeoutException")
            }
            GuardError::Upstream(UpstreamError::Broken { .. }) => {
                (StatusCode::BAD_GATEWAY, "BadGatewayException")
            }
            GuardError::Upstream(UpstreamError::Build(_)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerException")
            }
            // Retryable by the SDKs' standard retry strategy, like Bedrock's own 503.
            GuardError::Overloaded { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
            ),
            // Per-minute limits: retried by SDKs with backoff, as Bedrock's own throttling.
            GuardError::Quota(Refusal::Throttled { .. }) => {
                (StatusCode::TOO_MANY_REQUESTS, "ThrottlingException")
            }
            // Budgets: not retried; the message names the quota and when it resets.
            GuardError::Quota(Refusal::Exhausted { .. }) => {
                (StatusCode::BAD_REQUEST, "ServiceQuotaExceededException")
            }
            GuardError::Quota(Refusal::BackendUnavailable) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
            ),
        }
    }

    /// True when the caller sent something wrong (logged at a lower level than proxy faults).
    pub fn is_client_fault(&self) -> bool {
        self.status_and_code().0.is_client_error()
    }

    pub fn into_response_with_id(self, request_id: &str) -> Response {
        let (status, code) = self.status_and_code();
        let mut response = aws_error_response(status, code, &self.to_string(), request_id);
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
}

/// An AWS-shaped error response.
pub fn aws_error_response(
    status: StatusCode,
    code: &'static str,
    message: &str,
    request_id: &str,
) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
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
