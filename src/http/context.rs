//! Request-wide condition keys taken from the HTTP request: the client's address, the time, and the
//! Bedrock keys carried by headers or (Converse only) by the JSON body.
//!
//! The body is scanned ([`super::inputs::read_body`], fail-closed) only when the principal's policies
//! read a body-derived key ([`crate::policy::BODY_KEYS`], compiled once per snapshot), so requests
//! whose policies do not care pay nothing for it; this module takes what the scan found.

use std::net::IpAddr;
use std::time::SystemTime;

use http::HeaderMap;

use super::inputs::InputError;
use crate::classify::body::{BodyKeys, Field};
use crate::classify::{partition_for_region, Operation};
use crate::policy::RequestContext;

pub const GUARDRAIL_IDENTIFIER_HEADER: &str = "x-amzn-bedrock-guardrailidentifier";
pub const GUARDRAIL_VERSION_HEADER: &str = "x-amzn-bedrock-guardrailversion";
pub const SERVICE_TIER_HEADER: &str = "x-amzn-bedrock-service-tier";

/// What the keys are built from.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub headers: &'a HeaderMap,
    /// What the body says ([`super::inputs::read_body`]); empty when no policy reads it.
    pub body: &'a BodyKeys,
    /// The TCP peer (`aws:SourceIp`); `None` when served without connection info (tests).
    pub client_ip: Option<IpAddr>,
}

/// `aws:SourceIp` for a TCP peer. An IPv4 client reached over a dual-stack socket shows as
/// ::ffff:a.b.c.d; policies name it in IPv4 form.
pub(crate) fn source_ip(ip: IpAddr) -> String {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        // Written by hand: every call sets this key, and `Display` for an address went through the
        // formatting machinery twice (an eighth of the context's cost in callgrind).
        IpAddr::V4(v4) => {
            let mut text = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                if octet >= 100 {
                    text.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    text.push(char::from(b'0' + octet / 10 % 10));
                }
                text.push(char::from(b'0' + octet % 10));
            }
            text
        }
        IpAddr::V6(_) => ip.to_string(),
    }
}

/// Sets `aws:SourceIp`, `aws:CurrentTime`, `aws:EpochTime`, `aws:SecureTransport` (always `false`:
/// clients speak plain HTTP to the guard), `bedrock:GuardrailIdentifier` and `bedrock:ServiceTier`,
/// and for a StartAsyncInvoke body with `tags`: `aws:RequestTag/<key>` and `aws:TagKeys` (the Service
/// Authorization Reference lists both for bedrock:InvokeModel on async-invoke resources).
/// A Converse body and the service-tier header that disagree are refused rather than one picked.
pub fn fill(
    context: &mut RequestContext,
    operation: Operation,
    inbound: &Inbound<'_>,
    region: &str,
    account: Option<&str>,
) -> Result<(), InputError> {
    if let Some(ip) = inbound.client_ip {
        context.set("aws:SourceIp", source_ip(ip));
    }
    context.set_time(SystemTime::now());
    context.set("aws:SecureTransport", "false");

    let header = |name: &str| {
        inbound
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    let converse = matches!(operation, Operation::Converse | Operation::ConverseStream);
    let invoke = matches!(
        operation,
        Operation::InvokeModel | Operation::InvokeModelWithResponseStream
    );
    if invoke {
        if let Some(id) = header(GUARDRAIL_IDENTIFIER_HEADER) {
            let version = header(GUARDRAIL_VERSION_HEADER);
            context.set(
                "bedrock:GuardrailIdentifier",
                guardrail_key(id, version, region, account),
            );
        }
    }
    if let Some(tier) = header(SERVICE_TIER_HEADER) {
        context.set("bedrock:ServiceTier", tier);
    }
    if converse {
        let body = inbound.body;
        if let Field::Value(id) = &body.guardrail_identifier {
            let version = match &body.guardrail_version {
                Field::Value(v) => Some(v.as_str()),
                _ => None,
            };
            context.set(
                "bedrock:GuardrailIdentifier",
                guardrail_key(id, version, region, account),
            );
        }
        if let Field::Value(tier) = &body.service_tier {
            if let Some(header) = header(SERVICE_TIER_HEADER).filter(|h| h != tier) {
                return Err(InputError::ConflictingServiceTier {
                    header: header.to_owned(),
                    body: tier.clone(),
                });
            }
            context.set("bedrock:ServiceTier", tier.as_str());
        }
    }
    if operation == Operation::StartAsyncInvoke {
        set_request_tags(context, &inbound.body.tags);
    }
    Ok(())
}

/// `aws:RequestTag/<key>` for each tag, and `aws:TagKeys` (multi-valued) listing the keys. The scan
/// already refused ambiguous tags; a body without tags sets neither.
fn set_request_tags(context: &mut RequestContext, tags: &[(Field, Field)]) {
    let mut keys = Vec::with_capacity(tags.len());
    for (key, value) in tags {
        if let (Field::Value(key), Field::Value(value)) = (key, value) {
            context.set(format!("aws:RequestTag/{key}"), value.as_str());
            keys.push(key.clone());
        }
    }
    if !keys.is_empty() {
        context.set_many("aws:TagKeys", keys);
    }
}

/// The value of `bedrock:GuardrailIdentifier`: the guardrail ARN, with `:version` when one is given.
/// A bare guardrail id becomes an ARN in the proxy's region and account (left as sent when the account
/// is not known yet).
pub fn guardrail_key(
    id: &str,
    version: Option<&str>,
    region: &str,
    account: Option<&str>,
) -> String {
    let arn = match (id.starts_with("arn:"), account) {
        (true, _) | (false, None) => id.to_owned(),
        (false, Some(account)) => format!(
            "arn:{}:bedrock:{region}:{account}:guardrail/{id}",
            partition_for_region(region)
        ),
    };
    match version {
        Some(v) if !arn.ends_with(&format!(":{v}")) => format!("{arn}:{v}"),
        _ => arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn keys(
        op: Operation,
        headers: &[(&'static str, &str)],
        body: &str,
        read_body: bool,
    ) -> RequestContext {
        try_keys(op, headers, body, read_body).unwrap()
    }

    fn try_keys(
        op: Operation,
        headers: &[(&'static str, &str)],
        body: &str,
        read_body: bool,
    ) -> Result<RequestContext, InputError> {
        let want = crate::classify::body::Want {
            converse_keys: read_body,
            s3_locations: false,
            request_tags: read_body,
        };
        let body = if read_body {
            crate::classify::body::scan(body.as_bytes(), want).unwrap()
        } else {
            BodyKeys::default()
        };
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        let mut context = RequestContext::new();
        fill(
            &mut context,
            op,
            &Inbound {
                headers: &map,
                body: &body,
                client_ip: Some("::ffff:10.1.2.3".parse().unwrap()),
            },
            "us-east-1",
            Some("123456789012"),
        )?;
        Ok(context)
    }

    fn one<'a>(c: &'a RequestContext, key: &str) -> Option<&'a str> {
        c.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    #[test]
    fn headers_on_invoke_and_body_on_converse() {
        let c = keys(
            Operation::InvokeModel,
            &[
                (GUARDRAIL_IDENTIFIER_HEADER, "gr1"),
                (GUARDRAIL_VERSION_HEADER, "2"),
                (SERVICE_TIER_HEADER, "flex"),
            ],
            "",
            false,
        );
        assert_eq!(
            one(&c, "bedrock:GuardrailIdentifier"),
            Some("arn:aws:bedrock:us-east-1:123456789012:guardrail/gr1:2")
        );
        assert_eq!(one(&c, "bedrock:ServiceTier"), Some("flex"));
        assert_eq!(one(&c, "aws:SourceIp"), Some("10.1.2.3"));
        assert_eq!(one(&c, "aws:SecureTransport"), Some("false"));
        assert!(one(&c, "aws:EpochTime").is_some());

        let body = r#"{"guardrailConfig": {"guardrailIdentifier": "arn:aws:bedrock:us-east-1:123456789012:guardrail/g", "guardrailVersion": "DRAFT"}, "serviceTier": {"type": "priority"}}"#;
        let c = keys(Operation::Converse, &[], body, true);
        assert_eq!(
            one(&c, "bedrock:GuardrailIdentifier"),
            Some("arn:aws:bedrock:us-east-1:123456789012:guardrail/g:DRAFT")
        );
        assert_eq!(one(&c, "bedrock:ServiceTier"), Some("priority"));
        // Not parsed when no policy reads it.
        let c = keys(Operation::Converse, &[], body, false);
        assert_eq!(one(&c, "bedrock:GuardrailIdentifier"), None);
    }

    proptest::proptest! {
        /// The hand-written IPv4 text is `Display`'s; mapped IPv6 peers read as IPv4, others as IPv6.
        #[test]
        fn source_ip_is_the_display_text(octets in proptest::array::uniform4(proptest::num::u8::ANY), v6 in proptest::array::uniform8(proptest::num::u16::ANY)) {
            let v4 = std::net::Ipv4Addr::from(octets);
            proptest::prop_assert_eq!(source_ip(IpAddr::V4(v4)), v4.to_string());
            proptest::prop_assert_eq!(source_ip(IpAddr::V6(v4.to_ipv6_mapped())), v4.to_string());
            let v6 = std::net::Ipv6Addr::from(v6);
            let want = v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string());
            proptest::prop_assert_eq!(source_ip(IpAddr::V6(v6)), want);
        }
    }

    #[test]
    fn a_converse_header_and_body_that_disagree_are_refused() {
        let body = r#"{"serviceTier": {"type": "flex"}}"#;
        let same = try_keys(
            Operation::Converse,
            &[(SERVICE_TIER_HEADER, "flex")],
            body,
            true,
        )
        .unwrap();
        assert_eq!(one(&same, "bedrock:ServiceTier"), Some("flex"));
        let err = try_keys(
            Operation::ConverseStream,
            &[(SERVICE_TIER_HEADER, "priority")],
            body,
            true,
        )
        .unwrap_err();
        assert!(
            matches!(err, InputError::ConflictingServiceTier { .. }),
            "{err}"
        );
    }

    #[test]
    fn start_async_invoke_tags_become_request_tags() {
        let body = r#"{"modelId": "amazon.nova-reel-v1:0", "modelInput": {}, "outputDataConfig": {},
            "tags": [{"key": "team", "value": "ml"}, {"key": "cost-center", "value": "42"}]}"#;
        let c = keys(Operation::StartAsyncInvoke, &[], body, true);
        assert_eq!(one(&c, "aws:RequestTag/team"), Some("ml"));
        assert_eq!(one(&c, "aws:requesttag/COST-CENTER"), Some("42"));
        assert_eq!(
            c.get("aws:TagKeys").map(<[String]>::to_vec),
            Some(vec!["team".to_owned(), "cost-center".to_owned()])
        );
        // No tags, not read, or another operation: unset.
        let untagged = r#"{"modelId": "amazon.nova-reel-v1:0"}"#;
        assert_eq!(
            keys(Operation::StartAsyncInvoke, &[], untagged, true).get("aws:TagKeys"),
            None
        );
        assert_eq!(
            keys(Operation::StartAsyncInvoke, &[], body, false).get("aws:TagKeys"),
            None
        );
        assert_eq!(
            keys(Operation::Converse, &[], body, true).get("aws:TagKeys"),
            None
        );
    }
}
