//! The `Condition` element: operators, their validation at load, and their evaluation against the request
//! context.
//!
//! Supported now: the String*, Arn*, `Bool` and `Null` families, `...IfExists`, and the `ForAnyValue:` /
//! `ForAllValues:` set qualifiers. The other IAM families are recognised and refused at load ("not
//! supported yet") so that a policy relying on them fails closed instead of being half-understood.

use std::fmt;

use super::error::{PolicyError, SYNTAX, VENDOR_PREFIX};
use super::glob::{glob_match, Case};
use super::request::RequestContext;
use super::resource::ArnPattern;

/// A condition operator without its qualifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseOperator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Bool,
    Null,
}

const SUPPORTED: &[(&str, BaseOperator)] = &[
    ("StringEquals", BaseOperator::StringEquals),
    ("StringNotEquals", BaseOperator::StringNotEquals),
    (
        "StringEqualsIgnoreCase",
        BaseOperator::StringEqualsIgnoreCase,
    ),
    (
        "StringNotEqualsIgnoreCase",
        BaseOperator::StringNotEqualsIgnoreCase,
    ),
    ("StringLike", BaseOperator::StringLike),
    ("StringNotLike", BaseOperator::StringNotLike),
    ("ArnEquals", BaseOperator::ArnEquals),
    ("ArnLike", BaseOperator::ArnLike),
    ("ArnNotEquals", BaseOperator::ArnNotEquals),
    ("ArnNotLike", BaseOperator::ArnNotLike),
    ("Bool", BaseOperator::Bool),
    ("Null", BaseOperator::Null),
];

/// Valid IAM operators this engine cannot evaluate yet.
const NOT_YET_SUPPORTED: &[&str] = &[
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
];

/// How a value from the request is compared with one value from the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Exact,
    IgnoreCase,
    Like,
    Arn,
    Bool,
    Null,
}

impl BaseOperator {
    pub fn name(self) -> &'static str {
        SUPPORTED
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("?", |(name, _)| name)
    }

    /// Negated operators hold when the request value matches none of the policy values, and when the key
    /// is missing.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals
                | Self::StringNotEqualsIgnoreCase
                | Self::StringNotLike
                | Self::ArnNotEquals
                | Self::ArnNotLike
        )
    }

    fn comparison(self) -> Comparison {
        match self {
            Self::StringEquals | Self::StringNotEquals => Comparison::Exact,
            Self::StringEqualsIgnoreCase | Self::StringNotEqualsIgnoreCase => {
                Comparison::IgnoreCase
            }
            Self::StringLike | Self::StringNotLike => Comparison::Like,
            // IAM documents ArnEquals with the same per-part wildcards as ArnLike.
            Self::ArnEquals | Self::ArnLike | Self::ArnNotEquals | Self::ArnNotLike => {
                Comparison::Arn
            }
            Self::Bool => Comparison::Bool,
            Self::Null => Comparison::Null,
        }
    }
}

/// `ForAnyValue:` / `ForAllValues:`, for keys with several values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

/// A full operator name such as `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub qualifier: Option<SetQualifier>,
    pub base: BaseOperator,
    pub if_exists: bool,
}

impl Operator {
    /// Parses an operator name (case-sensitive, as written in AWS's documentation).
    pub fn parse(name: &str) -> Result<Self, PolicyError> {
        let syntax = || {
            PolicyError::problem(SYNTAX).with_detail(format!("unknown condition operator {name}"))
        };
        let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else {
            (None, name)
        };
        let (base_name, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        match SUPPORTED.iter().find(|(n, _)| *n == base_name) {
            // Null asks whether the key exists; IfExists or a set qualifier make no sense with it.
            Some((_, BaseOperator::Null)) if if_exists || qualifier.is_some() => Err(syntax()),
            Some(&(_, base)) => Ok(Self {
                qualifier,
                base,
                if_exists,
            }),
            None if NOT_YET_SUPPORTED.contains(&base_name) => Err(PolicyError::problem(format!(
                "Condition operator {name} is not supported yet by bedrock-guard."
            ))),
            None => Err(syntax()),
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.qualifier {
            Some(SetQualifier::ForAnyValue) => f.write_str("ForAnyValue:")?,
            Some(SetQualifier::ForAllValues) => f.write_str("ForAllValues:")?,
            None => {}
        }
        f.write_str(self.base.name())?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

/// One operator applied to one key, with the values that are ORed for it. A policy's `Condition` block
/// becomes a list of these, all of which must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    operator: Operator,
    key: String,
    values: Vec<String>,
    /// The values prepared for evaluation, so that evaluating parses nothing.
    compiled: Compiled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Compiled {
    Strings,
    Arns(Vec<ArnPattern>),
    /// For each value: does it ask for the key to be missing (`"true"`)?
    Null(Vec<bool>),
}

impl Condition {
    /// Validates one key under one operator. `variables` is true for Version 2012-10-17 policies, where
    /// `${...}` would be a policy variable, which this engine does not expand yet.
    pub(crate) fn new(
        operator: Operator,
        key: &str,
        values: Vec<String>,
        variables: bool,
    ) -> Result<Self, PolicyError> {
        if !has_vendor_prefix(key) {
            return Err(
                PolicyError::problem(VENDOR_PREFIX).with_detail(format!("condition key \"{key}\""))
            );
        }
        if values.is_empty() {
            return Err(PolicyError::problem(SYNTAX)
                .with_detail(format!("no values for condition key \"{key}\"")));
        }
        let compiled = match operator.base.comparison() {
            Comparison::Null => Compiled::Null(
                values
                    .iter()
                    .map(|v| match v.as_str() {
                        "true" => Ok(true),
                        "false" => Ok(false),
                        _ => Err(PolicyError::problem(format!(
                            "Null condition values must be \"true\" or \"false\", not \"{v}\"."
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            comparison => {
                if variables {
                    if let Some(variable) = values.iter().find_map(|v| find_variable(v)) {
                        return Err(variable_not_supported(variable));
                    }
                }
                if comparison == Comparison::Arn {
                    Compiled::Arns(
                        values
                            .iter()
                            .map(|v| {
                                ArnPattern::parse(v).ok_or_else(|| {
                                    PolicyError::problem(format!(
                                        "Condition value {v} of {operator} must be in ARN format or \"*\"."
                                    ))
                                })
                            })
                            .collect::<Result<_, _>>()?,
                    )
                } else {
                    Compiled::Strings
                }
            }
        };
        Ok(Self {
            operator,
            key: key.to_owned(),
            values,
            compiled,
        })
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The values as written in the policy (booleans and numbers in their JSON text form).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether the condition holds for this request. Allocates nothing.
    pub(crate) fn holds(&self, context: &Context<'_>) -> bool {
        let found = context.values(&self.key);
        let present = found.is_present();
        if let Compiled::Null(wants_missing) = &self.compiled {
            return wants_missing.iter().any(|&missing| missing != present);
        }
        let op = self.operator;
        let negated = op.base.is_negated();
        if !present {
            return op.if_exists
                || match op.qualifier {
                    // Vacuously true over an empty set of values.
                    Some(SetQualifier::ForAllValues) => true,
                    Some(SetQualifier::ForAnyValue) => false,
                    None => negated,
                };
        }
        // For negated operators a request value "passes" when it matches none of the policy values.
        let passes = |value: &str| self.matches_any(value) != negated;
        match op.qualifier {
            None if negated => found.iter().all(passes),
            None | Some(SetQualifier::ForAnyValue) => found.iter().any(passes),
            Some(SetQualifier::ForAllValues) => found.iter().all(passes),
        }
    }

    /// Whether a request value matches at least one policy value, in the operator's positive sense.
    fn matches_any(&self, value: &str) -> bool {
        if let Compiled::Arns(patterns) = &self.compiled {
            return patterns.iter().any(|p| p.matches_str(value));
        }
        let comparison = self.operator.base.comparison();
        self.values.iter().any(|p| match comparison {
            Comparison::Exact => p == value,
            Comparison::IgnoreCase => p
                .chars()
                .flat_map(char::to_lowercase)
                .eq(value.chars().flat_map(char::to_lowercase)),
            Comparison::Like => glob_match(p, value, Case::Sensitive),
            Comparison::Bool => p.eq_ignore_ascii_case(value),
            // Compiled as Arns / Null above.
            Comparison::Arn | Comparison::Null => false,
        })
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({}: {})",
            self.operator,
            self.key,
            self.values.join(" | ")
        )
    }
}

/// `service:name`, as AWS requires of actions and condition keys.
pub(crate) fn has_vendor_prefix(name: &str) -> bool {
    matches!(name.split_once(':'), Some((vendor, _)) if !vendor.is_empty())
}

/// The first `${...}` in `text`, if any.
pub(crate) fn find_variable(text: &str) -> Option<&str> {
    let start = text.find("${")?;
    let rest = &text[start..];
    Some(rest.find('}').map_or(rest, |end| &rest[..=end]))
}

pub(crate) fn variable_not_supported(variable: &str) -> PolicyError {
    PolicyError::problem(format!(
        "Policy variable {variable} is not supported yet by bedrock-guard."
    ))
}

/// Where condition keys are looked up: the check's own keys first, then the request's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub check: &'a [(&'static str, String)],
    pub request: &'a RequestContext,
}

impl<'a> Context<'a> {
    fn values(&self, key: &'a str) -> Found<'a> {
        if self.check.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Found::Check {
                pairs: self.check,
                key,
            };
        }
        match self.request.get(key) {
            Some(values) if !values.is_empty() => Found::Request(values),
            _ => Found::Missing,
        }
    }
}

/// The values of one key, borrowed where they live.
#[derive(Debug, Clone, Copy)]
enum Found<'a> {
    Check {
        pairs: &'a [(&'static str, String)],
        key: &'a str,
    },
    Request(&'a [String]),
    Missing,
}

impl<'a> Found<'a> {
    fn is_present(self) -> bool {
        !matches!(self, Self::Missing)
    }

    fn iter(self) -> impl Iterator<Item = &'a str> {
        let (pairs, key, request): (&[(&'static str, String)], &str, &[String]) = match self {
            Self::Check { pairs, key } => (pairs, key, &[]),
            Self::Request(values) => (&[], "", values),
            Self::Missing => (&[], "", &[]),
        };
        pairs
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .chain(request.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(op: &str, key: &str, values: &[&str]) -> Condition {
        let operator = match Operator::parse(op) {
            Ok(operator) => operator,
            Err(e) => panic!("{op}: {e}"),
        };
        match Condition::new(
            operator,
            key,
            values.iter().map(|v| v.to_string()).collect(),
            true,
        ) {
            Ok(c) => c,
            Err(e) => panic!("{op} {key}: {e}"),
        }
    }

    fn request(pairs: &[(&str, &[&str])]) -> RequestContext {
        let mut context = RequestContext::new();
        for (key, values) in pairs {
            context.set_many(key, values.iter().map(|v| v.to_string()).collect());
        }
        context
    }

    fn holds(c: &Condition, check: &[(&'static str, String)], req: &RequestContext) -> bool {
        c.holds(&Context {
            check,
            request: req,
        })
    }

    const REGION: &str = "aws:RequestedRegion";

    #[test]
    fn operator_names() {
        for name in [
            "StringEquals",
            "ForAnyValue:StringLike",
            "ForAllValues:StringNotEqualsIfExists",
            "ArnNotLikeIfExists",
            "Bool",
            "BoolIfExists",
            "Null",
        ] {
            match Operator::parse(name) {
                Ok(op) => assert_eq!(op.to_string(), name),
                Err(e) => panic!("{name}: {e}"),
            }
        }
        for name in [
            "stringequals",
            "StringEqual",
            "NullIfExists",
            "ForAnyValue:Null",
            "ForSomeValues:StringEquals",
            "",
        ] {
            let Err(err) = Operator::parse(name) else {
                panic!("{name} accepted")
            };
            assert_eq!(err.message(), SYNTAX, "{name}");
        }
        for name in [
            "NumericLessThan",
            "DateGreaterThanIfExists",
            "ForAnyValue:IpAddress",
            "NotIpAddress",
            "BinaryEquals",
        ] {
            let Err(err) = Operator::parse(name) else {
                panic!("{name} accepted")
            };
            assert_eq!(
                err.message(),
                format!("Condition operator {name} is not supported yet by bedrock-guard.")
            );
        }
    }

    /// (operator, policy values, request values (None = key missing), expected)
    type Case<'a> = (&'a str, &'a [&'a str], Option<&'a [&'a str]>, bool);

    #[test]
    fn operators_table() {
        let cases: &[Case] = &[
            ("StringEquals", &["us-east-1"], Some(&["us-east-1"]), true),
            ("StringEquals", &["us-east-1"], Some(&["US-EAST-1"]), false),
            ("StringEquals", &["a", "b"], Some(&["b"]), true),
            ("StringEquals", &["a"], None, false),
            ("StringEqualsIfExists", &["a"], None, true),
            ("StringEqualsIfExists", &["a"], Some(&["b"]), false),
            ("StringNotEquals", &["a", "b"], Some(&["b"]), false),
            ("StringNotEquals", &["a", "b"], Some(&["c"]), true),
            ("StringNotEquals", &["a"], None, true),
            ("StringNotEqualsIfExists", &["a"], None, true),
            (
                "StringEqualsIgnoreCase",
                &["Us-East-1"],
                Some(&["US-EAST-1"]),
                true,
            ),
            (
                "StringEqualsIgnoreCase",
                &["Ünïcode"],
                Some(&["üNÏCODE"]),
                true,
            ),
            ("StringEqualsIgnoreCase", &["a"], None, false),
            ("StringNotEqualsIgnoreCase", &["A"], Some(&["a"]), false),
            ("StringNotEqualsIgnoreCase", &["A"], Some(&["b"]), true),
            ("StringNotEqualsIgnoreCase", &["A"], None, true),
            ("StringLike", &["us-*"], Some(&["us-west-2"]), true),
            ("StringLike", &["us-?"], Some(&["us-west-2"]), false),
            ("StringLike", &["US-*"], Some(&["us-west-2"]), false),
            ("StringLike", &["a*"], None, false),
            (
                "StringNotLike",
                &["eu-*", "ap-*"],
                Some(&["us-west-2"]),
                true,
            ),
            (
                "StringNotLike",
                &["eu-*", "us-*"],
                Some(&["us-west-2"]),
                false,
            ),
            ("StringNotLike", &["eu-*"], None, true),
            ("Bool", &["true"], Some(&["true"]), true),
            ("Bool", &["true"], Some(&["false"]), false),
            ("Bool", &["true"], Some(&["TRUE"]), true),
            ("Bool", &["true"], None, false),
            ("BoolIfExists", &["false"], None, true),
            ("Null", &["true"], None, true),
            ("Null", &["true"], Some(&["x"]), false),
            ("Null", &["false"], None, false),
            ("Null", &["false"], Some(&["x"]), true),
            // Multi-valued keys.
            ("ForAnyValue:StringEquals", &["a"], Some(&["b", "a"]), true),
            ("ForAnyValue:StringEquals", &["a"], Some(&["b", "c"]), false),
            ("ForAnyValue:StringEquals", &["a"], None, false),
            ("ForAnyValue:StringEqualsIfExists", &["a"], None, true),
            (
                "ForAnyValue:StringNotEquals",
                &["a"],
                Some(&["a", "b"]),
                true,
            ),
            ("ForAnyValue:StringNotEquals", &["a"], Some(&["a"]), false),
            (
                "ForAllValues:StringEquals",
                &["a", "b"],
                Some(&["b", "a"]),
                true,
            ),
            (
                "ForAllValues:StringEquals",
                &["a", "b"],
                Some(&["a", "c"]),
                false,
            ),
            ("ForAllValues:StringEquals", &["a"], None, true),
            (
                "ForAllValues:StringNotEquals",
                &["a"],
                Some(&["b", "c"]),
                true,
            ),
            (
                "ForAllValues:StringNotEquals",
                &["a"],
                Some(&["b", "a"]),
                false,
            ),
            (
                "ForAllValues:StringLike",
                &["x*"],
                Some(&["xa", "xb"]),
                true,
            ),
            // Without a qualifier, a negated operator needs every request value to miss every policy value.
            ("StringNotEquals", &["a"], Some(&["b", "a"]), false),
        ];
        for &(op, values, request_values, want) in cases {
            let c = condition(op, "aws:SomeKey", values);
            let req = match request_values {
                Some(v) => request(&[("aws:SomeKey", v)]),
                None => request(&[("aws:OtherKey", &["x"])]),
            };
            assert_eq!(
                holds(&c, &[], &req),
                want,
                "{op} {values:?} vs {request_values:?}"
            );
        }
    }

    #[test]
    fn arn_operators_compare_per_part() {
        let profiles = [
            "arn:aws:bedrock:*:*:application-inference-profile/*",
            "arn:aws:bedrock:*:*:inference-profile/*",
        ];
        let key = "bedrock:InferenceProfileArn";
        let via_profile = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.x";
        let cases: &[(&str, Option<&str>, bool)] = &[
            ("ArnLike", Some(via_profile), true),
            ("ArnEquals", Some(via_profile), true),
            (
                "ArnLike",
                Some("arn:aws:bedrock:us-east-1::foundation-model/x"),
                false,
            ),
            // Five parts only: not an ARN, so no ARN pattern matches it.
            (
                "ArnLike",
                Some("arn:aws:bedrock:us-east-1:inference-profile/x"),
                false,
            ),
            ("ArnLike", Some("not an arn"), false),
            ("ArnLike", None, false),
            ("ArnNotLike", Some(via_profile), false),
            ("ArnNotEquals", Some(via_profile), false),
            (
                "ArnNotLike",
                Some("arn:aws:bedrock:us-east-1::foundation-model/x"),
                true,
            ),
            ("ArnNotLike", None, true),
            ("ArnLikeIfExists", None, true),
            (
                "ArnLike",
                Some("ARN:aws:bedrock:us-east-1:1:inference-profile/x"),
                false,
            ),
        ];
        for &(op, value, want) in cases {
            let c = condition(op, key, &profiles);
            let check: Vec<(&'static str, String)> = value
                .map(|v| vec![("bedrock:InferenceProfileArn", v.to_owned())])
                .unwrap_or_default();
            assert_eq!(
                holds(&c, &check, &RequestContext::new()),
                want,
                "{op} {value:?}"
            );
        }
        let any = condition("ArnLike", key, &["*"]);
        assert!(holds(
            &any,
            &[("bedrock:InferenceProfileArn", "x".into())],
            &RequestContext::new()
        ));
    }

    #[test]
    fn keys_are_case_insensitive_and_check_keys_win() {
        let c = condition("StringEquals", "AWS:requestedregion", &["us-east-1"]);
        let req = request(&[(REGION, &["us-east-1"])]);
        assert!(holds(&c, &[], &req));
        // The check's own value overrides the request-wide one.
        let check = [("aws:RequestedRegion", "unspecified".to_owned())];
        assert!(!holds(&c, &check, &req));
        let c = condition("StringEquals", REGION, &["unspecified"]);
        assert!(holds(&c, &check, &req));
        // A key set with no values counts as missing.
        let empty = request(&[(REGION, &[])]);
        assert!(!holds(&c, &[], &empty));
        assert!(holds(&condition("Null", REGION, &["true"]), &[], &empty));
    }

    #[test]
    fn validation() {
        let op = |name| match Operator::parse(name) {
            Ok(op) => op,
            Err(e) => panic!("{e}"),
        };
        let new = |name, key: &str, values: &[&str], variables| {
            Condition::new(
                op(name),
                key,
                values.iter().map(|v| v.to_string()).collect(),
                variables,
            )
        };
        let err = |r: Result<Condition, PolicyError>| match r {
            Ok(c) => panic!("accepted {c}"),
            Err(e) => e,
        };
        assert_eq!(
            err(new("StringEquals", "RequestedRegion", &["a"], true)).message(),
            VENDOR_PREFIX
        );
        assert_eq!(
            err(new("StringEquals", ":x", &["a"], true)).message(),
            VENDOR_PREFIX
        );
        assert_eq!(
            err(new("StringEquals", REGION, &[], true)).message(),
            SYNTAX
        );
        assert_eq!(
            err(new("Null", REGION, &["yes"], true)).message(),
            "Null condition values must be \"true\" or \"false\", not \"yes\"."
        );
        assert_eq!(
            err(new("ArnLike", REGION, &["foo"], true)).message(),
            "Condition value foo of ArnLike must be in ARN format or \"*\"."
        );
        assert_eq!(
            err(new(
                "StringEquals",
                "aws:PrincipalTag/team",
                &["${aws:username}x"],
                true
            ))
            .message(),
            "Policy variable ${aws:username} is not supported yet by bedrock-guard."
        );
        // Version 2008-10-17: `${` is literal text.
        let literal = new("StringEquals", "aws:SomeKey", &["${aws:username}"], false);
        let Ok(literal) = literal else {
            panic!("2008 literal rejected")
        };
        assert!(holds(
            &literal,
            &[],
            &request(&[("aws:SomeKey", &["${aws:username}"])])
        ));
    }

    #[test]
    fn display() {
        let c = condition("ForAnyValue:StringLike", REGION, &["us-*", "eu-*"]);
        assert_eq!(
            c.to_string(),
            "ForAnyValue:StringLike(aws:RequestedRegion: us-* | eu-*)"
        );
    }
}
