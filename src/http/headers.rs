//! Which headers cross the proxy. Requests use an allowlist: only Bedrock's parameter headers go
//! upstream, so the client's Authorization, X-Amz-* signing headers, bearer or gateway keys and
//! hop-by-hop headers can never leak to AWS. Responses pass through except hop-by-hop headers.

use http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};

/// Prefix of Bedrock's own parameter headers (`X-Amzn-Bedrock-Accept`, `-Trace`, `-GuardrailIdentifier`,
/// `-GuardrailVersion`, `-PerformanceConfig-Latency`, `-Service-Tier`, `-Request-Metadata`, ...).
pub(crate) const BEDROCK_PARAMETER_PREFIX: &str = "x-amzn-bedrock-";

/// RFC 9110 section 7.6.1 plus the de-facto ones; never forwarded in either direction.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

#[derive(Debug, thiserror::Error)]
#[error("header {name} must be visible ASCII text")]
pub struct InvalidHeader {
    pub name: String,
}

/// The client headers that go upstream (and are signed). Values must be visible ASCII, since they are
/// signed as text.
pub fn forwardable_request_headers(
    client: &HeaderMap,
) -> Result<Vec<(HeaderName, HeaderValue)>, InvalidHeader> {
    let mut out = Vec::with_capacity(4);
    for (name, value) in client {
        let keep = name == CONTENT_TYPE
            || name == ACCEPT
            || name.as_str().starts_with(BEDROCK_PARAMETER_PREFIX);
        if !keep {
            continue;
        }
        if value.to_str().is_err() {
            return Err(InvalidHeader {
                name: name.as_str().to_owned(),
            });
        }
        out.push((name.clone(), value.clone()));
    }
    Ok(out)
}

/// The upstream response headers made the client's, in place: everything but hop-by-hop headers
/// (rarely there: hyper keeps `transfer-encoding` and `connection` to itself), so `x-amzn-RequestId`,
/// `x-amzn-ErrorType` and the `X-Amzn-Bedrock-*` token counts arrive unchanged, without a copy.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if !headers
        .keys()
        .any(|name| HOP_BY_HOP.contains(&name.as_str()))
    {
        return;
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn only_bedrock_parameters_go_upstream() {
        let client = map(&[
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDCLIENT/...",
            ),
            ("x-amz-date", "20250101T000000Z"),
            ("x-amz-security-token", "client-token"),
            ("x-amz-content-sha256", "abc"),
            ("x-api-key", "gateway-key"),
            ("connection", "keep-alive"),
            ("cookie", "a=b"),
            ("host", "127.0.0.1:8787"),
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("x-amzn-bedrock-trace", "ENABLED"),
            ("X-Amzn-Bedrock-GuardrailIdentifier", "gr-1"),
            ("x-amzn-bedrock-service-tier", "priority"),
        ]);
        let kept: Vec<String> = forwardable_request_headers(&client)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n.as_str().to_owned())
            .collect();
        assert_eq!(
            kept,
            [
                "content-type",
                "accept",
                "x-amzn-bedrock-trace",
                "x-amzn-bedrock-guardrailidentifier",
                "x-amzn-bedrock-service-tier"
            ]
        );
    }

    #[test]
    fn non_text_parameter_values_are_refused() {
        let mut m = HeaderMap::new();
        m.insert(
            "x-amzn-bedrock-trace",
            HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        assert!(forwardable_request_headers(&m).is_err());
    }

    #[test]
    fn responses_lose_only_hop_by_hop_headers() {
        let upstream = map(&[
            ("x-amzn-requestid", "r-1"),
            ("x-amzn-bedrock-input-token-count", "5"),
            ("content-type", "application/vnd.amazon.eventstream"),
            ("connection", "close"),
            ("transfer-encoding", "chunked"),
        ]);
        let mut out = upstream;
        strip_hop_by_hop(&mut out);
        assert_eq!(out.len(), 3);
        assert!(out.get("connection").is_none());
        assert!(out.get("transfer-encoding").is_none());
        assert_eq!(out["x-amzn-requestid"], "r-1");
        // A map without any is left alone.
        let mut clean = out.clone();
        strip_hop_by_hop(&mut clean);
        assert_eq!(clean, out);
    }
}
