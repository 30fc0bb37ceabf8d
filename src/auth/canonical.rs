//! The SigV4 canonical request of a request as received, for verifying a client's signature.
//!
//! Written here rather than taken from `aws-sigv4` because a client speaking HTTP/2 may sign the
//! `:authority` pseudo-header instead of `host` (the AWS SDK for JavaScript v3 does), which AWS
//! accepts: `aws-sigv4` cannot express that canonical request (its header map refuses the name, and
//! it always adds `host`). The rules are `aws-sigv4`'s default settings for a non-S3 service, and a
//! test checks that both give the same signature on `host`-signed requests.

use std::borrow::Cow;
use std::fmt::Write as _;

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// What SigV4 leaves unencoded: the unreserved characters (`/` too, in the path).
const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const PATH_SET: &AsciiSet = &QUERY_SET.remove(b'/');

/// The canonical request. `path` and `query` are as on the wire (percent-encoded once);
/// `headers` are the signed headers, lower-case, in the order of the client's `SignedHeaders`
/// (sorted, as SigV4 requires), each with its value as received.
pub(super) fn canonical_request(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(method);
    out.push('\n');
    out.extend(utf8_percent_encode(&normalize_path(path), PATH_SET));
    out.push('\n');
    push_query(query.unwrap_or_default(), &mut out);
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(&trim_all(value));
        out.push('\n');
    }
    out.push('\n');
    for (i, (name, _)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    push_hex(&Sha256::digest(body), &mut out);
    out
}

/// `AWS4-HMAC-SHA256`'s string to sign over a canonical request.
pub(super) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let mut out = String::with_capacity(160);
    let _ = write!(out, "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n");
    push_hex(&Sha256::digest(canonical_request.as_bytes()), &mut out);
    out
}

/// RFC 3986 dot-segment removal, with empty segments dropped, as `aws-sigv4` normalizes paths.
fn normalize_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    let absolute = if path.starts_with('/') {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(format!("/{path}"))
    };
    if !(absolute.contains('.') || absolute.contains("//")) {
        return absolute;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in absolute.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut normalized = String::with_capacity(absolute.len());
    for segment in &segments {
        normalized.push('/');
        normalized.push_str(segment);
    }
    let trailing = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|end| absolute.ends_with(end));
    if normalized.is_empty() || (trailing && !normalized.ends_with('/')) {
        normalized.push('/');
    }
    Cow::Owned(normalized)
}

/// Parameters decoded as a form (`+` is a space), re-encoded, sorted by encoded key then value.
fn push_query(query: &str, out: &mut String) {
    let decode = |text: &str| -> String {
        let spaced = text.replace('+', " ");
        percent_decode(spaced.as_bytes())
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                utf8_percent_encode(&decode(key), QUERY_SET).to_string(),
                utf8_percent_encode(&decode(value), QUERY_SET).to_string(),
            )
        })
        .collect();
    params.sort();
    for (i, (key, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
}

/// Leading and trailing spaces removed, runs of spaces made one.
fn trim_all(value: &str) -> Cow<'_, str> {
    let value = value.trim_matches(' ');
    if !value.contains("  ") {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut previous_space = false;
    for c in value.chars() {
        if c == ' ' && previous_space {
            continue;
        }
        previous_space = c == ' ';
        out.push(c);
    }
    Cow::Owned(out)
}

fn push_hex(bytes: &[u8], out: &mut String) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize_as_aws_sigv4_does() {
        for (path, expected) in [
            ("", "/"),
            ("/", "/"),
            ("/model/a.b-v1%3A0/invoke", "/model/a.b-v1%3A0/invoke"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../a", "/a"),
            ("/a//b", "/a/b"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/..", "/"),
            ("a/b", "/a/b"),
        ] {
            assert_eq!(normalize_path(path), expected, "{path}");
        }
    }

    #[test]
    fn values_are_trimmed_and_queries_sorted() {
        assert_eq!(trim_all("  a   b c "), "a b c");
        assert_eq!(trim_all("abc"), "abc");
        let mut out = String::new();
        push_query(
            "typeEquals=SYSTEM_DEFINED&maxResults=10&b&a=x+y%2Fz",
            &mut out,
        );
        assert_eq!(
            out,
            "a=x%20y%2Fz&b=&maxResults=10&typeEquals=SYSTEM_DEFINED"
        );
    }
}
