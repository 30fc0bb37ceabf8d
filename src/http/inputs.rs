//! The request inputs authorization depends on, read so that they fail closed: a Bedrock parameter
//! header sent twice, a body field a policy reads that Bedrock could read differently, and the S3
//! locations a caller names (which Bedrock would access with the proxy's identity) are refused before
//! anything is forwarded, never treated as "unset".

use http::header::{HeaderMap, ACCEPT, CONTENT_TYPE};

use super::error::GuardError;
use crate::auth::Caller;
use crate::classify::body::{self, BodyError, BodyKeys, Field, S3Location, Want};
use crate::classify::Operation;
use crate::config::Snapshot;

/// Why the guard cannot tell what a request asks for.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("header {name} appears more than once; bedrock-guard cannot tell which one Bedrock would use")]
    DuplicateHeader { name: String },
    #[error("{source}; bedrock-guard reads {what} from it, so it must be a single well-formed JSON object")]
    UnreadableBody {
        #[source]
        source: BodyError,
        what: &'static str,
    },
    #[error("{field} in the request body {reason}; bedrock-guard cannot tell which value Bedrock would use, and a policy depends on it")]
    AmbiguousField {
        field: &'static str,
        reason: &'static str,
    },
    #[error(
        "the service tier is given twice with different values (header {header:?}, body {body:?})"
    )]
    ConflictingServiceTier { header: String, body: String },
}

/// Refuses a request that repeats a Bedrock parameter header (`X-Amzn-Bedrock-*`), `Content-Type` or
/// `Accept`: policy would decide on one value while every copy is forwarded and signed.
pub fn refuse_duplicate_parameters(headers: &HeaderMap) -> Result<(), InputError> {
    for name in headers.keys() {
        let parameter = name == CONTENT_TYPE
            || name == ACCEPT
            || name
                .as_str()
                .starts_with(super::headers::BEDROCK_PARAMETER_PREFIX);
        if parameter && headers.get_all(name).iter().nth(1).is_some() {
            return Err(InputError::DuplicateHeader {
                name: name.as_str().to_owned(),
            });
        }
    }
    Ok(())
}

/// Operations whose bodies may name S3 locations Bedrock reads or writes (the service model's
/// `S3Location` and `s3OutputDataConfig`, and model-native bodies).
fn may_name_s3(operation: Operation) -> bool {
    matches!(
        operation,
        Operation::InvokeModel
            | Operation::InvokeModelWithResponseStream
            | Operation::Converse
            | Operation::ConverseStream
            | Operation::CountTokens
            | Operation::StartAsyncInvoke
    )
}

/// Reads what the caller's policies and S3 allowlist need from the body, and enforces the allowlist.
/// Bodies nobody depends on are not scanned.
pub fn read_body(
    snapshot: &Snapshot,
    caller: &Caller,
    operation: Operation,
    body: &[u8],
) -> Result<BodyKeys, GuardError> {
    let s3 = snapshot.s3_locations.for_caller(caller);
    let want = Want {
        converse_keys: matches!(operation, Operation::Converse | Operation::ConverseStream)
            && caller.principal.reads_body(),
        s3_locations: s3.is_restricted() && may_name_s3(operation),
        request_tags: operation == Operation::StartAsyncInvoke && caller.principal.reads_body(),
    };
    if want == Want::default() {
        return Ok(BodyKeys::default());
    }
    let keys = body::scan(body, want).map_err(|source| InputError::UnreadableBody {
        source,
        what: if want.converse_keys {
            "the condition keys bedrock:ServiceTier and bedrock:GuardrailIdentifier"
        } else if want.request_tags {
            "the condition keys aws:RequestTag/<key> and aws:TagKeys"
        } else {
            "the S3 locations it names"
        },
    })?;
    for (field, value) in [
        ("serviceTier.type", &keys.service_tier),
        (
            "guardrailConfig.guardrailIdentifier",
            &keys.guardrail_identifier,
        ),
        ("guardrailConfig.guardrailVersion", &keys.guardrail_version),
    ] {
        if let Field::Ambiguous(reason) = value {
            return Err(InputError::AmbiguousField { field, reason }.into());
        }
    }
    refuse_ambiguous_tags(&keys)?;
    for location in &keys.s3_locations {
        let refused = match location {
            S3Location::Uri(uri) if s3.allows(uri) => continue,
            S3Location::Uri(uri) => format!("S3 location {uri:?}"),
            S3Location::Unreadable(why) => format!("an S3 location that {why}"),
        };
        return Err(GuardError::AccessDenied {
            message: format!(
                "User: {} is not allowed to name {refused} in a request: Bedrock would access it with \
                 bedrock-guard's identity, and it is not in this caller's s3_locations",
                caller.principal.arn()
            ),
        });
    }
    Ok(keys)
}

/// Tags become `aws:RequestTag/<key>` and `aws:TagKeys`: every entry needs exactly one readable key
/// and value, and no key may appear twice (which value would Bedrock keep?).
fn refuse_ambiguous_tags(keys: &BodyKeys) -> Result<(), InputError> {
    let ambiguous = |reason| InputError::AmbiguousField {
        field: "tags",
        reason,
    };
    if let Some(reason) = keys.tags_ambiguous {
        return Err(ambiguous(reason));
    }
    for (i, (key, value)) in keys.tags.iter().enumerate() {
        let key = match (key, value) {
            (Field::Ambiguous(reason), _) | (_, Field::Ambiguous(reason)) => {
                return Err(ambiguous(reason))
            }
            (Field::Value(key), Field::Value(_)) => key,
            _ => return Err(ambiguous("has an entry without a key or a value")),
        };
        let repeated = keys.tags[..i]
            .iter()
            .any(|(k, _)| matches!(k, Field::Value(k) if k == key));
        if repeated {
            return Err(ambiguous("names the same key more than once"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn duplicate_parameter_headers_are_refused() {
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: Vec<(Headers, Option<&str>)> = vec![
            (&[("x-amzn-bedrock-service-tier", "flex")], None),
            (
                &[
                    ("x-amzn-bedrock-service-tier", "flex"),
                    ("X-Amzn-Bedrock-Service-Tier", "priority"),
                ],
                Some("x-amzn-bedrock-service-tier"),
            ),
            (
                &[
                    ("x-amzn-bedrock-guardrailidentifier", "a"),
                    ("x-amzn-bedrock-guardrailidentifier", "a"),
                ],
                Some("x-amzn-bedrock-guardrailidentifier"),
            ),
            (
                &[
                    ("content-type", "application/json"),
                    ("content-type", "text/plain"),
                ],
                Some("content-type"),
            ),
            (
                &[("accept", "*/*"), ("accept", "application/json")],
                Some("accept"),
            ),
            // Other headers may repeat: they are not forwarded.
            (
                &[
                    ("x-custom", "1"),
                    ("x-custom", "2"),
                    ("cookie", "a"),
                    ("cookie", "b"),
                ],
                None,
            ),
        ];
        for (pairs, refused) in cases {
            let mut headers = HeaderMap::new();
            for (k, v) in pairs {
                headers.append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            let got = refuse_duplicate_parameters(&headers)
                .err()
                .map(|e| match e {
                    InputError::DuplicateHeader { name } => name,
                    other => panic!("{other}"),
                });
            assert_eq!(got.as_deref(), refused, "{pairs:?}");
        }
    }

    #[test]
    fn request_tags_bedrock_could_read_differently_are_refused() {
        use crate::classify::body::{scan, Want};
        let want = Want {
            request_tags: true,
            ..Want::default()
        };
        let refused = |body: &str| {
            let keys = scan(body.as_bytes(), want).unwrap();
            refuse_ambiguous_tags(&keys).is_err()
        };
        assert!(!refused(
            r#"{"tags":[{"key":"team","value":"ml"},{"key":"cc","value":"1"}]}"#
        ));
        assert!(!refused(r#"{"modelId":"m"}"#));
        for body in [
            r#"{"tags":[{"key":"team","value":"ml"},{"key":"team","value":"ops"}]}"#,
            r#"{"tags":[{"key":"team"}]}"#,
            r#"{"tags":[{"value":"ml"}]}"#,
            r#"{"tags":[{"key":"team","value":"ml","value":"ops"}]}"#,
            r#"{"tags":[{"key":"team","value":1}]}"#,
            r#"{"tags":[],"tags":[{"key":"team","value":"ml"}]}"#,
        ] {
            assert!(refused(body), "{body}");
        }
    }
}
