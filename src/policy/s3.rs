//! Which S3 locations a principal may name in a request. Bedrock reads (Converse `s3Location`
//! sources, model-native bodies) and writes (StartAsyncInvoke output) those locations with the
//! identity that signed the call, which behind the guard is the proxy's: without this check any
//! caller could borrow the proxy's S3 access.
//!
//! Patterns: `"*"` (any location), or `s3://BUCKET[/KEY]` where `*` matches any run and `?` one
//! character. Bucket and key are matched separately, so a wildcard in the bucket never reaches into
//! the key (`s3://team-*/out/*` does not match `s3://team-a/x/out/y` through `team-a/x`). A pattern
//! without a key part (`s3://bucket`) matches the bucket itself only; `s3://bucket/*` matches every
//! object in it. Matching is case-sensitive and on the URI exactly as the request spells it (after
//! JSON unescaping), so `S3://...` or a leading blank matches nothing.

use super::glob::{glob_match, Case};

/// A principal's S3 allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Access {
    /// Any location (the proxy's own application: sidecar and local use).
    Any,
    /// Only locations matching one of these patterns; empty: none.
    Only(Vec<S3Pattern>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Pattern {
    text: String,
    bucket: String,
    /// `None`: the pattern names the bucket itself.
    key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("S3 location pattern {pattern:?}: {reason}")]
pub struct S3PatternError {
    pub pattern: String,
    pub reason: &'static str,
}

impl S3Access {
    /// No location at all.
    pub fn none() -> Self {
        S3Access::Only(Vec::new())
    }

    /// Compiles a configured list; `"*"` anywhere in it means [`S3Access::Any`].
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<Self, S3PatternError> {
        let mut compiled = Vec::with_capacity(patterns.len());
        let mut any = false;
        for pattern in patterns {
            let pattern = pattern.as_ref();
            if pattern == "*" {
                any = true;
                continue;
            }
            compiled.push(S3Pattern::parse(pattern)?);
        }
        Ok(if any {
            S3Access::Any
        } else {
            S3Access::Only(compiled)
        })
    }

    /// Whether requests must be scanned for S3 locations at all.
    pub fn is_restricted(&self) -> bool {
        !matches!(self, S3Access::Any)
    }

    pub fn allows(&self, uri: &str) -> bool {
        match self {
            S3Access::Any => true,
            S3Access::Only(patterns) => {
                let Some((bucket, key)) = split_uri(uri) else {
                    return false;
                };
                patterns.iter().any(|p| p.matches(bucket, key))
            }
        }
    }
}

impl S3Pattern {
    pub fn parse(text: &str) -> Result<Self, S3PatternError> {
        let error = |reason| S3PatternError {
            pattern: text.to_owned(),
            reason,
        };
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| error("must be \"*\" or start with s3:// (lower case)"))?;
        let (bucket, key) = match rest.split_once('/') {
            Some((bucket, key)) => (bucket, Some(key)),
            None => (rest, None),
        };
        if bucket.is_empty() {
            return Err(error("names no bucket"));
        }
        // Bucket names are lower-case letters, digits, dots and hyphens; an upper-case or other
        // character could never match, so it is a typo worth reporting.
        if !bucket
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'?'))
        {
            return Err(error(
                "the bucket may only hold a-z, 0-9, '.', '-' and the wildcards * and ?",
            ));
        }
        if bucket.len() > 63 {
            return Err(error("the bucket is longer than 63 characters"));
        }
        if text.chars().any(char::is_control) {
            return Err(error("contains a control character"));
        }
        Ok(S3Pattern {
            text: text.to_owned(),
            bucket: bucket.to_owned(),
            key: key.map(str::to_owned),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn matches(&self, bucket: &str, key: Option<&str>) -> bool {
        if !glob_match(&self.bucket, bucket, Case::Sensitive) {
            return false;
        }
        match (&self.key, key) {
            (None, None) => true,
            (None, Some(key)) => key.is_empty(),
            (Some(pattern), key) => glob_match(pattern, key.unwrap_or(""), Case::Sensitive),
        }
    }
}

/// `s3://bucket/key` -> (`bucket`, `Some("key")`); `s3://bucket` -> (`bucket`, `None`). Anything not
/// starting with `s3://` or naming no bucket is `None` (and allowed by no pattern).
fn split_uri(uri: &str) -> Option<(&str, Option<&str>)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = match rest.split_once('/') {
        Some((bucket, key)) => (bucket, Some(key)),
        None => (rest, None),
    };
    (!bucket.is_empty()).then_some((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn access(patterns: &[&str]) -> S3Access {
        S3Access::parse(patterns).unwrap()
    }

    #[test]
    fn matching_table() {
        let cases: Vec<(&[&str], &str, bool)> = vec![
            (&["*"], "anything at all", true),
            (&[], "s3://b/k", false),
            (&["s3://docs/*"], "s3://docs/a.pdf", true),
            (&["s3://docs/*"], "s3://docs/deep/er/a.pdf", true),
            (&["s3://docs/*"], "s3://docs/", true),
            (&["s3://docs/*"], "s3://docs", true),
            (&["s3://docs/*"], "s3://docs-evil/a", false),
            (&["s3://docs/*"], "S3://docs/a", false),
            (&["s3://docs/*"], " s3://docs/a", false),
            (&["s3://docs/*"], "https://docs.s3.amazonaws.com/a", false),
            (&["s3://docs"], "s3://docs", true),
            (&["s3://docs"], "s3://docs/", true),
            (&["s3://docs"], "s3://docs/a", false),
            (&["s3://docs/in/*"], "s3://docs/in/x", true),
            (&["s3://docs/in/*"], "s3://docs/out/x", false),
            (&["s3://docs/in/*"], "s3://docs/In/x", false),
            (&["s3://team-*/out/*"], "s3://team-a/out/x", true),
            (&["s3://team-*/out/*"], "s3://team-a/x/out/y", false),
            (&["s3://team-?/*"], "s3://team-ab/x", false),
            (&["s3://a/*", "s3://b/k"], "s3://b/k", true),
            (&["s3://a/*", "s3://b/k"], "s3://b/k2", false),
            (&["s3://a/*"], "s3://", false),
            (&["s3://a/*"], "", false),
        ];
        for (patterns, uri, expected) in cases {
            assert_eq!(access(patterns).allows(uri), expected, "{patterns:?} {uri}");
        }
    }

    #[test]
    fn invalid_patterns_are_refused() {
        for bad in [
            "",
            "docs/*",
            "S3://docs/*",
            "s3:/docs",
            "s3:///key",
            "s3://Docs/*",
            "s3://docs_x/*",
            "s3://docs/\n",
            "arn:aws:s3:::docs/*",
        ] {
            let err = S3Access::parse(&[bad]).unwrap_err();
            assert_eq!(err.pattern, bad);
        }
        assert!(access(&[]).is_restricted());
        assert!(!access(&["*", "s3://a/*"]).is_restricted());
        assert!(access(&["s3://a/*"]).is_restricted());
    }

    proptest! {
        /// A bucket wildcard never matches across into the key, and an exact pattern matches only
        /// itself.
        #[test]
        fn exact_patterns_match_only_themselves(bucket in "[a-z0-9][a-z0-9.-]{1,20}", key in "[ -~]{0,20}", other in "[ -~]{0,20}") {
            let uri = format!("s3://{bucket}/{key}");
            let exact = key.chars().all(|c| c != '*' && c != '?');
            prop_assume!(exact);
            let a = access(&[uri.as_str()]);
            prop_assert!(a.allows(&uri));
            prop_assert_eq!(a.allows(&format!("s3://{bucket}/{other}")), other == key);
        }

        #[test]
        fn prefix_patterns_match_everything_below(bucket in "[a-z0-9]{3,10}", prefix in "[a-z/]{0,10}", rest in "\\PC{0,20}") {
            let a = access(&[format!("s3://{bucket}/{prefix}*").as_str()]);
            let uri = format!("s3://{bucket}/{prefix}{rest}");
            prop_assert!(a.allows(&uri));
            let elsewhere = format!("s3://{bucket}x/{prefix}{rest}");
            prop_assert!(!a.allows(&elsewhere));
        }
    }
}
