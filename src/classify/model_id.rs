//! Model identifiers: one decoding, one validation, one canonical encoding.
//!
//! The policy decision is taken on [`ModelId::as_str`] and the upstream path is rebuilt from
//! [`ModelId::encoded`], both from the same decoded string. Nothing the client sent is forwarded
//! verbatim, so the model that was authorized is the model that is called. To keep that true the
//! parser is deliberately narrow: one percent-decoding pass, a small charset, no dot segments, and `/`
//! only inside well-formed ARNs. Anything ambiguous is refused rather than guessed at.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::error::ClassifyError;
use super::profiles::BUILTIN_PROFILES;

/// Longest accepted id, decoded (Bedrock's own limit for `modelId`).
pub const MAX_MODEL_ID_LEN: usize = 2048;

/// Everything but RFC 3986 unreserved characters is escaped, as the AWS SDKs do for path labels, so
/// `:` becomes `%3A` and `/` becomes `%2F`.
const PATH_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// ARN partitions Bedrock exists in.
pub(crate) const PARTITIONS: &[&str] = &["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b"];

/// Bedrock resource types that can stand in for `{modelId}`.
const BEDROCK_MODEL_RESOURCE_TYPES: &[&str] = &[
    "foundation-model",
    "inference-profile",
    "application-inference-profile",
    "provisioned-model",
    "custom-model",
    "custom-model-deployment",
    "imported-model",
    "prompt",
    "prompt-router",
    "default-prompt-router",
];

/// Percent-encodes `value` for use as one path segment (or query key/value).
pub(crate) fn encode_component(value: &str) -> String {
    utf8_percent_encode(value, PATH_COMPONENT).to_string()
}

/// Decodes `%XX` escapes exactly once. Malformed escapes are errors, not literal text, because a
/// lenient decoder here and a strict one upstream would read two different ids.
pub(crate) fn percent_decode_strict(raw: &str) -> Result<Vec<u8>, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| hex_value(*b));
            let lo = bytes.get(i + 2).and_then(|b| hex_value(*b));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                _ => {
                    return Err(format!(
                        "invalid percent-escape at byte {i}: '%' must be followed by two hex digits"
                    ))
                }
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The characters an identifier may hold once decoded: what model ids, profile ids and ARNs use,
/// and nothing with a meaning in URLs, paths or policy patterns.
pub(crate) fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'/' | b'+')
}

/// Decodes one path value (model id, guardrail id, invocation ARN) and checks it against the
/// identifier charset. `max_len` bounds the decoded length.
pub(crate) fn decode_identifier(raw: &str, max_len: usize) -> Result<String, String> {
    // Each decoded byte takes at most three raw bytes; refuse before allocating for huge input.
    if raw.len() > max_len.saturating_mul(3) {
        return Err(format!("longer than {max_len} bytes"));
    }
    let decoded = percent_decode_strict(raw)?;
    check_identifier_bytes(&decoded, max_len)?;
    String::from_utf8(decoded).map_err(|_| "not valid UTF-8".to_owned())
}

/// Empty, length and charset checks shared by every identifier.
pub(crate) fn check_identifier_bytes(bytes: &[u8], max_len: usize) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("empty".to_owned());
    }
    if bytes.len() > max_len {
        return Err(format!("longer than {max_len} bytes"));
    }
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' {
            // A '%' that survives one decoding pass means the client encoded twice (`%253A`); an
            // upstream that decodes again would see a different id than the one authorized.
            return Err(format!(
                "contains '%' after decoding (byte {i}): the id looks percent-encoded twice"
            ));
        }
        if !is_id_byte(b) {
            return Err(format!(
                "byte 0x{b:02X} at offset {i} is outside the allowed characters A-Z a-z 0-9 . - _ : / +"
            ));
        }
    }
    Ok(())
}

/// Rejects empty, `.` and `..` segments: they are normalized away by some HTTP stacks and not by
/// others, which would let the path that is authorized differ from the path that is served.
pub(crate) fn check_segments(id: &str) -> Result<(), String> {
    for segment in id.split('/') {
        match segment {
            "" => {
                return Err(
                    "contains an empty path segment ('//', or a leading or trailing '/')"
                        .to_owned(),
                )
            }
            "." | ".." => return Err("contains a '.' or '..' path segment".to_owned()),
            _ => {}
        }
    }
    Ok(())
}

/// The six fields of an ARN, checked for shape only (each caller checks service and type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArnParts<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    /// Empty (foundation models) or twelve digits.
    pub account: &'a str,
    pub resource_type: &'a str,
    /// Everything after `{resource_type}/`; may contain further `/` and `:`.
    pub resource_id: &'a str,
}

impl<'a> ArnParts<'a> {
    pub(crate) fn parse(arn: &'a str) -> Result<Self, String> {
        let rest = arn
            .strip_prefix("arn:")
            .ok_or_else(|| "an ARN must start with 'arn:'".to_owned())?;
        let mut fields = rest.splitn(5, ':');
        let mut next = || fields.next().unwrap_or("");
        let (partition, service, region, account, resource) =
            (next(), next(), next(), next(), next());
        if !PARTITIONS.contains(&partition) {
            return Err(format!(
                "ARN partition must be one of {}",
                PARTITIONS.join(", ")
            ));
        }
        if service.is_empty()
            || !service
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("ARN service is missing or malformed".to_owned());
        }
        if region.is_empty()
            || region.len() > 32
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("ARN region is missing or malformed".to_owned());
        }
        if !(account.is_empty() || is_account_id(account)) {
            return Err("ARN account must be empty or twelve digits".to_owned());
        }
        let (resource_type, resource_id) = resource
            .split_once('/')
            .ok_or_else(|| "ARN resource must be '{type}/{id}'".to_owned())?;
        if resource_type.is_empty()
            || !resource_type
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-')
        {
            return Err("ARN resource type is missing or malformed".to_owned());
        }
        if resource_id.is_empty() {
            return Err("ARN resource id is empty".to_owned());
        }
        Ok(ArnParts {
            partition,
            service,
            region,
            account,
            resource_type,
            resource_id,
        })
    }
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// What kind of thing a [`ModelId`] names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelIdKind {
    /// A plain foundation model id (`anthropic.claude-3-haiku-20240307-v1:0`).
    FoundationModel,
    /// A system-defined cross-region inference profile id (`us.anthropic...`, `global.anthropic...`).
    InferenceProfile { prefix: String },
    /// A full ARN; `resource_type` is `foundation-model`, `inference-profile`, `endpoint`, ...
    Arn { resource_type: String },
}

/// A decoded, validated model identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelId {
    id: String,
    kind: ModelIdKind,
}

impl ModelId {
    /// Parses what sat between `/model/` and `/{operation}` in the wire path: percent-encoded
    /// (`%3A`, `%2F`, as the SDKs send it) or with raw `:` and `/`. Decodes exactly once.
    pub fn from_path_segment(raw: &str) -> Result<ModelId, ClassifyError> {
        let id =
            decode_identifier(raw, MAX_MODEL_ID_LEN).map_err(ClassifyError::invalid_model_id)?;
        Self::from_decoded(&id)
    }

    /// Validates an id that is already decoded (for example the `modelId` of a JSON body).
    pub fn from_decoded(id: &str) -> Result<ModelId, ClassifyError> {
        check_identifier_bytes(id.as_bytes(), MAX_MODEL_ID_LEN)
            .map_err(ClassifyError::invalid_model_id)?;
        check_segments(id).map_err(ClassifyError::invalid_model_id)?;
        let kind = if id.starts_with("arn:") {
            model_arn_kind(id)?
        } else {
            if id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("arn:")) {
                // Some services read ARNs case-insensitively; an "ARN:" that is not parsed as one
                // would be authorized as a plain id.
                return Err(ClassifyError::invalid_model_id(
                    "ARNs must start with lowercase 'arn:'",
                ));
            }
            if id.contains('/') {
                return Err(ClassifyError::invalid_model_id(
                    "only ARNs may contain '/' (raw or as %2F)",
                ));
            }
            plain_kind(id)?
        };
        Ok(ModelId {
            id: id.to_owned(),
            kind,
        })
    }

    /// The decoded id: what policies are evaluated against.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The canonical path segment for the upstream request: every byte but `A-Z a-z 0-9 - . _ ~`
    /// percent-encoded.
    pub fn encoded(&self) -> String {
        encode_component(&self.id)
    }

    /// The kind of id. Profile prefixes are recognized from the built-in table only; a prefix added in
    /// the configuration is honoured by `resource_checks`, which consults the configured table.
    pub fn kind(&self) -> ModelIdKind {
        self.kind.clone()
    }

    pub(crate) fn is_arn(&self) -> bool {
        matches!(self.kind, ModelIdKind::Arn { .. })
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

fn plain_kind(id: &str) -> Result<ModelIdKind, ClassifyError> {
    let Some((label, model)) = id.split_once('.') else {
        return Ok(ModelIdKind::FoundationModel);
    };
    if let Some((prefix, _)) = BUILTIN_PROFILES.iter().find(|(p, _)| *p == label) {
        if model.is_empty() {
            return Err(ClassifyError::invalid_model_id(format!(
                "inference profile id '{prefix}.' names no model"
            )));
        }
        return Ok(ModelIdKind::InferenceProfile {
            prefix: (*prefix).to_owned(),
        });
    }
    check_prefix_case(label, BUILTIN_PROFILES.iter().map(|(p, _)| *p))?;
    Ok(ModelIdKind::FoundationModel)
}

/// Refuses `US.model` and the like: it is not the `us` profile here, but a service that compares
/// case-insensitively would route it as one while policies saw a foundation model.
pub(crate) fn check_prefix_case<'p>(
    label: &str,
    prefixes: impl IntoIterator<Item = &'p str>,
) -> Result<(), ClassifyError> {
    match prefixes
        .into_iter()
        .find(|p| *p != label && p.eq_ignore_ascii_case(label))
    {
        Some(prefix) => Err(ClassifyError::invalid_model_id(format!(
            "'{label}.' differs from the inference profile prefix '{prefix}.' only in case"
        ))),
        None => Ok(()),
    }
}

fn model_arn_kind(id: &str) -> Result<ModelIdKind, ClassifyError> {
    let arn = ArnParts::parse(id).map_err(ClassifyError::invalid_model_id)?;
    let type_ok = match arn.service {
        "bedrock" => BEDROCK_MODEL_RESOURCE_TYPES.contains(&arn.resource_type),
        "sagemaker" => arn.resource_type == "endpoint",
        _ => {
            return Err(ClassifyError::invalid_model_id(
                "a model ARN must be a bedrock or sagemaker ARN",
            ))
        }
    };
    if !type_ok {
        return Err(ClassifyError::invalid_model_id(format!(
            "'{}' is not a {} resource type that can be invoked",
            arn.resource_type, arn.service
        )));
    }
    // Foundation models are the one account-less resource; accepting an account there would give
    // an ARN that deny statements written for `...::foundation-model/...` do not match.
    if arn.resource_type == "foundation-model" {
        if !arn.account.is_empty() {
            return Err(ClassifyError::invalid_model_id(
                "a foundation-model ARN has an empty account field",
            ));
        }
        if arn.resource_id.contains('/') {
            return Err(ClassifyError::invalid_model_id(
                "a foundation-model ARN names one model",
            ));
        }
    } else if arn.account.is_empty() {
        return Err(ClassifyError::invalid_model_id(format!(
            "an ARN of type {} needs a twelve-digit account id",
            arn.resource_type
        )));
    }
    if arn.resource_type == "inference-profile" {
        let well_formed = !arn.resource_id.contains('/')
            && arn
                .resource_id
                .split_once('.')
                .is_some_and(|(prefix, model)| !prefix.is_empty() && !model.is_empty());
        if !well_formed {
            return Err(ClassifyError::invalid_model_id(
                "an inference-profile ARN must end in '/{prefix}.{model}'",
            ));
        }
    }
    Ok(ModelIdKind::Arn {
        resource_type: arn.resource_type.to_owned(),
    })
}

/// The one field of a StartAsyncInvoke body that classification needs. Other fields are skipped.
#[derive(Deserialize)]
struct AsyncInvokeBody {
    #[serde(rename = "modelId")]
    model_id: String,
}

/// StartAsyncInvoke: the model id from the JSON body (`modelId` field), validated like a path id.
///
/// The body must be one JSON object; a duplicated `modelId` is an error (serde reports it), since
/// the upstream might read the other copy.
pub fn model_id_from_async_body(body: &[u8]) -> Result<ModelId, ClassifyError> {
    // Derived struct deserializers also accept JSON arrays; only an object is a valid request.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ClassifyError::invalid_request(
            "StartAsyncInvoke body must be a JSON object",
        ));
    }
    let parsed: AsyncInvokeBody = serde_json::from_slice(body)
        .map_err(|e| ClassifyError::invalid_request(format!("StartAsyncInvoke body: {e}")))?;
    ModelId::from_decoded(&parsed.model_id)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(raw: &str) -> ModelId {
        match ModelId::from_path_segment(raw) {
            Ok(id) => id,
            Err(e) => panic!("{raw:?} rejected: {e}"),
        }
    }

    fn fm() -> ModelIdKind {
        ModelIdKind::FoundationModel
    }
    fn profile(p: &str) -> ModelIdKind {
        ModelIdKind::InferenceProfile { prefix: p.into() }
    }
    fn arn(t: &str) -> ModelIdKind {
        ModelIdKind::Arn {
            resource_type: t.into(),
        }
    }

    #[test]
    fn accepted_ids_decode_classify_and_reencode() {
        // (wire segment, decoded id, kind, canonical segment)
        let cases: Vec<(&str, &str, ModelIdKind, &str)> = vec![
            (
                "anthropic.claude-3-haiku-20240307-v1%3A0",
                "anthropic.claude-3-haiku-20240307-v1:0",
                fm(),
                "anthropic.claude-3-haiku-20240307-v1%3A0",
            ),
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                "anthropic.claude-3-haiku-20240307-v1:0",
                fm(),
                "anthropic.claude-3-haiku-20240307-v1%3A0",
            ),
            (
                "anthropic.claude-3-haiku-20240307-v1%3a0",
                "anthropic.claude-3-haiku-20240307-v1:0",
                fm(),
                "anthropic.claude-3-haiku-20240307-v1%3A0",
            ),
            ("amazon.titan-embed-text-v1", "amazon.titan-embed-text-v1", fm(), "amazon.titan-embed-text-v1"),
            ("meta.llama3-8b-instruct-v1%3A0", "meta.llama3-8b-instruct-v1:0", fm(), "meta.llama3-8b-instruct-v1%3A0"),
            ("cohere.embed-english-v3", "cohere.embed-english-v3", fm(), "cohere.embed-english-v3"),
            ("my_model+x", "my_model+x", fm(), "my_model%2Bx"),
            ("unknownprefix.model", "unknownprefix.model", fm(), "unknownprefix.model"),
            ("us.anthropic.claude-sonnet-4-5-20250929-v1%3A0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", profile("us"), "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"),
            ("us-gov.anthropic.claude-3-haiku-20240307-v1:0", "us-gov.anthropic.claude-3-haiku-20240307-v1:0", profile("us-gov"), "us-gov.anthropic.claude-3-haiku-20240307-v1%3A0"),
            ("eu.amazon.nova-pro-v1%3A0", "eu.amazon.nova-pro-v1:0", profile("eu"), "eu.amazon.nova-pro-v1%3A0"),
            ("apac.amazon.nova-lite-v1%3A0", "apac.amazon.nova-lite-v1:0", profile("apac"), "apac.amazon.nova-lite-v1%3A0"),
            ("jp.anthropic.claude-sonnet-4-5-20250929-v1%3A0", "jp.anthropic.claude-sonnet-4-5-20250929-v1:0", profile("jp"), "jp.anthropic.claude-sonnet-4-5-20250929-v1%3A0"),
            ("au.anthropic.claude-sonnet-4-5-20250929-v1%3A0", "au.anthropic.claude-sonnet-4-5-20250929-v1:0", profile("au"), "au.anthropic.claude-sonnet-4-5-20250929-v1%3A0"),
            ("ca.amazon.nova-lite-v1%3A0", "ca.amazon.nova-lite-v1:0", profile("ca"), "ca.amazon.nova-lite-v1%3A0"),
            ("global.anthropic.claude-sonnet-4-5-20250929-v1%3A0", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", profile("global"), "global.anthropic.claude-sonnet-4-5-20250929-v1%3A0"),
            (
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fanthropic.claude-3-haiku-20240307-v1%3A0",
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
                arn("foundation-model"),
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fanthropic.claude-3-haiku-20240307-v1%3A0",
            ),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
                arn("foundation-model"),
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fanthropic.claude-3-haiku-20240307-v1%3A0",
            ),
            (
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0",
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
                arn("inference-profile"),
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdef123456",
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdef123456",
                arn("application-inference-profile"),
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabcdef123456",
            ),
            (
                "arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Aprovisioned-model%2Fabcdef123456",
                "arn:aws:bedrock:us-west-2:123456789012:provisioned-model/abcdef123456",
                arn("provisioned-model"),
                "arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Aprovisioned-model%2Fabcdef123456",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abcdef123456",
                "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abcdef123456",
                arn("custom-model"),
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Acustom-model%2Famazon.titan-text-express-v1%3A0%3A8k%2Fabcdef123456",
            ),
            (
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Acustom-model-deployment%2Fabc123",
                "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc123",
                arn("custom-model-deployment"),
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Acustom-model-deployment%2Fabc123",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc123xyz",
                "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc123xyz",
                arn("imported-model"),
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aimported-model%2Fabc123xyz",
            ),
            (
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aprompt%2FPROMPT12345%3A1",
                "arn:aws:bedrock:us-east-1:123456789012:prompt/PROMPT12345:1",
                arn("prompt"),
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aprompt%2FPROMPT12345%3A1",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:prompt-router/abc123",
                "arn:aws:bedrock:us-east-1:123456789012:prompt-router/abc123",
                arn("prompt-router"),
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aprompt-router%2Fabc123",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1",
                "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1",
                arn("default-prompt-router"),
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Adefault-prompt-router%2Fanthropic.claude%3A1",
            ),
            (
                "arn%3Aaws%3Asagemaker%3Aus-east-1%3A123456789012%3Aendpoint%2Fmy-endpoint",
                "arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-endpoint",
                arn("endpoint"),
                "arn%3Aaws%3Asagemaker%3Aus-east-1%3A123456789012%3Aendpoint%2Fmy-endpoint",
            ),
            (
                "arn:aws-cn:bedrock:cn-north-1::foundation-model/amazon.nova-lite-v1:0",
                "arn:aws-cn:bedrock:cn-north-1::foundation-model/amazon.nova-lite-v1:0",
                arn("foundation-model"),
                "arn%3Aaws-cn%3Abedrock%3Acn-north-1%3A%3Afoundation-model%2Famazon.nova-lite-v1%3A0",
            ),
            (
                "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/us-gov.anthropic.claude-3-haiku-20240307-v1:0",
                "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/us-gov.anthropic.claude-3-haiku-20240307-v1:0",
                arn("inference-profile"),
                "arn%3Aaws-us-gov%3Abedrock%3Aus-gov-west-1%3A123456789012%3Ainference-profile%2Fus-gov.anthropic.claude-3-haiku-20240307-v1%3A0",
            ),
            // Mixed raw and encoded separators decode to the same ARN.
            (
                "arn:aws:bedrock:us-east-1%3A123456789012:imported-model%2Fabc123xyz",
                "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc123xyz",
                arn("imported-model"),
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aimported-model%2Fabc123xyz",
            ),
        ];
        for (raw, decoded, kind, canonical) in cases {
            let id = ok(raw);
            assert_eq!(id.as_str(), decoded, "{raw}");
            assert_eq!(id.kind(), kind, "{raw}");
            assert_eq!(id.encoded(), canonical, "{raw}");
            assert_eq!(ModelId::from_decoded(decoded).as_ref(), Ok(&id), "{raw}");
            assert_eq!(
                ModelId::from_path_segment(canonical).as_ref(),
                Ok(&id),
                "{raw}"
            );
        }
    }

    #[test]
    fn hostile_and_malformed_ids_are_rejected() {
        let long_ok = "a".repeat(MAX_MODEL_ID_LEN);
        assert!(ModelId::from_path_segment(&long_ok).is_ok());
        let too_long = "a".repeat(MAX_MODEL_ID_LEN + 1);
        let too_long_encoded = "%61".repeat(MAX_MODEL_ID_LEN + 1);
        let huge = "a".repeat(100_000);
        let cases: Vec<(&str, &str)> = vec![
            ("", "empty"),
            (&too_long, "longer than"),
            (&too_long_encoded, "longer than"),
            (&huge, "longer than"),
            ("anthropic%zzclaude", "percent-escape"),
            ("anthropic.claude%4", "percent-escape"),
            ("anthropic.claude%", "percent-escape"),
            ("anthropic.claude-v1%253A0", "encoded twice"),
            ("%252F", "encoded twice"),
            ("a%25", "encoded twice"),
            ("..", "'..'"),
            (".", "'.'"),
            ("%2e%2e", "'..'"),
            ("%2E", "'.'"),
            ("anthropic%2Fclaude", "only ARNs"),
            ("anthropic/claude", "only ARNs"),
            ("anthropic.claude%00", "0x00"),
            ("anthropic.claude%0a", "0x0A"),
            ("anthropic.claude%0D", "0x0D"),
            ("anthropic.claude%3F", "0x3F"),
            ("anthropic.claude?x=1", "0x3F"),
            ("anthropic.claude%23", "0x23"),
            ("anthropic.claude#x", "0x23"),
            ("anthropic%5Cclaude", "0x5C"),
            ("anthropic\\claude", "0x5C"),
            ("anthropic claude", "0x20"),
            ("anthropic%20claude", "0x20"),
            ("anthropic.claude~1", "0x7E"),
            ("anthropic.claud\u{e9}", "0xC3"),
            ("anthropic.claud%C3%A9", "0xC3"),
            ("\u{ff0e}\u{ff0e}", "0xEF"),
            ("anthropic.claude;x", "0x3B"),
            ("anthropic.claude*", "0x2A"),
            ("us.", "names no model"),
            ("US.anthropic.claude-v1", "only in case"),
            ("Global.anthropic.claude-v1", "only in case"),
            (
                "ARN:aws:bedrock:us-east-1::foundation-model/x.y",
                "lowercase 'arn:'",
            ),
            ("Arn%3Aaws", "lowercase 'arn:'"),
            // Dot segments and empty segments inside ARNs, raw and encoded.
            ("arn:aws:bedrock:us-east-1::foundation-model/..", "'..'"),
            ("arn:aws:bedrock:us-east-1::foundation-model/%2e%2e", "'..'"),
            (
                "arn:aws:bedrock:us-east-1:123456789012:custom-model/a/../b",
                "'..'",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:custom-model/a/./b",
                "'.'",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:custom-model/a//b",
                "empty path segment",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:custom-model/a%2F%2Fb",
                "empty path segment",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:imported-model/x/",
                "empty path segment",
            ),
            ("/anthropic.claude", "empty path segment"),
            // Malformed ARNs.
            ("arn:aws", "service"),
            (
                "arn:aws-xx:bedrock:us-east-1::foundation-model/a.b",
                "partition",
            ),
            ("arn::bedrock:us-east-1::foundation-model/a.b", "partition"),
            (
                "arn:aws:s3:us-east-1::foundation-model/a.b",
                "bedrock or sagemaker",
            ),
            ("arn:aws:BEDROCK:us-east-1::foundation-model/a.b", "service"),
            ("arn:aws:bedrock:US-EAST-1::foundation-model/a.b", "region"),
            ("arn:aws:bedrock:::foundation-model/a.b", "region"),
            (
                "arn:aws:bedrock:us-east-1:123:inference-profile/us.a.b",
                "twelve digits",
            ),
            (
                "arn:aws:bedrock:us-east-1:12345678901a:inference-profile/us.a.b",
                "twelve digits",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:foundation-model/a.b",
                "empty account",
            ),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/a.b/c",
                "names one model",
            ),
            (
                "arn:aws:bedrock:us-east-1::inference-profile/us.a.b",
                "twelve-digit account",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc",
                "resource type",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc",
                "resource type",
            ),
            (
                "arn:aws:sagemaker:us-east-1:123456789012:model/abc",
                "resource type",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/usmodel",
                "'/{prefix}.{model}'",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.",
                "'/{prefix}.{model}'",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.a/b",
                "'/{prefix}.{model}'",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:imported-model",
                "'{type}/{id}'",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:/abc",
                "resource type",
            ),
        ];
        for (raw, expected) in cases {
            match ModelId::from_path_segment(raw) {
                Err(ClassifyError::InvalidModelId { reason }) => {
                    assert!(
                        reason.contains(expected),
                        "{raw:?}: {reason:?} lacks {expected:?}"
                    )
                }
                other => panic!("{raw:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn from_decoded_does_not_decode_again() {
        // A literal "%3A" in a JSON body is not a colon: it is rejected, never silently decoded.
        assert!(ModelId::from_decoded("anthropic.claude-v1%3A0").is_err());
        assert!(ModelId::from_decoded("anthropic.claude-v1:0").is_ok());
    }

    #[test]
    fn async_body_model_id() {
        let id = model_id_from_async_body(
            br#"{"modelId":"amazon.nova-reel-v1:0","modelInput":{"x":[1,2]},"outputDataConfig":{}}"#,
        );
        assert_eq!(
            id.map(|i| i.as_str().to_owned()),
            Ok("amazon.nova-reel-v1:0".to_owned())
        );
        let escaped = model_id_from_async_body(br#" {"model\u0049d":"us.amazon.nova-reel-v1:0"}"#);
        assert_eq!(
            escaped.map(|i| i.kind()),
            Ok(ModelIdKind::InferenceProfile {
                prefix: "us".into()
            })
        );

        let bad: &[(&[u8], bool)] = &[
            (b"", false),
            (b"not json", false),
            (br#"["amazon.nova-reel-v1:0"]"#, false),
            (br#"{"modelInput":{}}"#, false),
            (br#"{"modelId":5}"#, false),
            (br#"{"modelId":"a.b","modelId":"c.d"}"#, false),
            (br#"{"modelId":"a.b","model\u0049d":"c.d"}"#, false),
            (br#"{"modelId":"a.b"} trailing"#, false),
            (br#"{"modelId":"a.b""#, false),
            (br#"{"modelId":"a%3Ab"}"#, true),
            (br#"{"modelId":"../x"}"#, true),
            (br#"{"modelId":""}"#, true),
            (br#"{"modelId":"a\u0000b"}"#, true),
        ];
        for (body, is_model_error) in bad {
            match model_id_from_async_body(body) {
                Err(ClassifyError::InvalidModelId { .. }) if *is_model_error => {}
                Err(ClassifyError::InvalidRequest { .. }) if !*is_model_error => {}
                other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }

    #[test]
    fn arn_parts() {
        let parts =
            ArnParts::parse("arn:aws:bedrock:us-east-1:123456789012:custom-model/a.b:0/xyz");
        assert_eq!(
            parts,
            Ok(ArnParts {
                partition: "aws",
                service: "bedrock",
                region: "us-east-1",
                account: "123456789012",
                resource_type: "custom-model",
                resource_id: "a.b:0/xyz",
            })
        );
    }

    /// Ids of every accepted shape, built from realistic parts.
    pub(crate) fn valid_id() -> impl Strategy<Value = String> {
        let label = "[a-z0-9][a-z0-9-]{0,15}";
        let fm = (label, label, proptest::option::of("[0-9]{1,2}")).prop_map(|(p, m, v)| match v {
            Some(v) => format!("{p}.{m}-v1:{v}"),
            None => format!("{p}.{m}"),
        });
        let prefix = prop::sample::select(vec![
            "us", "us-gov", "eu", "apac", "jp", "au", "ca", "global",
        ]);
        let partition = prop::sample::select(PARTITIONS.to_vec());
        let region = prop::sample::select(vec![
            "us-east-1",
            "eu-west-3",
            "cn-north-1",
            "us-gov-west-1",
        ]);
        let account = "[0-9]{12}";
        let typ = prop::sample::select(vec![
            "application-inference-profile",
            "provisioned-model",
            "custom-model",
            "custom-model-deployment",
            "imported-model",
            "prompt",
            "prompt-router",
            "default-prompt-router",
        ]);
        prop_oneof![
            fm.clone(),
            (prefix.clone(), fm.clone()).prop_map(|(p, m)| format!("{p}.{m}")),
            (partition.clone(), region.clone(), fm.clone())
                .prop_map(|(pa, r, m)| format!("arn:{pa}:bedrock:{r}::foundation-model/{m}")),
            (
                partition.clone(),
                region.clone(),
                account,
                prefix,
                fm.clone()
            )
                .prop_map(|(pa, r, a, p, m)| format!(
                    "arn:{pa}:bedrock:{r}:{a}:inference-profile/{p}.{m}"
                )),
            (
                partition.clone(),
                region.clone(),
                account,
                typ,
                "[A-Za-z0-9_+:-]{1,12}(/[a-z0-9]{1,12})?"
            )
                .prop_map(|(pa, r, a, t, rest)| format!("arn:{pa}:bedrock:{r}:{a}:{t}/{rest}")),
            (partition, region, account, "[a-zA-Z0-9-]{1,20}")
                .prop_map(|(pa, r, a, e)| format!("arn:{pa}:sagemaker:{r}:{a}:endpoint/{e}")),
            // Anything from the charset that happens to validate.
            "[A-Za-z0-9._:+-]{1,40}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn valid_ids_round_trip(raw in valid_id()) {
            let Ok(id) = ModelId::from_decoded(&raw) else {
                // Only the catch-all charset strategy may produce invalid ids ("..", "US.x", ...).
                return Ok(());
            };
            let encoded = id.encoded();
            let again = ModelId::from_path_segment(&encoded);
            prop_assert_eq!(again.as_ref(), Ok(&id));
            prop_assert_eq!(again.map(|a| a.encoded()), Ok(encoded.clone()));
            // Raw ':' and '/' are accepted too and mean the same id.
            prop_assert_eq!(ModelId::from_path_segment(&raw), Ok(id));
        }

        #[test]
        fn arbitrary_segments_never_yield_unsafe_ids(
            raw in prop_oneof![
                any::<String>(),
                "[%0-9a-fA-F./:?#\\\\ A-Za-z_+~-]{0,40}",
                "(%[0-9a-fA-F]{2}|[a-z.:/%])*",
            ]
        ) {
            if let Ok(id) = ModelId::from_path_segment(&raw) {
                prop_assert!(id.as_str().bytes().all(is_id_byte));
                let enc = id.encoded();
                let b = enc.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    prop_assert!(!matches!(b[i], b'/' | b'?' | b'#'), "{}", enc);
                    if b[i] == b'%' {
                        prop_assert!(b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit(), "{}", enc);
                        i += 3;
                    } else {
                        prop_assert!(b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b'.' | b'_' | b'~'), "{}", enc);
                        i += 1;
                    }
                }
                prop_assert_eq!(ModelId::from_path_segment(&enc), Ok(id));
            }
        }
    }
}
