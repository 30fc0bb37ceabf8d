//! Verifying SigV4 signatures of clients that hold gateway-issued access keys.
//!
//! The expected signature is computed over exactly the headers the client says it signed (HTTP/2's
//! `:authority` standing for `host`, as AWS accepts), at the client's own timestamp, with the secret
//! the gateway issued; then compared in constant time. The head is checked before the body is read
//! ([`check_head`]); the signature, which covers the payload, once it is in
//! ([`PendingSignature::verify`]). The payload hash is always computed from the body received, so an
//! unsigned or tampered payload fails.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::HeaderMap;

use super::api_key::constant_time_eq;
use super::canonical;
use super::{AuthError, Principal};
use crate::aws::SIGNING_NAME;
use crate::calendar::{days_from_civil, UtcDateTime};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// HTTP/2's host pseudo-header, as SigV4 clients name it in `SignedHeaders`.
const AUTHORITY: &str = ":authority";

/// A gateway-issued secret; never printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Default)]
pub struct AccessKeys {
    by_id: HashMap<String, (Secret, Arc<Principal>)>,
}

impl AccessKeys {
    pub fn insert(&mut self, access_key_id: String, secret: Secret, principal: Arc<Principal>) {
        self.by_id.insert(access_key_id, (secret, principal));
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn contains(&self, access_key_id: &str) -> bool {
        self.by_id.contains_key(access_key_id)
    }
}

/// What the request carried, as received.
#[derive(Debug, Clone, Copy)]
pub struct IncomingRequest<'a> {
    pub head: RequestHead<'a>,
    pub body: &'a [u8],
}

/// The request before its body: all that authentication needs except a SigV4 payload hash.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// Raw path, still percent-encoded, as on the wire.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// HTTP/2's `:authority` (the request URI's authority); `None` over HTTP/1.1, where the host is
    /// the `Host` header.
    pub authority: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, PartialEq, Eq)]
struct ParsedAuthorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

pub fn is_sigv4(authorization: &str) -> bool {
    authorization.starts_with(ALGORITHM)
}

/// A signature whose head checks passed (known key, scope, date, skew, signed headers present); the
/// signature itself covers the payload, so it is computed once the body is in.
#[derive(Debug)]
pub struct PendingSignature {
    principal: Arc<Principal>,
    secret: Secret,
    region: String,
    service: String,
    date: String,
    amz_date: String,
    signed_at: SystemTime,
    method: String,
    path: String,
    query: Option<String>,
    /// The signed headers with their values as received, sorted by name (as SigV4 orders them).
    signed: Vec<(String, String)>,
    signature: String,
}

impl PendingSignature {
    /// The region the client signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The principal the access key belongs to (proven only once [`PendingSignature::verify`] passes).
    pub fn principal(&self) -> &Arc<Principal> {
        &self.principal
    }

    /// Computes the signature over the head and `body`; returns the principal and the region.
    pub fn verify(self, body: &[u8]) -> Result<(Arc<Principal>, String), AuthError> {
        let signed: Vec<(&str, &str)> = self
            .signed
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let canonical = canonical::canonical_request(
            &self.method,
            &self.path,
            self.query.as_deref(),
            &signed,
            body,
        );
        let scope = format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        );
        let string_to_sign = canonical::string_to_sign(&self.amz_date, &scope, &canonical);
        let key =
            v4::generate_signing_key(&self.secret.0, self.signed_at, &self.region, &self.service);
        let expected = v4::calculate_signature(key, string_to_sign.as_bytes());
        if !constant_time_eq(expected.as_bytes(), self.signature.as_bytes()) {
            return Err(AuthError::InvalidSignature(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".to_owned(),
            ));
        }
        Ok((self.principal, self.region))
    }
}

/// Verifies the request; returns the principal and the region the client signed for.
pub fn verify(
    keys: &AccessKeys,
    request: &IncomingRequest<'_>,
    authorization: &str,
    max_skew: Duration,
    now: SystemTime,
) -> Result<(Arc<Principal>, String), AuthError> {
    check_head(keys, &request.head, authorization, max_skew, now)?.verify(request.body)
}

/// Everything about a SigV4 request that the head decides: an unknown key, a wrong scope, a stale
/// date or a missing signed header is refused before a byte of the body is read.
pub fn check_head(
    keys: &AccessKeys,
    request: &RequestHead<'_>,
    authorization: &str,
    max_skew: Duration,
    now: SystemTime,
) -> Result<PendingSignature, AuthError> {
    let auth = parse_authorization(authorization)?;
    let (secret, principal) = keys
        .by_id
        .get(auth.access_key_id)
        .ok_or(AuthError::UnrecognizedClient)?;
    if auth.service != SIGNING_NAME {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{SIGNING_NAME}'."
        )));
    }
    let amz_date = request
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            AuthError::IncompleteSignature(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                    .to_owned(),
            )
        })?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
        ))
    })?;
    if !amz_date.starts_with(auth.date) {
        return Err(AuthError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            auth.date,
            &amz_date[..amz_date.len().min(8)]
        )));
    }
    check_skew(amz_date, signed_at, now, max_skew)?;
    // Over HTTP/2 the host travels as the `:authority` pseudo-header, and clients sign either name
    // (the JavaScript SDK v3 signs `:authority`); AWS takes `:authority` as the host.
    if !auth
        .signed_headers
        .iter()
        .any(|name| *name == "host" || *name == AUTHORITY)
    {
        return Err(AuthError::InvalidSignature(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }

    let mut signed = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let value = signed_header_value(request, name)?.ok_or_else(|| {
            AuthError::InvalidSignature(format!("signed header {name} is missing from the request"))
        })?;
        signed.push(((*name).to_owned(), value.to_owned()));
    }
    signed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(PendingSignature {
        principal: principal.clone(),
        secret: secret.clone(),
        region: auth.region.to_owned(),
        service: auth.service.to_owned(),
        date: auth.date.to_owned(),
        amz_date: amz_date.to_owned(),
        signed_at,
        method: request.method.to_owned(),
        path: request.path.to_owned(),
        query: request.query.map(str::to_owned),
        signed,
        signature: auth.signature.to_owned(),
    })
}

/// The value a signed header had on the wire: `host` and `:authority` name the same thing, whichever
/// of the two the protocol carried (HTTP/1.1 `Host`, HTTP/2 `:authority`). `None` when absent;
/// an error when a header the signature covers appears more than once (its meaning is ambiguous).
fn signed_header_value<'a>(
    request: &RequestHead<'a>,
    name: &str,
) -> Result<Option<&'a str>, AuthError> {
    let from_headers = |name: &str| -> Result<Option<&'a str>, AuthError> {
        if name.starts_with(':') {
            return Ok(None);
        }
        let mut values = request.headers.get_all(name).iter();
        let value = values.next().and_then(|v| v.to_str().ok());
        if values.next().is_some() {
            return Err(AuthError::InvalidSignature(format!(
                "signed header {name} appears more than once"
            )));
        }
        Ok(value)
    };
    match name {
        AUTHORITY => Ok(request.authority.or(from_headers("host")?)),
        "host" => Ok(from_headers("host")?.or(request.authority)),
        other => from_headers(other),
    }
}

/// What checking the frames of a SigV4 client's event stream needs: its key, the region it signs for,
/// and the request signature that seeds the frames' signature chain (each frame's `:chunk-signature`
/// covers the previous one). Only meaningful for a request [`verify`] accepted.
#[derive(Debug)]
pub struct ClientChain {
    pub identity: Identity,
    pub region: String,
    pub seed: String,
}

/// The chain of an already verified `Authorization` header; `None` when the key is unknown.
pub fn client_chain(keys: &AccessKeys, authorization: &str) -> Option<ClientChain> {
    let auth = parse_authorization(authorization).ok()?;
    let (secret, _) = keys.by_id.get(auth.access_key_id)?;
    Some(ClientChain {
        identity: Credentials::new(auth.access_key_id, secret.0.clone(), None, None, "gateway")
            .into(),
        region: auth.region.to_owned(),
        seed: auth.signature.to_owned(),
    })
}

fn parse_authorization(value: &str) -> Result<ParsedAuthorization<'_>, AuthError> {
    let incomplete = |what: &str| {
        AuthError::IncompleteSignature(format!("Authorization header requires '{what}' parameter."))
    };
    let rest = value.strip_prefix(ALGORITHM).ok_or_else(|| {
        AuthError::IncompleteSignature("unsupported signature algorithm".to_owned())
    })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential = credential.ok_or_else(|| incomplete("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| incomplete("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| incomplete("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(AuthError::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    if terminator != "aws4_request" {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    Ok(ParsedAuthorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed_headers.split(';').collect(),
        signature,
    })
}

fn check_skew(
    amz_date: &str,
    signed_at: SystemTime,
    now: SystemTime,
    max_skew: Duration,
) -> Result<(), AuthError> {
    if signed_at + max_skew < now {
        return Err(AuthError::SignatureExpired(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - {} min.)",
            format_amz_date(now - max_skew),
            format_amz_date(now),
            max_skew.as_secs() / 60
        )));
    }
    if signed_at > now + max_skew {
        return Err(AuthError::SignatureExpired(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + {} min.)",
            format_amz_date(now + max_skew),
            format_amz_date(now),
            max_skew.as_secs() / 60
        )));
    }
    Ok(())
}

/// `20251129T031500Z` -> time. Hand-written: the format is fixed and a date crate would be a
/// dependency for two functions.
pub(crate) fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let bytes = value.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let text = value.get(range)?;
        text.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| text.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

fn format_amz_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let t = UtcDateTime::from_epoch_secs(secs);
    match t.basic() {
        Some(text) => crate::calendar::ascii(&text).to_owned(),
        None => format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::sign_request;
    use aws_credential_types::Credentials;
    use http::HeaderValue;

    fn principal() -> Arc<Principal> {
        Arc::new(Principal::new(
            "app",
            "arn:aws:iam::123456789012:role/app",
            crate::policy::Identity::Unrestricted,
        ))
    }

    fn keys() -> AccessKeys {
        let mut keys = AccessKeys::default();
        keys.insert(
            "BGAKIDAPP".into(),
            Secret::new("app-secret".into()),
            principal(),
        );
        keys
    }

    /// A request signed the way an SDK signs it (with aws-sigv4's defaults).
    fn signed(secret: &str, time: SystemTime, body: &[u8]) -> (HeaderMap, String) {
        let creds = Credentials::new("BGAKIDAPP", secret, None, None, "client");
        let url = "http://127.0.0.1:8787/model/amazon.nova-lite-v1%3A0/converse";
        let out = sign_request(
            "POST",
            url,
            [("content-type", "application/json")].into_iter(),
            body,
            &creds,
            "us-west-2",
            time,
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:8787"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let mut authorization = String::new();
        for (name, value) in out {
            if name == "authorization" {
                authorization = value.clone();
            }
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        }
        (headers, authorization)
    }

    fn check(
        headers: &HeaderMap,
        authorization: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(Arc<Principal>, String), AuthError> {
        let request = IncomingRequest {
            head: RequestHead {
                method: "POST",
                path: "/model/amazon.nova-lite-v1%3A0/converse",
                query: None,
                authority: None,
                headers,
            },
            body,
        };
        verify(
            &keys(),
            &request,
            authorization,
            Duration::from_secs(300),
            now,
        )
    }

    #[test]
    fn a_correct_signature_verifies_with_its_region() {
        let now = SystemTime::now();
        let (headers, auth) = signed("app-secret", now, b"{}");
        let (principal, region) = check(&headers, &auth, b"{}", now).unwrap();
        assert_eq!(principal.name(), "app");
        assert_eq!(region, "us-west-2");
    }

    #[test]
    fn wrong_secret_tampered_body_and_skew_fail() {
        let now = SystemTime::now();
        let (headers, auth) = signed("wrong-secret", now, b"{}");
        assert!(matches!(
            check(&headers, &auth, b"{}", now),
            Err(AuthError::InvalidSignature(_))
        ));

        let (headers, auth) = signed("app-secret", now, b"{}");
        assert!(matches!(
            check(&headers, &auth, b"{\"x\":1}", now),
            Err(AuthError::InvalidSignature(_))
        ));

        let late = now + Duration::from_secs(3600);
        let err = check(&headers, &auth, b"{}", late).unwrap_err();
        assert!(
            matches!(&err, AuthError::SignatureExpired(m) if m.starts_with("Signature expired")),
            "{err:?}"
        );
        let early = now - Duration::from_secs(3600);
        assert!(
            matches!(check(&headers, &auth, b"{}", early), Err(AuthError::SignatureExpired(m)) if m.contains("not yet current"))
        );
    }

    #[test]
    fn unknown_keys_and_malformed_headers() {
        let now = SystemTime::now();
        let (headers, auth) = signed("app-secret", now, b"{}");
        let unknown = auth.replace("BGAKIDAPP", "BGAKIDOTHER");
        assert!(matches!(
            check(&headers, &unknown, b"{}", now),
            Err(AuthError::UnrecognizedClient)
        ));
        let wrong_service = auth.replace("/bedrock/", "/s3/");
        assert!(matches!(
            check(&headers, &wrong_service, b"{}", now),
            Err(AuthError::InvalidSignature(_))
        ));
        assert!(matches!(
            check(&headers, "AWS4-HMAC-SHA256 Signature=ab", b"{}", now),
            Err(AuthError::IncompleteSignature(_))
        ));
    }

    /// A request over HTTP/2 signed the way the AWS SDK for JavaScript v3 signs it: `:authority`
    /// instead of `host`, written out here from the SigV4 rules, so the verifier is checked against
    /// the canonical request itself rather than against its own code.
    #[test]
    fn an_http2_request_signed_with_authority_verifies() {
        let now = SystemTime::now();
        let amz_date = format_amz_date(now);
        let day = &amz_date[..8];
        let body = b"{}";
        let body_hash = hex_sha256(body);
        let canonical = format!(
            "POST\n/model/amazon.nova-lite-v1%253A0/converse\n\n\
             :authority:127.0.0.1:8787\ncontent-type:application/json\nx-amz-date:{amz_date}\n\n\
             :authority;content-type;x-amz-date\n{body_hash}"
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{day}/us-west-2/bedrock/aws4_request\n{}",
            hex_sha256(canonical.as_bytes())
        );
        let key = v4::generate_signing_key("app-secret", now, "us-west-2", "bedrock");
        let signature = v4::calculate_signature(key, string_to_sign.as_bytes());
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=BGAKIDAPP/{day}/us-west-2/bedrock/aws4_request, \
             SignedHeaders=:authority;content-type;x-amz-date, Signature={signature}"
        );
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-amz-date", HeaderValue::from_str(&amz_date).unwrap());
        let request = |authority: Option<&'static str>, headers: &HeaderMap| {
            verify(
                &keys(),
                &IncomingRequest {
                    head: RequestHead {
                        method: "POST",
                        path: "/model/amazon.nova-lite-v1%3A0/converse",
                        query: None,
                        authority,
                        headers,
                    },
                    body,
                },
                &authorization,
                Duration::from_secs(300),
                now,
            )
        };
        let (principal, region) = request(Some("127.0.0.1:8787"), &headers).unwrap();
        assert_eq!((principal.name(), region.as_str()), ("app", "us-west-2"));
        // The authority is part of what was signed.
        assert!(matches!(
            request(Some("127.0.0.1:9999"), &headers),
            Err(AuthError::InvalidSignature(_))
        ));
        // No `:authority` and no `Host`: nothing to verify against.
        assert!(matches!(
            request(None, &headers),
            Err(AuthError::InvalidSignature(m)) if m.contains(":authority is missing")
        ));
        // A client that signed `host` over HTTP/2 is checked against `:authority` too.
        let (signed_host, host_auth) = signed("app-secret", now, body);
        let mut without_host = signed_host.clone();
        without_host.remove("host");
        let over_h2 = IncomingRequest {
            head: RequestHead {
                method: "POST",
                path: "/model/amazon.nova-lite-v1%3A0/converse",
                query: None,
                authority: Some("127.0.0.1:8787"),
                headers: &without_host,
            },
            body,
        };
        verify(&keys(), &over_h2, &host_auth, Duration::from_secs(300), now).unwrap();
        // Neither name signed: AWS's message.
        let unsigned_host = host_auth.replace(
            "SignedHeaders=content-type;host;",
            "SignedHeaders=content-type;",
        );
        assert!(matches!(
            check(&signed_host, &unsigned_host, body, now),
            Err(AuthError::InvalidSignature(m)) if m.contains("'Host' must be a 'SignedHeader'")
        ));
    }

    fn hex_sha256(bytes: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(bytes))
    }

    proptest::proptest! {
        /// The verifier's canonical request agrees with `aws-sigv4` on any path, query and header
        /// values a client may sign with `host`.
        #[test]
        fn verification_agrees_with_aws_sigv4(
            segments in proptest::collection::vec("[a-zA-Z0-9._~:%@!$&'()*+,;=-]{0,12}|\\.|\\.\\.", 0..5),
            params in proptest::collection::vec(("[a-zA-Z0-9._~%+ -]{0,6}", "[a-zA-Z0-9._~%+=/: -]{0,8}"), 0..4),
            value in "[ -~]{0,20}",
            method in proptest::sample::select(vec!["GET", "POST", "DELETE"]),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            let path = format!("/{}", segments.join("/"));
            let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let query = query.join("&");
            let url = if query.is_empty() {
                format!("http://127.0.0.1:8787{path}")
            } else {
                format!("http://127.0.0.1:8787{path}?{query}")
            };
            // Only what `http` and aws-sigv4 accept as a request is a meaningful comparison.
            let Ok(uri) = url.parse::<http::Uri>() else { return Ok(()) };
            let Ok(header) = HeaderValue::from_str(&value) else { return Ok(()) };
            let now = SystemTime::now();
            let identity: aws_smithy_runtime_api::client::identity::Identity =
                Credentials::new("BGAKIDAPP", "app-secret", None, None, "t").into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("bedrock")
                .time(now)
                .settings(aws_sigv4::http_request::SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let signable = aws_sigv4::http_request::SignableRequest::new(
                method,
                url.as_str(),
                [("x-amzn-bedrock-trace", value.as_str())].into_iter(),
                aws_sigv4::http_request::SignableBody::Bytes(&body),
            )
            .unwrap();
            let Ok(output) = aws_sigv4::http_request::sign(signable, &params) else { return Ok(()) };
            let (instructions, _) = output.into_parts();
            let mut headers = HeaderMap::new();
            headers.insert("host", HeaderValue::from_static("127.0.0.1:8787"));
            headers.insert("x-amzn-bedrock-trace", header);
            let mut authorization = String::new();
            for (name, value) in instructions.headers() {
                if name == "authorization" {
                    authorization = value.to_owned();
                }
                headers.insert(
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            let request = IncomingRequest {
                head: RequestHead {
                    method,
                    path: uri.path(),
                    query: uri.query(),
                    authority: None,
                    headers: &headers,
                },
                body: &body,
            };
            let verified = verify(&keys(), &request, &authorization, Duration::from_secs(300), now);
            proptest::prop_assert!(verified.is_ok(), "{url} {value:?}: {verified:?}");
        }
    }

    #[test]
    fn amz_dates_round_trip() {
        for text in [
            "19700101T000000Z",
            "20000229T235959Z",
            "20251129T031500Z",
            "20991231T120000Z",
        ] {
            let time = parse_amz_date(text).unwrap();
            assert_eq!(format_amz_date(time), text);
        }
        for bad in [
            "2025-11-29T03:15:00Z",
            "20251329T000000Z",
            "20251129T031500",
            "2025112xT031500Z",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
    }
}
