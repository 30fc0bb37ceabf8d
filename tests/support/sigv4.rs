//! A SigV4 *verifier*, written from the AWS specification and deliberately
//! independent of the `aws-sigv4` crate the proxy signs with: if both sides
//! shared one implementation, a bug in it (the classic one being the double
//! encoding of `%3A` in model ids) would sign and verify "correctly" and never
//! show up in a test.
//!
//! Scope: header-based `AWS4-HMAC-SHA256` signatures as Bedrock Runtime accepts
//! them. Not covered: presigned (query-string) signatures, SigV4a, chunked
//! payload signing, clock-skew limits, and URI dot-segment normalisation (no
//! Bedrock path contains `.` or `..` segments).

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Everything except the SigV4 "unreserved" characters `A-Za-z0-9-._~` is
/// percent-encoded in canonical URIs and query strings.
const SIGV4_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The credentials the verifier expects the request to be signed with.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    /// When set, `x-amz-security-token` must carry exactly this value and be signed.
    pub session_token: Option<&'a str>,
}

/// A request as it arrived on the wire.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The raw path, still percent-encoded exactly as the client sent it.
    pub path: &'a str,
    /// The raw query string without the leading `?`.
    pub query: Option<&'a str>,
    /// Header names may be in any case; repeated names are allowed.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key: String,
    /// `yyyymmdd` from the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    /// As listed in the header (lowercase, `;`-separated on the wire).
    pub signed_headers: Vec<String>,
    /// Lowercase hex.
    pub signature: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AK/yyyymmdd/region/service/aws4_request,
/// SignedHeaders=a;b;c, Signature=hex`.
pub fn parse_authorization(value: &str) -> Result<Authorization, String> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| format!("Authorization does not start with {ALGORITHM}: {value:?}"))?;

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let (key, val) = part
            .split_once('=')
            .ok_or_else(|| format!("malformed Authorization component {part:?}"))?;
        match key {
            "Credential" => credential = Some(val),
            "SignedHeaders" => signed_headers = Some(val),
            "Signature" => signature = Some(val),
            other => return Err(format!("unexpected Authorization component {other:?}")),
        }
    }
    let credential = credential.ok_or("Authorization has no Credential")?;
    let signed_headers = signed_headers.ok_or("Authorization has no SignedHeaders")?;
    let signature = signature.ok_or("Authorization has no Signature")?;

    // The secret-less access key cannot contain '/', so splitting is unambiguous.
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = scope[..] else {
        return Err(format!(
            "Credential {credential:?} is not AK/date/region/service/aws4_request"
        ));
    };
    if terminator != "aws4_request" {
        return Err(format!(
            "credential scope ends in {terminator:?}, not aws4_request"
        ));
    }

    Ok(Authorization {
        access_key: access_key.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers: signed_headers.split(';').map(str::to_owned).collect(),
        signature: signature.to_owned(),
    })
}

/// Verifies `req` against the expected credentials, region and signing name.
/// The error says which check failed; a signature mismatch includes the
/// canonical request the verifier computed, which is what you diff against the
/// signer's when debugging.
pub fn verify(
    req: &SignedRequest<'_>,
    creds: &Credentials<'_>,
    region: &str,
    service: &str,
) -> Result<(), String> {
    let auth_value = header_values(req.headers, "authorization")
        .ok_or("no Authorization header")?
        .join(",");
    let auth = parse_authorization(&auth_value)?;

    if auth.access_key != creds.access_key {
        return Err(format!(
            "signed with access key {:?}, expected {:?}",
            auth.access_key, creds.access_key
        ));
    }
    if auth.service != service {
        return Err(format!(
            "signing name is {:?}, expected {service:?}",
            auth.service
        ));
    }
    if auth.region != region {
        return Err(format!(
            "credential scope region is {:?}, expected {region:?}",
            auth.region
        ));
    }

    let signed = |name: &str| auth.signed_headers.iter().any(|h| h == name);
    if !signed("host") {
        return Err("host is not a signed header".into());
    }

    let amz_date = single_header(req.headers, "x-amz-date")?.ok_or("no x-amz-date header")?;
    if amz_date.len() != 16 || !amz_date.starts_with(&auth.date) {
        return Err(format!(
            "x-amz-date {amz_date:?} does not match the credential scope date {:?}",
            auth.date
        ));
    }

    if let Some(expected_token) = creds.session_token {
        let token = single_header(req.headers, "x-amz-security-token")?
            .ok_or("no x-amz-security-token header")?;
        if token != expected_token {
            return Err("x-amz-security-token is not the expected session token".into());
        }
        if !signed("x-amz-security-token") {
            return Err("x-amz-security-token is not a signed header".into());
        }
    }

    let body_hash = hex::encode(Sha256::digest(req.body));
    if let Some(declared) = single_header(req.headers, "x-amz-content-sha256")? {
        if declared != body_hash {
            return Err(format!(
                "x-amz-content-sha256 is {declared:?} but the body hashes to {body_hash:?}"
            ));
        }
    }

    let canonical = canonical_request(req, &auth.signed_headers, &body_hash)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(creds.secret_key, &auth.date, &auth.region, &auth.service);
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));

    if expected == auth.signature {
        Ok(())
    } else {
        Err(format!(
            "signature mismatch: got {}, computed {expected}\n--- canonical request ---\n{canonical}\n--- string to sign ---\n{string_to_sign}",
            auth.signature
        ))
    }
}

/// The canonical request: method, URI, query, headers, signed header list and
/// payload hash, newline-separated.
pub fn canonical_request(
    req: &SignedRequest<'_>,
    signed_headers: &[String],
    payload_hash: &str,
) -> Result<String, String> {
    let mut headers = String::new();
    for name in signed_headers {
        let values = header_values(req.headers, name)
            .ok_or_else(|| format!("signed header {name:?} is not in the request"))?;
        let values: Vec<String> = values.iter().map(|v| trim_all(v)).collect();
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(format!(
        "{}\n{}\n{}\n{headers}\n{}\n{payload_hash}",
        req.method,
        canonical_uri(req.path),
        canonical_query(req.query),
        signed_headers.join(";"),
    ))
}

/// Encodes each segment of the wire path once more. Every AWS service except
/// S3 does this, so the `%3A` an SDK sends for `:` becomes `%253A` here.
pub fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".into();
    }
    raw_path
        .split('/')
        .map(|segment| utf8_percent_encode(segment, SIGV4_ENCODE).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Decodes each `key=value` pair, re-encodes it with the SigV4 set and sorts.
/// `+` is read as a space, as `aws-sigv4` (via `form_urlencoded`) reads it.
pub fn canonical_query(raw_query: Option<&str>) -> String {
    let Some(raw) = raw_query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let encode = |s: &str| {
        let spaced = s.replace('+', " ");
        let decoded: Vec<u8> = percent_decode_str(&spaced).collect();
        percent_encoding::percent_encode(&decoded, SIGV4_ENCODE).to_string()
    };
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(k), encode(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// All values of a header (case-insensitive name), in arrival order.
fn header_values<'h>(headers: &'h [(String, String)], name: &str) -> Option<Vec<&'h str>> {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect();
    (!values.is_empty()).then_some(values)
}

/// A header that must not be repeated: a second copy would make "the" value
/// ambiguous, which is exactly the kind of thing a proxy must not forward.
fn single_header<'h>(
    headers: &'h [(String, String)],
    name: &str,
) -> Result<Option<&'h str>, String> {
    match header_values(headers, name).as_deref() {
        None => Ok(None),
        Some([one]) => Ok(Some(one)),
        Some(many) => Err(format!("{name} appears {} times", many.len())),
    }
}

/// Trims leading/trailing spaces and collapses inner runs of spaces to one.
fn trim_all(value: &str) -> String {
    value
        .split(' ')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    //! Vectors from the AWS SigV4 test suite (as shipped with the `aws-sigv4`
    //! crate's `aws-signing-test-suite/v4`), plus round trips through the
    //! `aws-sigv4` signer the proxy itself uses.

    use super::*;
    use std::time::{Duration, SystemTime};

    const SUITE_AK: &str = "AKIDEXAMPLE";
    const SUITE_SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn suite_creds() -> Credentials<'static> {
        Credentials {
            access_key: SUITE_AK,
            secret_key: SUITE_SK,
            session_token: None,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn suite_auth(signed: &str, signature: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature={signature}"
        )
    }

    #[test]
    fn suite_get_vanilla() {
        let h = headers(&[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                &suite_auth(
                    "host;x-amz-date",
                    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
                ),
            ),
        ]);
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query: None,
            headers: &h,
            body: b"",
        };
        verify(&req, &suite_creds(), "us-east-1", "service").unwrap();

        // The same request checked for another service or region must fail.
        assert!(verify(&req, &suite_creds(), "us-east-1", "bedrock").is_err());
        assert!(verify(&req, &suite_creds(), "us-west-2", "service").is_err());
    }

    #[test]
    fn suite_query_order_and_header_trim() {
        let h = headers(&[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                &suite_auth(
                    "host;x-amz-date",
                    "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
                ),
            ),
        ]);
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query: Some("Param2=value2&Param1=value1"),
            headers: &h,
            body: b"",
        };
        verify(&req, &suite_creds(), "us-east-1", "service").unwrap();

        let h = headers(&[
            ("Host", "example.amazonaws.com"),
            ("My-Header1", "value1"),
            ("My-Header2", "\"a   b   c\""),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                &suite_auth(
                    "host;my-header1;my-header2;x-amz-date",
                    "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
                ),
            ),
        ]);
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query: None,
            headers: &h,
            body: b"",
        };
        verify(&req, &suite_creds(), "us-east-1", "service").unwrap();
    }

    #[test]
    fn suite_session_token_and_content_sha256() {
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let h = headers(&[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Security-Token", token),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                &suite_auth(
                    "host;x-amz-date;x-amz-security-token",
                    "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
                ),
            ),
        ]);
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query: None,
            headers: &h,
            body: b"",
        };
        let creds = Credentials {
            session_token: Some(token),
            ..suite_creds()
        };
        verify(&req, &creds, "us-east-1", "service").unwrap();
        let wrong = Credentials {
            session_token: Some("other"),
            ..suite_creds()
        };
        assert!(verify(&req, &wrong, "us-east-1", "service")
            .unwrap_err()
            .contains("session token"));

        let body_hash = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";
        let h = headers(&[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Host", "example.amazonaws.com"),
            ("Content-Length", "13"),
            ("X-Amz-Date", "20150830T123600Z"),
            ("x-amz-content-sha256", body_hash),
            (
                "Authorization",
                &suite_auth(
                    "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
                    "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
                ),
            ),
        ]);
        let mut req = SignedRequest {
            method: "POST",
            path: "/",
            query: None,
            headers: &h,
            body: b"Param1=value1",
        };
        verify(&req, &suite_creds(), "us-east-1", "service").unwrap();
        req.body = b"Param1=value2";
        assert!(verify(&req, &suite_creds(), "us-east-1", "service")
            .unwrap_err()
            .contains("x-amz-content-sha256"));
    }

    #[test]
    fn suite_double_url_encode() {
        // The Lambda vector: an ARN in the path, `%3A` on the wire, `%253A` in
        // the canonical URI. The same shape as a Bedrock model ARN.
        let h = headers(&[
            ("Host", "lambda.us-east-2.amazonaws.com"),
            ("X-Amz-Date", "20210511T154045Z"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20210511/us-east-2/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=4b93abbcc68be32bd64c18e2c71150660ab4c29bbd6c32a383a7517a88fc1804",
            ),
        ]);
        let req = SignedRequest {
            method: "POST",
            path: "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-west-2%3A892717189312%3Afunction%3Amy-rusty-fun/invocations",
            query: None,
            headers: &h,
            body: b"",
        };
        verify(&req, &suite_creds(), "us-east-2", "lambda").unwrap();
        assert_eq!(
            canonical_uri(req.path),
            "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-west-2%253A892717189312%253Afunction%253Amy-rusty-fun/invocations"
        );
    }

    #[test]
    fn canonical_query_encoding() {
        assert_eq!(canonical_query(None), "");
        assert_eq!(canonical_query(Some("b=2&a=1&a=0")), "a=0&a=1&b=2");
        assert_eq!(canonical_query(Some("k")), "k=");
        assert_eq!(
            canonical_query(Some("nextToken=a%2Fb%3D&x=y z")),
            "nextToken=a%2Fb%3D&x=y%20z"
        );
    }

    #[test]
    fn parse_rejects_malformed_headers() {
        assert!(parse_authorization("Bearer abc").is_err());
        assert!(parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/bedrock, SignedHeaders=host, Signature=00"
        )
        .is_err());
        let a = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
        )
        .unwrap();
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(a.service, "bedrock");
    }

    // ---- round trips through the `aws-sigv4` signer ----

    const AK: &str = "AKIDPROXYEXAMPLE";
    const SK: &str = "proxy/secret/EXAMPLEKEY";
    const TOKEN: &str = "proxy-session-token";
    const HOST: &str = "127.0.0.1:4567";
    const PATH: &str =
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-v2%3A1/invoke";

    /// Signs with `aws-sigv4` default settings and returns the request headers,
    /// the way the proxy's re-signing step would produce them.
    fn sign_with_aws_sigv4(
        method: &str,
        path_and_query: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        use aws_sigv4::sign::v4;

        let identity =
            aws_credential_types::Credentials::new(AK, SK, Some(TOKEN.to_owned()), None, "test")
                .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("bedrock")
            .time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let mut headers: Vec<(String, String)> = vec![("host".into(), HOST.into())];
        headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        let uri = format!("http://{HOST}{path_and_query}");
        let signable = SignableRequest::new(
            method,
            uri.as_str(),
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut out = headers.clone();
        out.extend(
            instructions
                .headers()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned())),
        );
        out
    }

    fn proxy_creds() -> Credentials<'static> {
        Credentials {
            access_key: AK,
            secret_key: SK,
            session_token: Some(TOKEN),
        }
    }

    #[test]
    fn aws_sigv4_signed_request_verifies_and_tampering_fails() {
        let body = br#"{"prompt":"hi"}"#;
        let h = sign_with_aws_sigv4(
            "POST",
            PATH,
            body,
            &[
                ("content-type", "application/json"),
                ("x-amzn-bedrock-trace", "ENABLED"),
            ],
        );
        let ok = SignedRequest {
            method: "POST",
            path: PATH,
            query: None,
            headers: &h,
            body,
        };
        verify(&ok, &proxy_creds(), "us-east-1", "bedrock").unwrap();

        let tampered_body = SignedRequest {
            body: br#"{"prompt":"ho"}"#,
            ..ok
        };
        assert!(
            verify(&tampered_body, &proxy_creds(), "us-east-1", "bedrock")
                .unwrap_err()
                .contains("signature mismatch")
        );

        // A proxy that decodes the id and forwards `:` raw changes the wire path.
        let decoded_path = PATH.replace("%3A", ":");
        let tampered_path = SignedRequest {
            path: &decoded_path,
            ..ok
        };
        assert!(verify(&tampered_path, &proxy_creds(), "us-east-1", "bedrock").is_err());

        let mut changed = h.clone();
        for (n, v) in changed.iter_mut() {
            if n == "x-amzn-bedrock-trace" {
                *v = "DISABLED".into();
            }
        }
        let tampered_header = SignedRequest {
            headers: &changed,
            ..ok
        };
        assert!(verify(&tampered_header, &proxy_creds(), "us-east-1", "bedrock").is_err());

        assert!(verify(&ok, &proxy_creds(), "us-west-2", "bedrock")
            .unwrap_err()
            .contains("region"));
    }

    #[test]
    fn aws_sigv4_signed_query_verifies() {
        let pq = "/async-invoke?maxResults=10&nextToken=a%2Bb%2Fc%3D%3D&sortBy=SubmissionTime";
        let h = sign_with_aws_sigv4("GET", pq, b"", &[]);
        let (path, query) = pq.split_once('?').unwrap();
        let req = SignedRequest {
            method: "GET",
            path,
            query: Some(query),
            headers: &h,
            body: b"",
        };
        verify(&req, &proxy_creds(), "us-east-1", "bedrock").unwrap();
    }
}
