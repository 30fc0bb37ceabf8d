//! One harness per fuzz target: bytes in, panics (and broken invariants) out. Shared by the
//! cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) and by the bounded proptest run CI does
//! (`tests/fuzz.rs`, which also replays `fuzz/corpus/`), so both exercise exactly the same code.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bedrock_guard::auth::sigv4::{self, AccessKeys, IncomingRequest, RequestHead, Secret};
use bedrock_guard::classify::body::{self, Want};
use bedrock_guard::classify::{self, ModelId, Operation};
use bedrock_guard::policy::{
    AuthzRequest, Identity, PolicySet, PolicySource, Principal, RequestContext, ResourceCheck,
    S3Access,
};
use bedrock_guard::telemetry::tokens::TokenMeter;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

/// One harness: bytes in, a panic when something is wrong.
pub type Harness = fn(&[u8]);

/// The targets, by the name of their corpus directory.
pub const TARGETS: &[(&str, Harness)] = &[
    ("classify", classify),
    ("model_id", model_id),
    ("policy", policy),
    ("sigv4", sigv4),
    ("eventstream", eventstream),
    ("body_keys", body_keys),
];

/// Splits fuzz input into `n` fields at `\n` (the last field keeps the rest).
fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |&b| b == b'\n').collect();
    out.resize(n, b"");
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Routing: a method byte, then `path[?query]`. An accepted route re-classifies to itself from its
/// canonical upstream path, which is plain visible ASCII.
pub fn classify(data: &[u8]) {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = match m % 6 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::PUT,
        3 => Method::DELETE,
        4 => Method::HEAD,
        _ => Method::from_bytes(b"post").unwrap_or(Method::PATCH),
    };
    let raw = text(rest);
    let (path, query) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (raw.as_str(), None),
    };
    let Ok(route) = classify::classify(&method, path, query) else {
        return;
    };
    assert!(
        route.upstream_path.bytes().all(|b| b.is_ascii_graphic()),
        "{route:?}"
    );
    let (p, q) = match route.upstream_path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (route.upstream_path.as_str(), None),
    };
    let again = classify::classify(&method, p, q);
    assert_eq!(again.as_ref().ok(), Some(&route), "{path:?} {query:?}");
}

/// Model ids from a path segment and from a StartAsyncInvoke body: an accepted id re-parses from
/// its canonical encoding to the same id.
pub fn model_id(data: &[u8]) {
    let raw = text(data);
    if let Ok(id) = ModelId::from_path_segment(&raw) {
        let again = ModelId::from_path_segment(&id.encoded());
        assert_eq!(again.as_ref().map(ModelId::as_str).ok(), Some(id.as_str()));
        assert_eq!(again.map(|a| a.kind()).ok(), Some(id.kind()));
    }
    let _ = classify::model_id_from_async_body(data);
}

/// Policy documents: parse, compile, lint and evaluate one request; decisions never panic.
pub fn policy(data: &[u8]) {
    let source = PolicySource {
        name: "fuzz".to_owned(),
        origin: "fuzz.json".to_owned(),
        text: text(data),
    };
    let _ = bedrock_guard::policy::parse(&source);
    let Ok(set) = PolicySet::from_sources(std::slice::from_ref(&source)) else {
        return;
    };
    let _ = bedrock_guard::policy::lint(&set, &bedrock_guard::policy::Catalog::new(&[]));
    let mut context = RequestContext::new();
    context.set("aws:RequestedRegion", "us-east-1");
    context.set("aws:PrincipalTag/team", "ml");
    context.set("aws:SourceIp", "10.1.2.3");
    context.set("bedrock:ServiceTier", "priority");
    context.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_599));
    let checks = [
        ResourceCheck::new("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x.y-v1:0"),
        ResourceCheck::new("arn:aws:bedrock:us-west-2::foundation-model/x.y-v1:0").with_context(
            "bedrock:InferenceProfileArn",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x.y-v1:0",
        ),
    ];
    let request = AuthzRequest {
        principal_arn: "arn:aws:iam::123456789012:role/app",
        action: "bedrock:InvokeModel",
        checks: &checks,
        context: &context,
    };
    let decision = set.evaluate(&request);
    let principal = Principal::new(
        "app",
        "arn:aws:iam::123456789012:role/app",
        Identity::Policies(Arc::new(set)),
    );
    assert_eq!(
        principal.evaluate(&request).is_allowed(),
        decision.is_allowed()
    );
    let _ = decision.denial_message("arn:aws:iam::123456789012:role/app", request.action, true);
}

/// SigV4 verification of arbitrary requests: authorization, date, method, path, query, extra
/// header lines (`name:value;...`), body.
pub fn sigv4(data: &[u8]) {
    let _ = sigv4_verifies(data);
}

/// [`sigv4`], saying whether the signature was accepted (the seed corpus holds a valid one, so the
/// fuzzer starts from the deepest path).
pub fn sigv4_verifies(data: &[u8]) -> bool {
    let parts = fields(data, 7);
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:8787"));
    if let Ok(date) = HeaderValue::from_bytes(parts[1]) {
        headers.insert("x-amz-date", date);
    }
    for line in parts[5].split(|&b| b == b';') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(&line[colon + 1..]),
        ) {
            headers.append(name, value);
        }
    }
    let mut keys = AccessKeys::default();
    keys.insert(
        "AKIDFUZZ".to_owned(),
        Secret::new("fuzz/secret".to_owned()),
        Arc::new(Principal::new(
            "fuzz",
            "arn:aws:iam::123456789012:role/fuzz",
            Identity::Unrestricted,
        )),
    );
    let authorization = text(parts[0]);
    let method = text(parts[2]);
    let path = text(parts[3]);
    let query = text(parts[4]);
    let request = IncomingRequest {
        head: RequestHead {
            method: &method,
            path: &path,
            query: (!query.is_empty()).then_some(query.as_str()),
            authority: None,
            headers: &headers,
        },
        body: parts[6],
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_599);
    let _ = sigv4::is_sigv4(&authorization);
    sigv4::verify(
        &keys,
        &request,
        &authorization,
        Duration::from_secs(300),
        now,
    )
    .is_ok()
}

/// Token accounting over response bodies cut into chunks at arbitrary points: event streams
/// (ConverseStream, InvokeModelWithResponseStream) and Converse JSON.
pub fn eventstream(data: &[u8]) {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-amzn-bedrock-input-token-count",
        HeaderValue::from_static("12"),
    );
    for operation in [
        Operation::ConverseStream,
        Operation::InvokeModelWithResponseStream,
        Operation::Converse,
        Operation::InvokeModel,
    ] {
        let mut meter = TokenMeter::for_response(Some(operation), StatusCode::OK, &headers);
        let step = usize::from(cut).max(1);
        for chunk in body.chunks(step) {
            meter.observe(chunk);
        }
        let _ = meter.finish();
    }
}

/// The fail-closed body reader: every combination of wants, checked against an allowlist; a
/// successful scan is deterministic and unaffected by leading whitespace.
pub fn body_keys(data: &[u8]) {
    let allow = S3Access::parse(&["s3://fuzz-bucket/in/*"]).ok();
    for (converse_keys, s3_locations, request_tags) in [
        (true, true, true),
        (true, false, false),
        (false, true, false),
        (false, false, true),
    ] {
        let want = Want {
            converse_keys,
            s3_locations,
            request_tags,
        };
        let first = body::scan(data, want);
        if let Ok(keys) = &first {
            for location in &keys.s3_locations {
                if let (body::S3Location::Uri(uri), Some(allow)) = (location, &allow) {
                    let _ = allow.allows(uri);
                }
            }
        }
        // Error positions move with the padding; values and the verdict do not.
        let padded = [b" \n\t".as_slice(), data].concat();
        if !data.starts_with(b"\xEF\xBB\xBF") {
            let again = body::scan(&padded, want);
            assert_eq!(again.as_ref().ok(), first.as_ref().ok());
            assert_eq!(again.is_err(), first.is_err());
        }
    }
}
