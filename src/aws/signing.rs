//! SigV4 signing of the request sent upstream, over the exact bytes that are sent.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Bedrock Runtime signs as `bedrock`, not `bedrock-runtime`.
pub const SIGNING_NAME: &str = "bedrock";

#[derive(Debug, thiserror::Error)]
#[error("cannot sign the upstream request: {0}")]
pub struct SigningError(String);

impl SigningError {
    pub fn from_message(err: impl std::fmt::Display) -> Self {
        Self(err.to_string())
    }
}

/// Signs a request and returns the headers to add (`authorization`, `x-amz-date`, and
/// `x-amz-security-token` for temporary credentials).
///
/// `url` must be exactly what is sent (its path already percent-encoded once, as on the wire; the signer
/// encodes it a second time for the canonical request, as every non-S3 service expects). `headers` are
/// all headers that will be sent apart from `host`, which the signer derives from `url`.
///
/// The proxy's own requests (a query-less path, lower-case allowlisted headers) take a direct path
/// that writes the canonical request into one buffer and reuses the day's signing key: in the
/// end-to-end profile `aws_sigv4::http_request::sign` was about 9% of the proxy's CPU at saturation,
/// mostly building and formatting its intermediate header maps and strings. Anything else (a query,
/// path segments to normalize, headers needing trimming or joining) goes through `aws-sigv4`, and a
/// test checks that both give the same signature.
pub fn sign_request<'a>(
    method: &'a str,
    url: &'a str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    body: &'a [u8],
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(&'static str, String)>, SigningError> {
    let headers: Vec<(&str, &str)> = headers.collect();
    if let Some(signed) = direct::sign(method, url, &headers, body, credentials, region, time) {
        return Ok(signed);
    }
    sign_with_aws_sigv4(
        method,
        url,
        headers.into_iter(),
        body,
        credentials,
        region,
        time,
    )
}

/// The headers to send: `headers` followed by the `signature` from [`sign_request`] (which replaces
/// any header of the same name).
pub fn signed_header_map(
    headers: Vec<(HeaderName, HeaderValue)>,
    signature: Vec<(&'static str, String)>,
) -> Result<HeaderMap, SigningError> {
    let mut outgoing = HeaderMap::with_capacity(headers.len() + signature.len());
    for (name, value) in headers {
        outgoing.append(name, value);
    }
    for (name, value) in signature {
        // The signer's names are constants: named without copying them.
        let name = match name {
            "authorization" => http::header::AUTHORIZATION,
            "x-amz-date" => HeaderName::from_static("x-amz-date"),
            "x-amz-security-token" => HeaderName::from_static("x-amz-security-token"),
            other => {
                HeaderName::from_bytes(other.as_bytes()).map_err(SigningError::from_message)?
            }
        };
        // The value's own buffer becomes the header's.
        let value = HeaderValue::from_maybe_shared(bytes::Bytes::from(value))
            .map_err(SigningError::from_message)?;
        outgoing.insert(name, value);
    }
    Ok(outgoing)
}

fn sign_with_aws_sigv4<'a>(
    method: &'a str,
    url: &'a str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    body: &'a [u8],
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(&'static str, String)>, SigningError> {
    let identity = Identity::from(credentials.clone());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SIGNING_NAME)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError(e.to_string()))?
        .into();
    let signable = SignableRequest::new(method, url, headers, SignableBody::Bytes(body))
        .map_err(|e| SigningError(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SigningError(e.to_string()))?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_owned()))
        .collect())
}

/// SigV4 (header form, `aws-sigv4`'s default settings) for the shapes of request the proxy sends.
mod direct {
    use std::fmt::Write as _;
    use std::sync::{Mutex, PoisonError};
    use std::time::SystemTime;

    use aws_credential_types::Credentials;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};

    use super::SIGNING_NAME;
    use crate::calendar::{ascii, UtcDateTime};

    type HmacSha256 = Hmac<Sha256>;

    /// The last signing key derived. It depends on the secret, the day, the region and the service,
    /// so it changes once a day (or on a credential rotation); deriving it costs four HMACs.
    static KEY: Mutex<Option<CachedKey>> = Mutex::new(None);

    struct CachedKey {
        secret: String,
        date: String,
        region: String,
        key: [u8; 32],
    }

    /// `None` when the request is not of the simple shape handled here.
    pub(super) fn sign(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        credentials: &Credentials,
        region: &str,
        time: SystemTime,
    ) -> Option<Vec<(&'static str, String)>> {
        let uri: http::Uri = url.parse().ok()?;
        let path = uri.path();
        if uri.query().is_some() || !simple_path(path) {
            return None;
        }
        let scheme = uri.scheme_str()?;
        let authority = uri.authority()?;
        let host = match authority.port_u16() {
            Some(443) if scheme == "https" => authority.host(),
            Some(80) if scheme == "http" => authority.host(),
            _ => authority.as_str(),
        };
        let token = credentials.session_token();

        let mut canonical: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 3);
        for &(name, value) in headers {
            if !simple_header(name, value) {
                return None;
            }
            canonical.push((name, value));
        }
        let date_time = format_date_time(time)?;
        canonical.push(("host", host));
        canonical.push(("x-amz-date", &date_time));
        if let Some(token) = token {
            canonical.push(("x-amz-security-token", token));
        }
        canonical.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if canonical.windows(2).any(|w| w[0].0 == w[1].0) {
            // A repeated name is signed as one comma-joined value: left to aws-sigv4.
            return None;
        }

        let mut creq = String::with_capacity(512);
        creq.push_str(method);
        creq.push('\n');
        encode_path(path, &mut creq);
        creq.push_str("\n\n");
        for (name, value) in &canonical {
            creq.push_str(name);
            creq.push(':');
            creq.push_str(value);
            creq.push('\n');
        }
        creq.push('\n');
        let signed_headers_start = creq.len();
        for (i, (name, _)) in canonical.iter().enumerate() {
            if i > 0 {
                creq.push(';');
            }
            creq.push_str(name);
        }
        let signed_headers_end = creq.len();
        creq.push('\n');
        push_hex(&Sha256::digest(body), &mut creq);

        let date = &date_time[..8];
        let mut string_to_sign = String::with_capacity(160);
        string_to_sign.push_str("AWS4-HMAC-SHA256\n");
        string_to_sign.push_str(&date_time);
        let _ = write!(
            string_to_sign,
            "\n{date}/{region}/{SIGNING_NAME}/aws4_request\n"
        );
        push_hex(&Sha256::digest(creq.as_bytes()), &mut string_to_sign);

        let key = signing_key(credentials.secret_access_key(), date, region)?;
        let mut mac = HmacSha256::new_from_slice(&key).ok()?;
        mac.update(string_to_sign.as_bytes());
        let signature = mac.finalize().into_bytes();

        let mut authorization = String::with_capacity(256);
        let _ = write!(
            authorization,
            "AWS4-HMAC-SHA256 Credential={}/{date}/{region}/{SIGNING_NAME}/aws4_request, SignedHeaders={}, Signature=",
            credentials.access_key_id(),
            &creq[signed_headers_start..signed_headers_end],
        );
        push_hex(&signature, &mut authorization);

        let mut out = Vec::with_capacity(3);
        out.push(("authorization", authorization));
        out.push(("x-amz-date", date_time));
        if let Some(token) = token {
            out.push(("x-amz-security-token", token.to_owned()));
        }
        Some(out)
    }

    fn signing_key(secret: &str, date: &str, region: &str) -> Option<[u8; 32]> {
        let mut cache = KEY.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = cache.as_ref() {
            if cached.date == date && cached.region == region && cached.secret == secret {
                return Some(cached.key);
            }
        }
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes())?;
        for part in [region, SIGNING_NAME, "aws4_request"] {
            key = hmac(&key, part.as_bytes())?;
        }
        *cache = Some(CachedKey {
            secret: secret.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            key,
        });
        Some(key)
    }

    fn hmac(key: &[u8], data: &[u8]) -> Option<[u8; 32]> {
        let mut mac = HmacSha256::new_from_slice(key).ok()?;
        mac.update(data);
        Some(mac.finalize().into_bytes().into())
    }

    /// An absolute path with nothing for SigV4's normalization to change (no empty, `.` or `..`
    /// segments).
    fn simple_path(path: &str) -> bool {
        path.starts_with('/')
            && path[1..]
                .split('/')
                .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
    }

    /// A lower-case name that is none of the headers the signer adds, and a value SigV4 would not
    /// trim (no leading, trailing or doubled spaces) made of visible ASCII.
    fn simple_header(name: &str, value: &str) -> bool {
        !matches!(name, "host" | "x-amz-date" | "x-amz-security-token")
            && !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !value.starts_with(' ')
            && !value.ends_with(' ')
            && !value.contains("  ")
            && value.bytes().all(|b| (0x20..0x7f).contains(&b))
    }

    /// The canonical URI: the wire path encoded once more (`%3A` -> `%253A`), keeping `/` and the
    /// unreserved characters.
    fn encode_path(path: &str, out: &mut String) {
        for b in path.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }

    fn push_hex(bytes: &[u8], out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // A digest at a time through a stack buffer: one append instead of a checked push per digit.
        for chunk in bytes.chunks(32) {
            let mut digits = [0u8; 64];
            for (pair, b) in digits.chunks_exact_mut(2).zip(chunk) {
                pair[0] = HEX[usize::from(b >> 4)];
                pair[1] = HEX[usize::from(b & 0xf)];
            }
            // Only ASCII hex digits were written.
            out.push_str(std::str::from_utf8(&digits[..chunk.len() * 2]).unwrap_or_default());
        }
    }

    thread_local! {
        /// The second last formatted on this thread: the calls of one second share the formatting.
        static DATE_TIME: std::cell::Cell<(u64, [u8; 16])> =
            const { std::cell::Cell::new((u64::MAX, [0; 16])) };
    }

    /// `YYYYMMDDTHHMMSSZ` in UTC.
    fn format_date_time(time: SystemTime) -> Option<String> {
        let secs = time.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
        let (cached, mut text) = DATE_TIME.get();
        if cached != secs {
            text = UtcDateTime::from_epoch_secs(i64::try_from(secs).ok()?).basic()?;
            DATE_TIME.set((secs, text));
        }
        Some(ascii(&text).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_with_the_bedrock_scope_and_session_token() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "t");
        let headers = sign_request(
            "POST",
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/a.b-v1%3A0/invoke",
            [("content-type", "application/json")].into_iter(),
            b"{}",
            &creds,
            "us-east-1",
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .unwrap()
        };
        let auth = get("authorization");
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock/aws4_request"
            ),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
        assert_eq!(get("x-amz-date"), "20231114T221320Z");
        assert_eq!(get("x-amz-security-token"), "token");
    }

    /// The direct signer and aws-sigv4 agree, header for header, on the shapes the proxy sends; the
    /// shapes it does not handle fall back to aws-sigv4.
    #[test]
    fn direct_signing_matches_aws_sigv4() {
        let temporary = Credentials::new(
            "AKIDEXAMPLE",
            "secret/key",
            Some("tok+en/=".into()),
            None,
            "t",
        );
        let long_lived = Credentials::new("AKIDEXAMPLE2", "other-secret", None, None, "t");
        let urls = [
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
            "https://bedrock-runtime.us-east-1.amazonaws.com:443/model/a.b-v1%3A0/invoke",
            "http://127.0.0.1:18080/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/converse-stream",
            "http://localhost:80/guardrail/gr1/version/DRAFT/apply",
            "http://127.0.0.1:9/async-invoke",
            "http://127.0.0.1:9/model/odd~id_x/count-tokens",
        ];
        let header_sets: [&[(&str, &str)]; 3] = [
            &[
                ("content-type", "application/json"),
                ("content-length", "2"),
            ],
            &[
                ("content-type", "application/json"),
                ("accept", "application/vnd.amazon.eventstream"),
                (
                    "x-amzn-bedrock-guardrailidentifier",
                    "arn:aws:bedrock:us-east-1:1:guardrail/x",
                ),
                ("x-amzn-bedrock-trace", "ENABLED"),
                ("content-length", "2"),
            ],
            &[],
        ];
        let times = [
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400), // 2000-02-29
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(4_107_542_399), // 2100-02-28T23:59:59
        ];
        for url in urls {
            for headers in header_sets {
                for creds in [&temporary, &long_lived] {
                    for time in times {
                        for region in ["us-east-1", "eu-west-3"] {
                            let direct =
                                direct::sign("POST", url, headers, b"{}", creds, region, time)
                                    .expect("handled directly");
                            let reference = sign_with_aws_sigv4(
                                "POST",
                                url,
                                headers.iter().copied(),
                                b"{}",
                                creds,
                                region,
                                time,
                            )
                            .unwrap();
                            let mut direct = direct;
                            let mut reference = reference;
                            direct.sort();
                            reference.sort();
                            assert_eq!(direct, reference, "{url} {headers:?} {region}");
                        }
                    }
                }
            }
        }
        // Shapes left to aws-sigv4, which must still sign them.
        for (url, headers) in [
            ("http://127.0.0.1:9/async-invoke?maxResults=10", &[][..]),
            ("http://127.0.0.1:9/model/a/../b/invoke", &[][..]),
            (
                "http://127.0.0.1:9/model/x/invoke",
                &[("x-amzn-bedrock-trace", " ENABLED")][..],
            ),
            (
                "http://127.0.0.1:9/model/x/invoke",
                &[("accept", "a"), ("accept", "b")][..],
            ),
        ] {
            let t = times[0];
            assert!(
                direct::sign("GET", url, headers, b"", &temporary, "us-east-1", t).is_none(),
                "{url}"
            );
            let signed = sign_request(
                "GET",
                url,
                headers.iter().copied(),
                b"",
                &temporary,
                "us-east-1",
                t,
            )
            .unwrap();
            assert!(signed.iter().any(|(n, _)| *n == "authorization"));
        }
    }
}
