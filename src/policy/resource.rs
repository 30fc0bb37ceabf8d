//! ARN-aware matching, shared by `Resource`/`NotResource` and the `Arn*` condition operators.
//!
//! IAM compares an ARN part by part: `arn`, partition, service, region, account, then the resource
//! (everything after the fifth colon, which may itself contain `:` and `/`). A `*` in one of the first five
//! parts therefore never swallows a colon into the next part, which a whole-string glob would allow.
//! Matching is case-sensitive, like IAM's.
//!
//! IAM also accepts resources with fewer than six parts (`arn:aws:bedrock:*`,
//! `arn:aws:bedrock:us-east-1:*`) and reads the missing parts as `*`: its own error messages print
//! `a:b:cadfsdf` as `"arn:b:cadfsdf:*:*:*"`, and the Resource element page says a `*` that ends a segment
//! "can expand to match beyond the colon boundaries". [`ArnPattern`] pads them the same way.

use std::fmt;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::glob::Case;
use super::variables::{Template, Vars};

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
        // A byte loop rather than `splitn`: the head parts are a few bytes each, and the searcher's
        // per-call set-up showed up in the decision benchmark. `:` is ASCII, so every cut is a
        // character boundary.
        let bytes = text.as_bytes();
        let mut head = [""; HEAD_PARTS];
        let mut start = 0;
        let mut filled = 0;
        for (at, &b) in bytes.iter().enumerate() {
            if b == b':' {
                head[filled] = text.get(start..at)?;
                start = at + 1;
                filled += 1;
                if filled == HEAD_PARTS {
                    break;
                }
            }
        }
        if filled < HEAD_PARTS {
            return None;
        }
        let resource = text.get(start..)?;
        Some(Self { head, resource })
    }

    /// The sixth part: everything after the fifth colon.
    pub fn resource(&self) -> &'a str {
        self.resource
    }
}

/// A compiled `Resource` entry (or `Arn*` condition value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArnPattern {
    /// `"*"` alone: every resource, ARN or not.
    Any,
    Arn {
        /// `arn`, partition, service, region, account. Shared: a large policy repeats a handful of
        /// heads (`arn:aws:bedrock:*:`) thousands of times, and [`ArnPattern::parse_sharing`] lets
        /// them point at one copy (240 bytes and three small strings saved per pattern).
        head: Arc<[Template; HEAD_PARTS]>,
        resource: Template,
        /// How many parts were written (3 to 6); the others were padded with `*`. Kept so that the
        /// pattern displays as written.
        written: u8,
    },
}

/// The partitions IAM knows; any other partition is refused, as IAM does.
pub const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// IAM's checks on a `Resource` / `NotResource` entry, in IAM's order and with IAM's wording. `Err` is
/// the message IAM gives; `Ok` means IAM stores the policy (then [`ArnPattern::parse_with_variables`]
/// reads it).
pub fn validate(text: &str) -> Result<(), String> {
    if text == "*" {
        return Ok(());
    }
    let Some((_, rest)) = text.split_once(':') else {
        return Err(format!("Resource {text} must be in ARN format or \"*\"."));
    };
    let (partition, after) = match rest.split_once(':') {
        Some((partition, after)) => (partition, Some(after)),
        None => (rest, None),
    };
    // A policy variable may stand for the partition; IAM resolves it at evaluation.
    if partition != "*" && !partition.contains("${") && !PARTITIONS.contains(&partition) {
        let mut parts: Vec<&str> = after.map(|a| a.split(':').collect()).unwrap_or_default();
        if parts.len() == 1 && parts[0].is_empty() {
            parts.clear();
        }
        let (head, tail) = parts.split_at(parts.len().min(HEAD_PARTS - 2));
        let mut shown = vec!["arn", partition];
        shown.extend(head);
        while shown.len() < HEAD_PARTS {
            shown.push("*");
        }
        let tail = tail.join(":");
        shown.push(if tail.is_empty() { "*" } else { &tail });
        return Err(format!(
            "Partition \"{partition}\" is not valid for resource \"{}\".",
            shown.join(":")
        ));
    }
    let Some(after) = after else {
        return Err("Resource vendor must be fully qualified and cannot contain regexes.".into());
    };
    // IAM's "legacy parsing": a short ARN may not leave a part empty, and the service is never empty.
    let colons = text.bytes().filter(|&b| b == b':').count();
    let service = after.split(':').next().unwrap_or("");
    if (colons < HEAD_PARTS && text.contains("::")) || service.is_empty() {
        return Err("The policy failed legacy parsing".into());
    }
    Ok(())
}

/// Heads already compiled while compiling one policy set, by the text that spells them (without and
/// with policy variables): a large policy names a handful of heads thousands of times, and each is
/// parsed and held once (see [`ArnPattern::parse_sharing`]).
#[derive(Debug, Default)]
pub(crate) struct SharedHeads([FxHashMap<Box<str>, Arc<[Template; HEAD_PARTS]>>; 2]);

impl SharedHeads {
    fn get_or_parse(
        &mut self,
        text: &str,
        parts: &[&str; HEAD_PARTS],
        variables: bool,
    ) -> Result<Arc<[Template; HEAD_PARTS]>, String> {
        let known = &mut self.0[usize::from(variables)];
        if let Some(head) = known.get(text) {
            return Ok(Arc::clone(head));
        }
        // The first part reads as `arn` whatever it says, as IAM prints it.
        let head = Arc::new([
            Template::parse("arn", false)?,
            Template::parse(parts[1], variables)?,
            Template::parse(parts[2], variables)?,
            Template::parse(parts[3], variables)?,
            Template::parse(parts[4], variables)?,
        ]);
        known.insert(text.into(), Arc::clone(&head));
        Ok(head)
    }
}

impl ArnPattern {
    /// `None` when `text` is neither `*` nor an ARN (`arn:` followed by five more colon-separated parts);
    /// the caller turns that into AWS's "must be in ARN format" error. No policy variables.
    pub fn parse(text: &str) -> Option<Self> {
        Self::parse_with_variables(text, false).ok().flatten()
    }

    /// Like [`ArnPattern::parse`], expanding policy variables when `variables` is true (Version
    /// 2012-10-17). `Err` is a detail for a syntax error in a variable; `Ok(None)` is "not an ARN"
    /// (fewer than three parts). A colon inside `${...}` (`${aws:PrincipalTag/team}`) does not
    /// separate parts. Missing parts read as `*` (see the module comment); the first part reads as
    /// `arn` whatever it says, as IAM prints it.
    pub fn parse_with_variables(text: &str, variables: bool) -> Result<Option<Self>, String> {
        Self::parse_sharing(text, variables, &mut SharedHeads::default())
    }

    /// [`ArnPattern::parse_with_variables`] for a policy set's compiler: a head already in `heads` is
    /// not parsed again, and the pattern points at that one copy.
    pub(crate) fn parse_sharing(
        text: &str,
        variables: bool,
        heads: &mut SharedHeads,
    ) -> Result<Option<Self>, String> {
        if text == "*" {
            return Ok(Some(Self::Any));
        }
        let split = split_parts(text, variables);
        if split.written < 3 {
            return Ok(None);
        }
        let head = heads.get_or_parse(&text[..split.head_len], &split.head, variables)?;
        Ok(Some(Self::Arn {
            head,
            resource: Template::parse(split.resource, variables)?,
            written: split.written,
        }))
    }

    /// What [`ArnPattern::parse_with_variables`] would say of `text`, without building the pattern:
    /// `Ok(false)` for "not an ARN", `Err` for a syntax error in a variable. For validation, which
    /// runs before the compiler parses the pattern for keeps.
    pub(crate) fn check(text: &str, variables: bool) -> Result<bool, String> {
        if text == "*" {
            return Ok(true);
        }
        let split = split_parts(text, variables);
        if split.written < 3 {
            return Ok(false);
        }
        for part in split.head[1..].iter().chain([&split.resource]) {
            Template::check(part, variables)?;
        }
        Ok(true)
    }

    /// Whether the pattern matches a request resource, given as its parsed ARN; `None` stands for a
    /// resource that is not an ARN, such as the `*` of list operations, which only the pattern `*` matches.
    pub fn matches(&self, arn: Option<&Arn<'_>>, vars: &dyn Vars) -> bool {
        match (self, arn) {
            (Self::Any, _) => true,
            (Self::Arn { head, resource, .. }, Some(arn)) => {
                head.iter()
                    .zip(arn.head.iter())
                    .all(|(p, t)| p.glob(t, Case::Sensitive, vars))
                    && resource.glob(arn.resource, Case::Sensitive, vars)
            }
            (Self::Arn { .. }, None) => false,
        }
    }

    /// Convenience for one-off matches (condition values): parses `text` on the spot, still without
    /// allocating.
    pub fn matches_str(&self, text: &str, vars: &dyn Vars) -> bool {
        self.matches(Arn::parse(text).as_ref(), vars)
    }

    /// The resource part's literal prefix (`foundation-model/anthropic.`), `None` for `*`.
    pub fn resource_prefix(&self) -> Option<&str> {
        match self {
            Self::Any => None,
            Self::Arn { resource, .. } => Some(resource.literal_prefix()),
        }
    }

    /// The longest literal run of the resource part (`.anthropic.claude-` in `*.anthropic.claude-*`):
    /// every ARN the pattern matches contains it. `None` for `*`.
    pub fn resource_literal(&self) -> Option<&str> {
        match self {
            Self::Any => None,
            Self::Arn { resource, .. } => Some(resource.longest_literal()),
        }
    }

    /// The service part as written (`bedrock`, `*`), `None` for `*`.
    pub fn service(&self) -> Option<&str> {
        match self {
            Self::Any => None,
            Self::Arn { head, .. } => Some(head[2].as_str()),
        }
    }

    /// The resource part as written, `None` for `*`.
    pub fn resource_text(&self) -> Option<&str> {
        match self {
            Self::Any => None,
            Self::Arn { resource, .. } => Some(resource.as_str()),
        }
    }

    pub fn has_variables(&self) -> bool {
        match self {
            Self::Any => false,
            Self::Arn { head, resource, .. } => {
                resource.has_variables() || head.iter().any(Template::has_variables)
            }
        }
    }

    /// The condition keys read by the pattern's variables.
    pub fn variable_keys(&self) -> Vec<&str> {
        match self {
            Self::Any => Vec::new(),
            Self::Arn { head, resource, .. } => head
                .iter()
                .chain(std::iter::once(resource))
                .flat_map(Template::variable_keys)
                .collect(),
        }
    }
}

/// A pattern's text cut into its parts (see [`split_parts`]).
struct Split<'a> {
    /// Parts not written are `*`.
    head: [&'a str; HEAD_PARTS],
    resource: &'a str,
    /// How many parts were written.
    written: u8,
    /// The length of the text that spells the head (the resource part and its colon excluded).
    head_len: usize,
}

/// Splits at the first five colons that are not inside `${...}`.
fn split_parts(text: &str, variables: bool) -> Split<'_> {
    let mut head = ["*"; HEAD_PARTS];
    let mut filled = 0;
    let mut start = 0;
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() && filled < HEAD_PARTS {
        match bytes[i] {
            b'$' if variables && bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth > 0 => depth -= 1,
            b':' if depth == 0 => {
                head[filled] = &text[start..i];
                filled += 1;
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if filled == HEAD_PARTS {
        return Split {
            head,
            resource: &text[start..],
            written: 6,
            head_len: start,
        };
    }
    // The last written part is a head part; the parts after it stay `*`.
    head[filled] = &text[start..];
    Split {
        head,
        resource: "*",
        written: (filled + 1) as u8,
        head_len: text.len(),
    }
}

impl fmt::Display for ArnPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Arn {
                head,
                resource,
                written,
            } => {
                let written = usize::from(*written);
                for (i, part) in head.iter().take(written).enumerate() {
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    f.write_str(part.as_str())?;
                }
                if written > HEAD_PARTS {
                    write!(f, ":{}", resource.as_str())?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::variables::NoVars;

    fn matches(pattern: &str, arn: &str) -> bool {
        let Some(pattern) = ArnPattern::parse(pattern) else {
            panic!("bad pattern {pattern}");
        };
        pattern.matches_str(arn, &NoVars)
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
            // Fewer than six parts: the missing parts read as `*`.
            (
                "arn:aws:bedrock:*",
                "arn:aws:bedrock:eu-west-1:1:inference-profile/eu.x",
                true,
            ),
            (
                "arn:aws:bedrock:*",
                "arn:aws:bedrock:us-east-1::foundation-model/a:b",
                true,
            ),
            ("arn:aws:bedrock:*", "arn:aws:s3:::bucket", false),
            (
                "arn:aws:bedrock:us-east-1:*",
                "arn:aws:bedrock:us-east-1::foundation-model/x",
                true,
            ),
            (
                "arn:aws:bedrock:us-east-1:*",
                "arn:aws:bedrock:us-west-2::foundation-model/x",
                false,
            ),
            (
                "arn:aws:bedrock:us-*",
                "arn:aws:bedrock:us-west-2:1:inference-profile/x",
                true,
            ),
            (
                "arn:aws:bedrock:us-*",
                "arn:aws:bedrock:eu-west-1:1:inference-profile/x",
                false,
            ),
            (
                "arn:aws:bedrock",
                "arn:aws:bedrock:eu-west-1:1:inference-profile/x",
                true,
            ),
            (
                "arn:aws:bedrock:us-east-1",
                "arn:aws:bedrock:us-east-1::foundation-model/x",
                true,
            ),
            (
                "arn:aws:bedrock:us-east-1:1",
                "arn:aws:bedrock:us-east-1:2:inference-profile/x",
                false,
            ),
            (
                "arn:aws:bedrock:us-east-1:1",
                "arn:aws:bedrock:us-east-1:1:inference-profile/x",
                true,
            ),
            // The padded parts still match segment by segment: the region `*` is not the account.
            ("arn:aws:bedrock:*", "*", false),
        ];
        for &(pattern, arn, want) in cases {
            assert_eq!(matches(pattern, arn), want, "{pattern} vs {arn}");
        }
    }

    #[test]
    fn rejects_non_arns() {
        for bad in ["", "foo", "arn:aws", "arn:", "**"] {
            assert_eq!(ArnPattern::parse(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// Validation's `check` says what parsing says, and parsing with a shared head cache builds
        /// the same pattern as parsing alone, whatever the cache already holds.
        #[test]
        fn check_and_shared_parse_agree_with_parse(
            texts in proptest::collection::vec("(arn|\\*|x)?(:[a-z*]{0,2}|:\\$\\{aws:[a-z]{0,2}\\}?|:\\$\\{|:}){0,7}", 1..6),
            variables in proptest::bool::ANY,
        ) {
            let mut heads = SharedHeads::default();
            for text in &texts {
                let parsed = ArnPattern::parse_with_variables(text, variables);
                let checked = ArnPattern::check(text, variables);
                proptest::prop_assert_eq!(checked, parsed.as_ref().map(Option::is_some).map_err(Clone::clone));
                proptest::prop_assert_eq!(ArnPattern::parse_sharing(text, variables, &mut heads), parsed);
            }
        }

        /// The byte loop splits exactly like `splitn(6, ':')`.
        #[test]
        fn arn_parse_agrees_with_splitn(text in "[a:/é*]{0,14}") {
            let parts: Vec<&str> = text.splitn(HEAD_PARTS + 1, ':').collect();
            let want = (parts.len() == HEAD_PARTS + 1).then(|| Arn {
                head: [parts[0], parts[1], parts[2], parts[3], parts[4]],
                resource: parts[5],
            });
            proptest::prop_assert_eq!(Arn::parse(&text), want);
        }
    }

    #[test]
    fn equal_heads_are_shared_and_still_match() {
        let mut heads = SharedHeads::default();
        let mut parse = |text: &str| {
            ArnPattern::parse_sharing(text, true, &mut heads)
                .unwrap()
                .unwrap()
        };
        let patterns = [
            parse("arn:aws:bedrock:*::foundation-model/a"),
            parse("arn:aws:bedrock:*::foundation-model/b*"),
            parse("arn:aws:bedrock:us-east-1::foundation-model/a"),
        ];
        let heads: Vec<&Arc<[Template; HEAD_PARTS]>> = patterns
            .iter()
            .map(|p| match p {
                ArnPattern::Arn { head, .. } => head,
                ArnPattern::Any => panic!("not an ARN pattern"),
            })
            .collect();
        assert!(Arc::ptr_eq(heads[0], heads[1]));
        assert!(!Arc::ptr_eq(heads[0], heads[2]));
        assert!(patterns[1].matches_str("arn:aws:bedrock:eu-west-1::foundation-model/bx", &NoVars));
        assert!(!patterns[2].matches_str("arn:aws:bedrock:eu-west-1::foundation-model/a", &NoVars));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "arn:aws:bedrock:*::foundation-model/a:b",
            "arn:aws:bedrock:*",
            "arn:aws:bedrock:us-east-1:*",
            "arn:aws:bedrock:us-east-1:1:",
            "arn:aws:bedrock",
        ] {
            assert_eq!(
                ArnPattern::parse(text).map(|p| p.to_string()).as_deref(),
                Some(text)
            );
        }
    }

    /// IAM's wording for the resources it refuses (the cases moto records from IAM's answers).
    #[test]
    fn validate_says_what_iam_says() {
        let cases: &[(&str, Result<(), &str>)] = &[
            ("*", Ok(())),
            ("arn:aws:bedrock:*", Ok(())),
            ("arn:aws:bedrock:us-east-1:*", Ok(())),
            ("arn:aws:fdsasf", Ok(())),
            ("arn:*:bedrock:*:*:*", Ok(())),
            ("arn:aws:s3:::bucket", Ok(())),
            ("", Err("Resource  must be in ARN format or \"*\".")),
            ("adf", Err("Resource adf must be in ARN format or \"*\".")),
            (
                "a:bsdfdsafsad",
                Err("Partition \"bsdfdsafsad\" is not valid for resource \"arn:bsdfdsafsad:*:*:*:*\"."),
            ),
            (
                "a:b:cadfsdf",
                Err("Partition \"b\" is not valid for resource \"arn:b:cadfsdf:*:*:*\"."),
            ),
            (
                "a:b:c:d:e:f:g:h",
                Err("Partition \"b\" is not valid for resource \"arn:b:c:d:e:f:g:h\"."),
            ),
            (
                "aws:s3:::example_bucket",
                Err("Partition \"s3\" is not valid for resource \"arn:s3:::example_bucket:*\"."),
            ),
            (
                "arn:aws",
                Err("Resource vendor must be fully qualified and cannot contain regexes."),
            ),
            ("arn:aws:s3::example_bucket", Err("The policy failed legacy parsing")),
            ("arn:aws::::example_bucket", Err("The policy failed legacy parsing")),
            ("arn:aws::fdsasf", Err("The policy failed legacy parsing")),
        ];
        for (text, want) in cases {
            assert_eq!(
                validate(text).as_ref().map_err(String::as_str),
                want.as_ref().map_err(|e| *e),
                "{text}"
            );
        }
    }
}
