//! The `Condition` element: operators, their validation at load, and their evaluation against the request
//! context.
//!
//! Every IAM operator family: String*, Numeric*, Date*, `Bool`, `BinaryEquals`, `IpAddress` /
//! `NotIpAddress`, Arn*, `Null`; the `...IfExists` suffix and the `ForAnyValue:` / `ForAllValues:` set
//! qualifiers. Policy values are parsed at load (numbers, dates, CIDRs, ARNs, variables), so evaluating
//! parses only the request's values and allocates nothing unless a value holds a policy variable.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;

use super::error::{PolicyError, SYNTAX};
use super::glob::Case;
use super::request::RequestContext;
use super::resource::ArnPattern;
use super::variables::{Template, Vars};
use crate::calendar::days_from_civil;

/// A condition operator without its qualifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseOperator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const OPERATORS: &[(&str, BaseOperator)] = &[
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
    ("NumericEquals", BaseOperator::NumericEquals),
    ("NumericNotEquals", BaseOperator::NumericNotEquals),
    ("NumericLessThan", BaseOperator::NumericLessThan),
    ("NumericLessThanEquals", BaseOperator::NumericLessThanEquals),
    ("NumericGreaterThan", BaseOperator::NumericGreaterThan),
    (
        "NumericGreaterThanEquals",
        BaseOperator::NumericGreaterThanEquals,
    ),
    ("DateEquals", BaseOperator::DateEquals),
    ("DateNotEquals", BaseOperator::DateNotEquals),
    ("DateLessThan", BaseOperator::DateLessThan),
    ("DateLessThanEquals", BaseOperator::DateLessThanEquals),
    ("DateGreaterThan", BaseOperator::DateGreaterThan),
    ("DateGreaterThanEquals", BaseOperator::DateGreaterThanEquals),
    ("Bool", BaseOperator::Bool),
    ("BinaryEquals", BaseOperator::BinaryEquals),
    ("IpAddress", BaseOperator::IpAddress),
    ("NotIpAddress", BaseOperator::NotIpAddress),
    ("ArnEquals", BaseOperator::ArnEquals),
    ("ArnLike", BaseOperator::ArnLike),
    ("ArnNotEquals", BaseOperator::ArnNotEquals),
    ("ArnNotLike", BaseOperator::ArnNotLike),
    ("Null", BaseOperator::Null),
];

/// The ordering a Numeric*/Date* operator asks for (in its positive sense: `NotEquals` is a negated
/// `Equals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Order {
    /// `request <op> policy`, as IAM reads `"NumericLessThan": {"key": "10"}`: the request value is on
    /// the left.
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Self::Eq => ordering == Ordering::Equal,
            Self::Lt => ordering == Ordering::Less,
            Self::Le => ordering != Ordering::Greater,
            Self::Gt => ordering == Ordering::Greater,
            Self::Ge => ordering != Ordering::Less,
        }
    }
}

/// How a value from the request is compared with one value from the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Exact,
    IgnoreCase,
    Like,
    Numeric(Order),
    Date(Order),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

impl BaseOperator {
    pub fn name(self) -> &'static str {
        OPERATORS
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
                | Self::NumericNotEquals
                | Self::DateNotEquals
                | Self::NotIpAddress
                | Self::ArnNotEquals
                | Self::ArnNotLike
        )
    }

    fn comparison(self) -> Comparison {
        use BaseOperator as B;
        match self {
            B::StringEquals | B::StringNotEquals => Comparison::Exact,
            B::StringEqualsIgnoreCase | B::StringNotEqualsIgnoreCase => Comparison::IgnoreCase,
            B::StringLike | B::StringNotLike => Comparison::Like,
            B::NumericEquals | B::NumericNotEquals => Comparison::Numeric(Order::Eq),
            B::NumericLessThan => Comparison::Numeric(Order::Lt),
            B::NumericLessThanEquals => Comparison::Numeric(Order::Le),
            B::NumericGreaterThan => Comparison::Numeric(Order::Gt),
            B::NumericGreaterThanEquals => Comparison::Numeric(Order::Ge),
            B::DateEquals | B::DateNotEquals => Comparison::Date(Order::Eq),
            B::DateLessThan => Comparison::Date(Order::Lt),
            B::DateLessThanEquals => Comparison::Date(Order::Le),
            B::DateGreaterThan => Comparison::Date(Order::Gt),
            B::DateGreaterThanEquals => Comparison::Date(Order::Ge),
            B::Bool => Comparison::Bool,
            B::BinaryEquals => Comparison::Binary,
            B::IpAddress | B::NotIpAddress => Comparison::Ip,
            // IAM documents ArnEquals with the same per-part wildcards as ArnLike.
            B::ArnEquals | B::ArnLike | B::ArnNotEquals | B::ArnNotLike => Comparison::Arn,
            B::Null => Comparison::Null,
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
        match OPERATORS.iter().find(|(n, _)| *n == base_name) {
            // Null asks whether the key exists; IfExists or a set qualifier make no sense with it.
            Some((_, BaseOperator::Null)) if if_exists || qualifier.is_some() => Err(syntax()),
            Some(&(_, base)) => Ok(Self {
                qualifier,
                base,
                if_exists,
            }),
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
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    operator: Operator,
    key: String,
    values: Vec<String>,
    /// The values prepared for evaluation, so that evaluating parses nothing of the policy.
    compiled: Compiled,
}

// Floats come from the policy text and are never NaN (rejected at load), so equality is total.
impl Eq for Condition {}

#[derive(Debug, Clone, PartialEq)]
enum Compiled {
    Strings(Vec<Template>),
    Arns(Vec<ArnPattern>),
    Numbers(Vec<f64>),
    /// Milliseconds since the Unix epoch.
    Dates(Vec<i64>),
    Cidrs(Vec<Cidr>),
    /// For each value: does it ask for the key to be missing (`"true"`)?
    Null(Vec<bool>),
}

impl Condition {
    /// Validates one key under one operator. `variables` is true for Version 2012-10-17 policies, where
    /// `${...}` in String*, Arn* and Bool values is a policy variable.
    pub(crate) fn new(
        operator: Operator,
        key: &str,
        values: Vec<String>,
        variables: bool,
    ) -> Result<Self, PolicyError> {
        // IAM stores a condition key without a vendor prefix (`"a"`) and an empty list of values
        // (`"a": []`); the first is a key no request carries, the second a list no value matches.
        let invalid = |v: &str, what: &str| {
            PolicyError::problem(SYNTAX)
                .with_detail(format!("{operator} {key}: \"{v}\" is not {what}"))
        };
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
            Comparison::Numeric(_) => Compiled::Numbers(
                values
                    .iter()
                    .map(|v| parse_number(v).ok_or_else(|| invalid(v, "a number")))
                    .collect::<Result<_, _>>()?,
            ),
            Comparison::Date(_) => Compiled::Dates(
                values
                    .iter()
                    .map(|v| {
                        parse_date(v).ok_or_else(|| {
                            invalid(v, "an ISO 8601 date or a number of seconds since the epoch")
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Comparison::Ip => Compiled::Cidrs(
                values
                    .iter()
                    .map(|v| {
                        Cidr::parse(v).ok_or_else(|| invalid(v, "an IP address or CIDR block"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Comparison::Binary => {
                if let Some(bad) = values.iter().find(|v| !is_base64(v)) {
                    return Err(invalid(bad, "base-64 encoded"));
                }
                Compiled::Strings(
                    values
                        .iter()
                        .map(|v| Template::Literal(v.as_str().into()))
                        .collect(),
                )
            }
            Comparison::Arn => Compiled::Arns(
                values
                    .iter()
                    .map(|v| match ArnPattern::parse_with_variables(v, variables) {
                        Ok(Some(pattern)) => Ok(pattern),
                        Ok(None) => Err(PolicyError::problem(format!(
                            "Condition value {v} of {operator} must be in ARN format or \"*\"."
                        ))),
                        Err(detail) => Err(PolicyError::problem(SYNTAX).with_detail(detail)),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Comparison::Exact | Comparison::IgnoreCase | Comparison::Like | Comparison::Bool => {
                Compiled::Strings(
                    values
                        .iter()
                        .map(|v| {
                            Template::parse(v, variables)
                                .map_err(|detail| PolicyError::problem(SYNTAX).with_detail(detail))
                        })
                        .collect::<Result<_, _>>()?,
                )
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

    /// The condition keys this condition reads: its key and those of the variables in its values.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys = vec![self.key.as_str()];
        match &self.compiled {
            Compiled::Strings(templates) => {
                keys.extend(templates.iter().flat_map(Template::variable_keys))
            }
            Compiled::Arns(patterns) => {
                keys.extend(patterns.iter().flat_map(ArnPattern::variable_keys))
            }
            _ => {}
        }
        keys
    }

    /// Whether the condition holds for this request. Allocates nothing unless a value holds a policy
    /// variable.
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
        let passes = |value: &str| self.matches_any(value, context) != negated;
        match op.qualifier {
            None if negated => found.iter().all(passes),
            None | Some(SetQualifier::ForAnyValue) => found.iter().any(passes),
            Some(SetQualifier::ForAllValues) => found.iter().all(passes),
        }
    }

    /// Whether a request value matches at least one policy value, in the operator's positive sense.
    /// A request value that does not parse as the operator's type (a number, a date, an address)
    /// matches nothing.
    fn matches_any(&self, value: &str, vars: &dyn Vars) -> bool {
        match (&self.compiled, self.operator.base.comparison()) {
            (Compiled::Arns(patterns), _) => patterns.iter().any(|p| p.matches_str(value, vars)),
            (Compiled::Numbers(numbers), Comparison::Numeric(order)) => match parse_number(value) {
                Some(v) => numbers
                    .iter()
                    .any(|p| v.partial_cmp(p).is_some_and(|o| order.holds(o))),
                None => false,
            },
            (Compiled::Dates(dates), Comparison::Date(order)) => match parse_date(value) {
                Some(v) => dates.iter().any(|p| order.holds(v.cmp(p))),
                None => false,
            },
            (Compiled::Cidrs(cidrs), _) => match value.parse::<IpAddr>() {
                Ok(ip) => cidrs.iter().any(|c| c.contains(ip)),
                Err(_) => false,
            },
            (Compiled::Strings(templates), comparison) => {
                templates.iter().any(|t| match comparison {
                    Comparison::Like => t.glob(value, Case::Sensitive, vars),
                    Comparison::Exact | Comparison::Binary => {
                        t.resolve(vars).is_some_and(|p| *p == *value)
                    }
                    Comparison::IgnoreCase => t.resolve(vars).is_some_and(|p| {
                        p.chars()
                            .flat_map(char::to_lowercase)
                            .eq(value.chars().flat_map(char::to_lowercase))
                    }),
                    Comparison::Bool => t
                        .resolve(vars)
                        .is_some_and(|p| p.eq_ignore_ascii_case(value)),
                    _ => false,
                })
            }
            _ => false,
        }
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

/// IAM numbers: integers or decimals (`"10"`, `"2.5"`, `-3`); no NaN, no infinities, no hex.
fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// An ISO 8601 date-time (`2025-01-31`, `2025-01-31T12:00:00Z`, fractions, `+02:00` offsets) or whole
/// seconds since the Unix epoch, as milliseconds since the epoch. A time without an offset is UTC.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<i64>().ok()?.checked_mul(1000);
    }
    let b = t.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(range)?;
        if s.bytes().all(|c| c.is_ascii_digit()) && !s.is_empty() {
            s.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut millis = days_from_civil(year, month, day) * 86_400_000;
    let mut rest = &t[10..];
    if rest.is_empty() {
        return Some(millis);
    }
    rest = rest.strip_prefix(['T', 't'])?;
    let rb = rest.as_bytes();
    if rb.len() < 5 || rb[2] != b':' {
        return None;
    }
    let hour = rest.get(0..2)?.parse::<i64>().ok()?;
    let minute = rest.get(3..5)?.parse::<i64>().ok()?;
    let mut second = 0;
    let mut fraction_ms = 0;
    rest = &rest[5..];
    if let Some(r) = rest.strip_prefix(':') {
        second = r.get(0..2)?.parse::<i64>().ok()?;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            let digits = &r[..end.min(3)];
            fraction_ms = digits.parse::<i64>().ok()? * 10_i64.pow(3 - digits.len() as u32);
            rest = &r[end..];
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    millis += ((hour * 60 + minute) * 60 + second) * 1000 + fraction_ms;
    let offset_minutes = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let o = &rest[1..];
            let (h, m) = match o.len() {
                5 if o.as_bytes()[2] == b':' => (o.get(0..2)?, o.get(3..5)?),
                4 => (o.get(0..2)?, o.get(2..4)?),
                2 => (o, "00"),
                _ => return None,
            };
            sign * (h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?)
        }
    };
    Some(millis - offset_minutes * 60_000)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn is_base64(text: &str) -> bool {
    let body = text.trim_end_matches('=');
    text.len().is_multiple_of(4)
        && text.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// An `IpAddress` value: an address with a prefix length (`203.0.113.0/24`, `2001:db8::/32`); a bare
/// address is a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        (prefix <= max).then_some(Self { network, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
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

impl Vars for Context<'_> {
    fn single(&self, key: &str) -> Option<&str> {
        let mut in_check = self
            .check
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key));
        if let Some((_, first)) = in_check.next() {
            return in_check.next().is_none().then_some(first.as_str());
        }
        match self.request.get(key) {
            Some([only]) => Some(only.as_str()),
            _ => None,
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
            context.set_many(
                key.to_string(),
                values.iter().map(|v| v.to_string()).collect(),
            );
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
            match Operator::parse(name) {
                Ok(op) => assert_eq!(op.to_string(), name),
                Err(e) => panic!("{name}: {e}"),
            }
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
        // Accepted by IAM: a key without a vendor, an empty list of values.
        assert!(new("StringEquals", "RequestedRegion", &["a"], true).is_ok());
        assert!(new("StringEquals", REGION, &[], true).is_ok());
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
                &["${username}x"],
                true
            ))
            .message(),
            SYNTAX
        );
        assert_eq!(
            err(new("DateLessThan", "aws:CurrentTime", &["yesterday"], true)).message(),
            SYNTAX
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
