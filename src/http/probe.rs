//! Requests tools make at start-up to learn what they may use, whose refusal is an answer rather
//! than a failure. Claude Code, pointed at a Bedrock endpoint, first lists inference profiles
//! (`GET /inference-profiles?type=SYSTEM_DEFINED`), then probes each model it knows with a
//! one-token InvokeModel (`"max_tokens": 1`); every model the policy denies is refused, as it
//! should be. Such refusals are logged at debug, so a start-up does not read as a dozen failures;
//! the audit event still records each one.

use http::Method;

use crate::classify::Operation;

/// Bedrock control-plane discovery routes (ListInferenceProfiles, GetInferenceProfile,
/// ListFoundationModels, GetFoundationModel) that SDKs and tools call on the endpoint they are given.
pub(crate) fn is_discovery(method: &Method, path: &str) -> bool {
    method == Method::GET
        && ["/inference-profiles", "/foundation-models"]
            .iter()
            .any(|route| {
                path.strip_prefix(route)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
}

/// A one-token InvokeModel: how Claude Code checks whether a model is usable. Looked at only for
/// refused calls, and only for small bodies.
pub(crate) fn is_model_probe(operation: Operation, body: &[u8]) -> bool {
    const PROBE_BODY_LIMIT: usize = 8 * 1024;
    if operation != Operation::InvokeModel || body.len() > PROBE_BODY_LIMIT {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        max_tokens: Option<u64>,
    }
    serde_json::from_slice::<Probe>(body).is_ok_and(|probe| probe.max_tokens == Some(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_routes() {
        for (method, path, expected) in [
            (Method::GET, "/inference-profiles", true),
            (Method::GET, "/inference-profiles/us.anthropic.x", true),
            (Method::GET, "/foundation-models", true),
            (Method::GET, "/foundation-models/anthropic.x", true),
            (Method::POST, "/inference-profiles", false),
            (Method::GET, "/inference-profiles-x", false),
            (Method::GET, "/model/x/invoke", false),
        ] {
            assert_eq!(is_discovery(&method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn one_token_invokes_are_probes() {
        let claude_code = br#"{"max_tokens":1,"messages":[{"role":"user","content":"."}],"anthropic_version":"bedrock-2023-05-31"}"#;
        assert!(is_model_probe(Operation::InvokeModel, claude_code));
        let real = br#"{"max_tokens":1024,"messages":[{"role":"user","content":"hi"}]}"#;
        assert!(!is_model_probe(Operation::InvokeModel, real));
        assert!(!is_model_probe(Operation::Converse, claude_code));
        assert!(!is_model_probe(Operation::InvokeModel, b"not json"));
        let mut large = claude_code.to_vec();
        large.extend(std::iter::repeat_n(b' ', 9000));
        assert!(!is_model_probe(Operation::InvokeModel, &large));
    }
}
