//! Request-wide condition keys taken from the HTTP request: the client's address, the time, and the
//! Bedrock keys carried by headers or (Converse only) by the JSON body.
//!
//! The body is parsed only when the principal's policies read a body-derived key
//! ([`crate::policy::BODY_KEYS`], compiled once per snapshot), so requests whose policies do not care
//! pay nothing for it.

use std::net::IpAddr;
use std::time::SystemTime;

use http::HeaderMap;

use crate::classify::{partition_for_region, Operation};
use crate::policy::RequestContext;

pub const GUARDRAIL_IDENTIFIER_HEADER: &str = "x-amzn-bedrock-guardrailidentifier";
pub const GUARDRAIL_VERSION_HEADER: &str = "x-amzn-bedrock-guardrailversion";
pub const SERVICE_TIER_HEADER: &str = "x-amzn-bedrock-service-tier";

/// What the keys are built from.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The TCP peer (`aws:SourceIp`); `None` when served without connection info (tests).
    pub client_ip: Option<IpAddr>,
}

/// `aws:SourceIp` for a TCP peer. An IPv4 client reached over a dual-stack socket shows as
/// ::ffff:a.b.c.d; policies name it in IPv4 form.
pub(crate) fn source_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
    .to_string()
}

/// Sets `aws:SourceIp`, `aws:CurrentTime`, `aws:EpochTime`, `aws:SecureTransport` (always `false`:
/// clients speak plain HTTP to the guard), `bedrock:GuardrailIdentifier` and `bedrock:ServiceTier`.
pub fn fill(
    context: &mut RequestContext,
    operation: Operation,
    inbound: &Inbound<'_>,
    read_body: bool,
    region: &str,
    account: Option<&str>,
) {
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
    if converse && read_body {
        if let Ok(body) = serde_json::from_slice::<serde_json::Value>(inbound.body) {
            let guardrail = &body["guardrailConfig"];
            if let Some(id) = guardrail["guardrailIdentifier"].as_str() {
                let version = guardrail["guardrailVersion"].as_str();
                context.set(
                    "bedrock:GuardrailIdentifier",
                    guardrail_key(id, version, region, account),
                );
            }
            if let Some(tier) = body["serviceTier"]["type"].as_str() {
                context.set("bedrock:ServiceTier", tier);
            }
        }
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
                body: body.as_bytes(),
                client_ip: Some("::ffff:10.1.2.3".parse().unwrap()),
            },
            read_body,
            "us-east-1",
            Some("123456789012"),
        );
        context
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
}
