//! ARN-aware matching, shared by `Resource`/`NotResource` and the `Arn*` condition operators.
//!
//! IAM compares an ARN part by part: `arn`, partition, service, region, account, then the resource
//! (everything after the fifth colon, which may itself contain `:` and `/`). A `*` in one of the first five
//! parts therefore never swallows a colon into the next part, which a whole-string glob would allow.
//! Matching is case-sensitive, like IAM's.

use std::fmt;

use super::glob::{glob_match, Case};

/// The five colon-separated parts before the resource part.
const HEAD_PARTS: usize = 5;

/// A request ARN split into its six parts, borrowed: splitting at evaluation allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    head: [&'a str; HEAD_PARTS],
    resource: &'a str,
}

impl<'a> Arn<'a> {
    /// `None` when `text` has fewer than six colon-separated parts (including the literal `*` that list
    /// operations are authorized against).
    pub fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.splitn(HEAD_PARTS + 1, ':');
        let mut head = [""; HEAD_PARTS];
        for slot in &mut head {
            *slot = parts.next()?;
        }
        let resource = parts.next()?;
        Some(Self { head, resource })
    }
}

/// A compiled `Resource` entry (or `Arn*` condition value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArnPattern {
    /// `"*"` alone: every resource, ARN or not.
    Any,
    Arn {
        head: [Box<str>; HEAD_PARTS],
        resource: Box<str>,
    },
}

impl ArnPattern {
    /// `None` when `text` is neither `*` nor an ARN (`arn:` followed by five more colon-separated parts);
    /// the caller turns that into AWS's "must be in ARN format" error.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "*" {
            return Some(Self::Any);
        }
        let arn = Arn::parse(text)?;
        if arn.head[0] != "arn" {
            return None;
        }
        Some(Self::Arn {
            head: arn.head.map(Box::from),
            resource: arn.resource.into(),
        })
    }

    /// Whether the pattern matches a request resource, given as its parsed ARN; `None` stands for a
    /// resource that is not an ARN, such as the `*` of list operations, which only the pattern `*` matches.
    pub fn matches(&self, arn: Option<&Arn<'_>>) -> bool {
        match (self, arn) {
            (Self::Any, _) => true,
            (Self::Arn { head, resource }, Some(arn)) => {
                head.iter()
                    .zip(arn.head.iter())
                    .all(|(p, t)| glob_match(p, t, Case::Sensitive))
                    && glob_match(resource, arn.resource, Case::Sensitive)
            }
            (Self::Arn { .. }, None) => false,
        }
    }

    /// Convenience for one-off matches (condition values): parses `text` on the spot, still without
    /// allocating.
    pub fn matches_str(&self, text: &str) -> bool {
        self.matches(Arn::parse(text).as_ref())
    }
}

impl fmt::Display for ArnPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Arn { head, resource } => {
                for part in head {
                    write!(f, "{part}:")?;
                }
                f.write_str(resource)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, arn: &str) -> bool {
        let Some(pattern) = ArnPattern::parse(pattern) else {
            panic!("bad pattern {pattern}");
        };
        pattern.matches_str(arn)
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "*", true),
            ("*", "arn:aws:bedrock:us-east-1::foundation-model/x", true),
            ("*", "not-an-arn", true),
            // Empty account: `*` matches the empty string.
            (
                "arn:aws:bedrock:*:*:foundation-model/*",
                "arn:aws:bedrock:us-east-1::foundation-model/x",
                true,
            ),
            (
                "arn:aws:bedrock:*::foundation-model/*",
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1",
                true,
            ),
            // An empty account in the pattern requires an empty account.
            (
                "arn:aws:bedrock:*::foundation-model/*",
                "arn:aws:bedrock:us-east-1:123456789012:foundation-model/x",
                false,
            ),
            // `*` in the region does not cross into the account part (a whole-string glob would match).
            (
                "arn:aws:bedrock:*:foundation-model/x:0",
                "arn:aws:bedrock:us-east-1::foundation-model/x:0",
                false,
            ),
            (
                "arn:aws:bedrock:us-*:123456789012:inference-profile/*",
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x",
                true,
            ),
            (
                "arn:aws:bedrock:us-*:123456789012:inference-profile/*",
                "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.x",
                false,
            ),
            // The sixth part holds `:` and `/`; its `*` spans them.
            (
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-opus-20240229-v1:0",
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-opus-20240229-v1:0",
                true,
            ),
            (
                "arn:aws:bedrock:*:*:*",
                "arn:aws:bedrock:us-east-1:1:foundation-model/a:b/c:d",
                true,
            ),
            (
                "arn:aws:bedrock:*:*:foundation-model/a*d",
                "arn:aws:bedrock:us-east-1:1:foundation-model/a:b/c:d",
                true,
            ),
            // A whole-string `*` in the pattern's resource part does not reach back into the head.
            (
                "arn:aws:bedrock:*:*:x*",
                "arn:aws:bedrock:us-east-1:1:foundation-model/x",
                false,
            ),
            // Case-sensitive.
            (
                "arn:aws:bedrock:*:*:foundation-model/Anthropic.*",
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.x",
                false,
            ),
            (
                "arn:aws:Bedrock:*:*:*",
                "arn:aws:bedrock:us-east-1::foundation-model/x",
                false,
            ),
            // `?` is one character.
            (
                "arn:aws:bedrock:us-east-?::foundation-model/x",
                "arn:aws:bedrock:us-east-1::foundation-model/x",
                true,
            ),
            // The request resource `*` (list operations) only matches the pattern `*`.
            ("arn:*:*:*:*:*", "*", false),
            ("arn:aws:bedrock:*:*:*", "arn:aws:bedrock", false),
        ];
        for &(pattern, arn, want) in cases {
            assert_eq!(matches(pattern, arn), want, "{pattern} vs {arn}");
        }
    }

    #[test]
    fn rejects_non_arns() {
        for bad in ["", "foo", "arn:aws:bedrock", "foo:aws:bedrock:::x", "**"] {
            assert_eq!(ArnPattern::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        let text = "arn:aws:bedrock:*::foundation-model/a:b";
        assert_eq!(
            ArnPattern::parse(text).map(|p| p.to_string()).as_deref(),
            Some(text)
        );
    }
}
