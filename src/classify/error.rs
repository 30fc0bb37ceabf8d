//! Why a request could not be classified or mapped to resources.

/// Every way classification refuses a request. The HTTP layer maps these to Bedrock-shaped errors
/// (`UnknownOperationException` 404, `ValidationException` 400, ...); the messages are written for the
/// developer whose client sent the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    /// No Bedrock Runtime operation has this method and path.
    #[error("no Bedrock Runtime operation matches {method} {path}")]
    UnknownOperation { method: String, path: String },

    /// A real Bedrock operation this proxy refuses to forward.
    #[error("{operation} is not supported by this proxy: {reason}")]
    Unsupported {
        operation: &'static str,
        reason: String,
    },

    /// The model identifier in the path or body is not one this proxy can authorize unambiguously.
    #[error("invalid model identifier: {reason}")]
    InvalidModelId { reason: String },

    /// Something else about the request is malformed (query string, guardrail id, async body, ...).
    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },

    /// An ARN to authorize against contains the proxy's account id, and the proxy does not know it.
    #[error(
        "this call is authorized against an ARN that contains the proxy's AWS account id, \
         which is not known; set `account_id` in the configuration or allow STS GetCallerIdentity"
    )]
    AccountIdUnknown,

    /// The call goes through a wrapper (inference profile, prompt router, provisioned model) the
    /// control-plane cache does not know yet: look it up, then classify again.
    #[error("the {} {key} in {region} is not in the control-plane cache yet", kind.as_str())]
    RouteNotCached {
        region: String,
        kind: super::WrapperKind,
        key: String,
    },

    /// What a wrapper routes to could not be resolved, so its models cannot be authorized: refused,
    /// because authorizing the wrapper alone would let a deny on the model be bypassed.
    #[error(
        "cannot authorize {arn}: the models this {} routes to could not be resolved \
         (the proxy asks the Bedrock control plane; a prompt's model is not looked up). \
         Call the model or a resolvable inference profile directly, or ask the operator \
         (control_plane.unresolved_wrappers)", kind.as_str()
    )]
    UnresolvedWrapper {
        kind: super::WrapperKind,
        arn: String,
    },
}

impl ClassifyError {
    /// True when the client sent something wrong (a 4xx); false when the proxy itself lacks what it
    /// needs to decide (a 5xx: the same request would pass with a better configuration).
    pub fn is_client_error(&self) -> bool {
        match self {
            ClassifyError::UnknownOperation { .. }
            | ClassifyError::Unsupported { .. }
            | ClassifyError::InvalidModelId { .. }
            | ClassifyError::InvalidRequest { .. } => true,
            ClassifyError::UnresolvedWrapper { .. } => true,
            ClassifyError::AccountIdUnknown | ClassifyError::RouteNotCached { .. } => false,
        }
    }

    pub(crate) fn invalid_model_id(reason: impl Into<String>) -> Self {
        ClassifyError::InvalidModelId {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_request(reason: impl Into<String>) -> Self {
        ClassifyError::InvalidRequest {
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missing_account_is_a_server_error() {
        let client = [
            ClassifyError::UnknownOperation {
                method: "GET".into(),
                path: "/x".into(),
            },
            ClassifyError::Unsupported {
                operation: "InvokeModelWithBidirectionalStream",
                reason: "r".into(),
            },
            ClassifyError::invalid_model_id("r"),
            ClassifyError::invalid_request("r"),
        ];
        for e in &client {
            assert!(e.is_client_error(), "{e}");
        }
        assert!(!ClassifyError::AccountIdUnknown.is_client_error());
    }

    #[test]
    fn messages_name_the_problem() {
        let e = ClassifyError::UnknownOperation {
            method: "GET".into(),
            path: "/model/x/invoke".into(),
        };
        assert_eq!(
            e.to_string(),
            "no Bedrock Runtime operation matches GET /model/x/invoke"
        );
        assert_eq!(
            ClassifyError::invalid_model_id("empty").to_string(),
            "invalid model identifier: empty"
        );
    }
}
