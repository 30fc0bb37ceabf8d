//! Policy text -> validated, typed [`PolicyDocument`].
//!
//! Validation is as strict as IAM's (same element names, same case sensitivity, same messages) and a
//! little stricter where a lenient reading could widen access: duplicate JSON keys, which IAM's parser
//! and `serde_json` both resolve silently by keeping the last one, are refused.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use rustc_hash::FxHashSet;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::condition::{Condition, Operator};
use super::error::{
    PolicyError, StatementLocation, DUPLICATE_SID, LEGACY_PARSING, MISSING_ACTIONS,
    MISSING_RESOURCES, ONE_COLON, PRINCIPAL, SID_FORMAT, SYNTAX, VENDOR_PREFIX,
};
use super::resource::{self, ArnPattern};
use super::shared::Shared;

/// Policy text and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySource {
    /// Short label shown in decisions and logs (a file stem, `default`).
    pub name: String,
    /// A file path, or `embedded` / `--policy`: shown in errors.
    pub origin: String,
    pub text: String,
}

/// The policy language version. Only 2012-10-17 has policy variables; a document without `Version` is
/// 2008-10-17, as in IAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2012_10_17,
    V2008_10_17,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2012_10_17 => "2012-10-17",
            Self::V2008_10_17 => "2008-10-17",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "Allow",
            Self::Deny => "Deny",
        })
    }
}

/// `Action` vs `NotAction`, `Resource` vs `NotResource`: the patterns as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// `Action` / `Resource`: what the patterns match.
    Listed(Arc<[String]>),
    /// `NotAction` / `NotResource`: everything the patterns do not match.
    Not(Arc<[String]>),
}

impl Targets {
    pub fn patterns(&self) -> &[String] {
        match self {
            Self::Listed(p) | Self::Not(p) => p,
        }
    }

    pub fn is_not(&self) -> bool {
        matches!(self, Self::Not(_))
    }

    /// The list itself: a document holds each distinct list once, so equal lists of one document are
    /// the same `Arc`.
    pub(crate) fn shared(&self) -> &Arc<[String]> {
        match self {
            Self::Listed(p) | Self::Not(p) => p,
        }
    }
}

/// One validated statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    index: usize,
    sid: Option<Arc<str>>,
    effect: Effect,
    action: Targets,
    resource: Targets,
    conditions: Vec<Condition>,
}

impl Statement {
    /// Position in the document's `Statement` array (0-based).
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The Sid as held (compiled rules and errors share it).
    pub(crate) fn shared_sid(&self) -> Option<&Arc<str>> {
        self.sid.as_ref()
    }

    pub fn effect(&self) -> Effect {
        self.effect
    }

    pub fn action(&self) -> &Targets {
        &self.action
    }

    pub fn resource(&self) -> &Targets {
        &self.resource
    }

    /// Every entry must hold (operators and keys are ANDed).
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

/// `Deny bedrock:* on arn:aws:bedrock:*:*:foundation-model/deepseek.* if StringEquals(...)`
impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let targets = |t: &Targets, all: &str| match t {
            Targets::Listed(p) => p.join(", "),
            Targets::Not(p) => format!("{all} except {}", p.join(", ")),
        };
        write!(
            f,
            "{} {} on {}",
            self.effect,
            targets(&self.action, "every action"),
            targets(&self.resource, "every resource")
        )?;
        for (i, condition) in self.conditions.iter().enumerate() {
            f.write_str(if i == 0 { " if " } else { " and " })?;
            write!(f, "{condition}")?;
        }
        Ok(())
    }
}

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    name: String,
    origin: String,
    version: Version,
    id: Option<String>,
    statements: Vec<Statement>,
}

impl PolicyDocument {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The statements, moved out (compiling keeps them without copying).
    pub fn into_statements(self) -> Vec<Statement> {
        self.statements
    }
}

/// Parses and validates one policy. Every error names the origin and, where it applies, the statement
/// and the element.
pub fn parse(source: &PolicySource) -> Result<PolicyDocument, PolicyError> {
    let origin = source.origin.as_str();
    // Editors on Windows like to add a byte-order mark; it is not part of the JSON.
    let text = source.text.strip_prefix('\u{feff}').unwrap_or(&source.text);
    let json: Json<'_> = serde_json::from_str(text)
        .map_err(|e| PolicyError::new(origin, SYNTAX).with_detail(e.to_string()))?;
    let top = Place {
        origin,
        statement: None,
    };
    let Json::Object(entries) = json else {
        return Err(top.syntax(None, "a policy is a JSON object"));
    };
    top.no_duplicates(&entries, None)?;

    let (mut version, mut id, mut statement) = (None, None, None);
    for (key, value) in entries {
        match key.as_ref() {
            "Version" => version = Some(value),
            "Id" => id = Some(value),
            "Statement" => statement = Some(value),
            _ => return Err(top.syntax(Some(&key), "unknown element")),
        }
    }
    let version = match version {
        None => Version::V2008_10_17,
        Some(Json::String(v)) if v == "2012-10-17" => Version::V2012_10_17,
        Some(Json::String(v)) if v == "2008-10-17" => Version::V2008_10_17,
        Some(_) => {
            return Err(top.syntax(
                Some("Version"),
                "Version must be \"2012-10-17\" or \"2008-10-17\"",
            ))
        }
    };
    let id = match id {
        None => None,
        Some(Json::String(id)) => Some(id.into_owned()),
        Some(_) => return Err(top.syntax(Some("Id"), "Id must be a string")),
    };
    let statements = match statement {
        Some(Json::Array(items)) => items,
        Some(object @ Json::Object(_)) => vec![object],
        Some(_) => {
            return Err(top.syntax(
                Some("Statement"),
                "Statement must be an object or a list of objects",
            ))
        }
        None => Vec::new(),
    };
    if statements.is_empty() {
        return Err(top.syntax(Some("Statement"), "a policy needs at least one statement"));
    }

    let mut parsed: Vec<Statement> = Vec::with_capacity(statements.len());
    let mut sids = FxHashSet::default();
    sids.reserve(statements.len());
    // Statements of a large policy repeat the same Action lists: one copy each.
    let mut shared_lists = Shared::default();
    for (index, json) in statements.into_iter().enumerate() {
        let statement = parse_statement(origin, index, json, version, &mut shared_lists)?;
        if let Some(sid) = &statement.sid {
            if !sids.insert(Arc::clone(sid)) {
                return Err(PolicyError::new(origin, DUPLICATE_SID)
                    .in_statement(location(&statement))
                    .in_element("Sid"));
            }
        }
        parsed.push(statement);
    }
    Ok(PolicyDocument {
        name: source.name.clone(),
        origin: source.origin.clone(),
        version,
        id,
        statements: parsed,
    })
}

fn location(statement: &Statement) -> StatementLocation {
    StatementLocation {
        index: statement.index,
        sid: statement.sid.clone(),
    }
}

fn parse_statement(
    origin: &str,
    index: usize,
    json: Json<'_>,
    version: Version,
    shared_lists: &mut Shared<[String]>,
) -> Result<Statement, PolicyError> {
    let mut place = Place {
        origin,
        statement: Some(StatementLocation { index, sid: None }),
    };
    let Json::Object(entries) = json else {
        return Err(place.syntax(None, "a statement is a JSON object"));
    };
    // The Sid first, so that every later error can name the statement by it.
    let sid = match entries.iter().find(|(k, _)| k == "Sid").map(|(_, v)| v) {
        None => None,
        Some(Json::String(sid)) => {
            if !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(place.error(Some("Sid"), SID_FORMAT));
            }
            // IAM accepts an empty Sid; it identifies nothing, so it is treated as absent.
            (!sid.is_empty()).then(|| Arc::from(&**sid))
        }
        Some(_) => return Err(place.syntax(Some("Sid"), "Sid must be a string")),
    };
    place.statement = Some(StatementLocation {
        index,
        sid: sid.clone(),
    });
    place.no_duplicates(&entries, None)?;

    let (mut effect, mut action, mut resource, mut conditions) = (None, None, None, Vec::new());
    for (key, value) in entries {
        let element = key.as_ref();
        match element {
            "Sid" => {}
            "Effect" => {
                effect = Some(match value {
                    Json::String(e) if e == "Allow" => Effect::Allow,
                    Json::String(e) if e == "Deny" => Effect::Deny,
                    // IAM reads the effect case-insensitively first, then refuses it in its
                    // "legacy parsing" step.
                    Json::String(e)
                        if e.eq_ignore_ascii_case("Allow") || e.eq_ignore_ascii_case("Deny") =>
                    {
                        return Err(place.error(Some(element), LEGACY_PARSING))
                    }
                    _ => {
                        return Err(place.syntax(
                            Some(element),
                            "Effect must be \"Allow\" or \"Deny\" (case-sensitive)",
                        ))
                    }
                })
            }
            "Action" | "NotAction" => {
                let element = if element == "Action" {
                    "Action"
                } else {
                    "NotAction"
                };
                if action.is_some() {
                    return Err(place.syntax(
                        Some(element),
                        "a statement has either Action or NotAction, not both",
                    ));
                }
                let list = string_list(value).ok_or_else(|| {
                    place.syntax(Some(element), "expected a string or a list of strings")
                })?;
                action = Some((element, list));
            }
            "Resource" | "NotResource" => {
                let element = if element == "Resource" {
                    "Resource"
                } else {
                    "NotResource"
                };
                if resource.is_some() {
                    return Err(place.syntax(
                        Some(element),
                        "a statement has either Resource or NotResource, not both",
                    ));
                }
                let list = string_list(value).ok_or_else(|| {
                    place.syntax(Some(element), "expected a string or a list of strings")
                })?;
                resource = Some((element, list));
            }
            "Condition" => conditions = parse_conditions(&place, value, version)?,
            "Principal" | "NotPrincipal" => return Err(place.error(Some(element), PRINCIPAL)),
            _ => return Err(place.syntax(Some(element), "unknown element")),
        }
    }

    let Some(effect) = effect else {
        return Err(place.syntax(Some("Effect"), "a statement needs an Effect"));
    };
    let action = match action {
        Some((element, list)) if !list.is_empty() => {
            for a in &list {
                if let Err(message) = validate_action(a) {
                    return Err(place
                        .error(Some(element), message)
                        .with_detail(format!("action \"{a}\"")));
                }
            }
            targets(element, list, shared_lists)
        }
        Some((element, _)) => return Err(place.error(Some(element), MISSING_ACTIONS)),
        None => return Err(place.error(Some("Action"), MISSING_ACTIONS)),
    };
    let resource = match resource {
        Some((element, list)) if !list.is_empty() => {
            for r in &list {
                if let Err(message) = resource::validate(r) {
                    return Err(place.error(Some(element), message));
                }
                match ArnPattern::check(r, version == Version::V2012_10_17) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(place.error(
                            Some(element),
                            format!("Resource {r} must be in ARN format or \"*\"."),
                        ))
                    }
                    Err(detail) => return Err(place.syntax(Some(element), detail)),
                }
            }
            targets(element, list, shared_lists)
        }
        Some((element, _)) => return Err(place.error(Some(element), MISSING_RESOURCES)),
        None => return Err(place.error(Some("Resource"), MISSING_RESOURCES)),
    };
    Ok(Statement {
        index,
        sid,
        effect,
        action,
        resource,
        conditions,
    })
}

fn targets(element: &str, list: Vec<String>, shared: &mut Shared<[String]>) -> Targets {
    let list = shared.one_copy(list);
    if element.starts_with("Not") {
        Targets::Not(list)
    } else {
        Targets::Listed(list)
    }
}

/// `{"Operator": {"key": value-or-values, ...}, ...}` -> one [`Condition`] per operator and key.
fn parse_conditions(
    place: &Place<'_>,
    json: Json<'_>,
    version: Version,
) -> Result<Vec<Condition>, PolicyError> {
    const ELEMENT: Option<&str> = Some("Condition");
    let Json::Object(operators) = json else {
        return Err(place.syntax(ELEMENT, "Condition must be an object of operators"));
    };
    place.no_duplicates(&operators, ELEMENT)?;
    let mut conditions = Vec::new();
    for (name, block) in operators {
        let Json::Object(keys) = block else {
            return Err(place.syntax(ELEMENT, format!("{name} must map condition keys to values")));
        };
        // IAM stores an empty operator block, even under a name it does not know, and it tests
        // nothing.
        if keys.is_empty() {
            continue;
        }
        let operator = Operator::parse(&name).map_err(|e| place.place(e, ELEMENT))?;
        place.no_duplicates(&keys, ELEMENT)?;
        for (key, values) in keys {
            let values = value_list(values).ok_or_else(|| {
                place.syntax(
                    ELEMENT,
                    format!(
                        "{name} {key}: expected a string, boolean or number, or a list of them"
                    ),
                )
            })?;
            let condition = Condition::new(operator, &key, values, version == Version::V2012_10_17)
                .map_err(|e| place.place(e, ELEMENT))?;
            conditions.push(condition);
        }
    }
    conditions.shrink_to_fit();
    Ok(conditions)
}

/// IAM's checks on one `Action` / `NotAction` entry, in its order and wording: a vendor prefix, one
/// colon at most, a vendor of letters, digits, `-` and `.` (the action name itself is free text).
fn validate_action(action: &str) -> Result<(), String> {
    if action == "*" {
        return Ok(());
    }
    let mut parts = action.split(':');
    let vendor = parts.next().unwrap_or("");
    match (parts.next(), parts.next()) {
        (None, _) => Err(VENDOR_PREFIX.to_owned()),
        (Some(_), Some(_)) => Err(ONE_COLON.to_owned()),
        (Some(_), None)
            if vendor != "*"
                && !vendor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
        {
            Err(format!("Vendor {vendor} is not valid"))
        }
        (Some(_), None) => Ok(()),
    }
}

/// A string or a list of strings (any list element that is not a string makes the whole invalid).
fn string_list(json: Json<'_>) -> Option<Vec<String>> {
    match json {
        Json::String(s) => Some(vec![s.into_owned()]),
        Json::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Json::String(s) => Some(s.into_owned()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Condition values are kept as long as the policy is loaded: without the slack of the parser's
/// growing vector (which collecting in place would otherwise carry over).
fn fitted(mut list: Vec<String>) -> Vec<String> {
    list.shrink_to_fit();
    list
}

/// Condition values: like [`string_list`], but booleans and numbers count as their JSON text.
fn value_list(json: Json<'_>) -> Option<Vec<String>> {
    fn scalar(json: Json<'_>) -> Option<String> {
        match json {
            Json::String(s) => Some(s.into_owned()),
            Json::Bool(b) => Some(b.to_string()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    match json {
        Json::Array(items) => items
            .into_iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()
            .map(fitted),
        other => scalar(other).map(|s| vec![s]),
    }
}

/// Where in the document we are, for errors.
struct Place<'a> {
    origin: &'a str,
    statement: Option<StatementLocation>,
}

impl Place<'_> {
    fn place(&self, error: PolicyError, element: Option<&str>) -> PolicyError {
        let mut error = error.with_origin(self.origin);
        if let Some(statement) = &self.statement {
            error = error.in_statement(statement.clone());
        }
        match element {
            Some(element) => error.in_element(element),
            None => error,
        }
    }

    fn error(&self, element: Option<&str>, message: impl Into<String>) -> PolicyError {
        self.place(PolicyError::problem(message), element)
    }

    fn syntax(&self, element: Option<&str>, detail: impl Into<String>) -> PolicyError {
        self.error(element, SYNTAX).with_detail(detail)
    }

    fn no_duplicates(
        &self,
        entries: &[(Cow<'_, str>, Json<'_>)],
        element: Option<&str>,
    ) -> Result<(), PolicyError> {
        // Objects of a policy have a handful of keys: comparing each with those before it is
        // cheaper than hashing them.
        let repeated = |(i, (key, _)): &(usize, &(Cow<'_, str>, Json<'_>))| {
            entries[..*i].iter().any(|(earlier, _)| earlier == key)
        };
        let first_repeat = if entries.len() <= 16 {
            entries
                .iter()
                .enumerate()
                .find(repeated)
                .map(|(_, entry)| entry)
        } else {
            let mut seen = FxHashSet::default();
            entries.iter().find(|(key, _)| !seen.insert(key.as_ref()))
        };
        match first_repeat {
            Some((key, _)) => Err(self.syntax(element, format!("duplicate key \"{key}\""))),
            None => Ok(()),
        }
    }
}

/// A JSON value that keeps every key of an object, in order, so that duplicates can be seen
/// (`serde_json::Value` keeps only the last).
/// Strings borrow from the policy text where they hold no escape: a large policy's keys and values
/// then cost no allocation until a statement keeps them.
#[derive(Debug)]
enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

/// An object key, borrowed where it can be (serde's own `Cow<str>` always copies).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_str(JsonVisitor)? {
            Json::String(text) => Ok(Key(text)),
            _ => Err(de::Error::custom("an object key is a string")),
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json<'de>, E> {
        // JSON cannot spell NaN or infinity, so `from_f64` only fails on input serde_json never produces.
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut entries = Vec::new();
        while let Some((Key(key), value)) = map.next_entry::<Key<'de>, Json<'de>>()? {
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn source(text: &str) -> PolicySource {
        PolicySource {
            name: "test".to_owned(),
            origin: "config/policies/test.json".to_owned(),
            text: text.to_owned(),
        }
    }

    fn parse_ok(text: &str) -> PolicyDocument {
        match parse(&source(text)) {
            Ok(doc) => doc,
            Err(e) => panic!("{e}"),
        }
    }

    fn parse_err(text: &str) -> PolicyError {
        match parse(&source(text)) {
            Ok(doc) => panic!("accepted: {doc:?}"),
            Err(e) => e,
        }
    }

    /// A one-statement policy around `statement` (the inside of the statement object).
    fn one(statement: &str) -> String {
        format!(r#"{{"Version": "2012-10-17", "Statement": {{{statement}}}}}"#)
    }

    const ALLOW: &str = r#""Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "*""#;

    #[test]
    fn accepts_every_shape() {
        let doc = parse_ok(
            r#"{"Version": "2012-10-17", "Id": "x", "Statement": [
                {"Sid": "A1", "Effect": "Allow", "Action": "bedrock:*", "Resource": "*"},
                {"Effect": "Deny", "NotAction": ["iam:*", "s3:Get?"],
                 "NotResource": "arn:aws:s3:::bucket/*",
                 "Condition": {"Bool": {"aws:SecureTransport": false},
                               "StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]},
                               "StringLike": {"aws:SomeCount": 3}}}
            ]}"#,
        );
        assert_eq!(doc.name(), "test");
        assert_eq!(doc.id(), Some("x"));
        assert_eq!(doc.version(), Version::V2012_10_17);
        let [first, second] = doc.statements() else {
            panic!("two statements")
        };
        assert_eq!(first.sid(), Some("A1"));
        assert_eq!(
            first.action(),
            &Targets::Listed(vec!["bedrock:*".to_owned()].into())
        );
        assert_eq!(second.index(), 1);
        assert_eq!(second.sid(), None);
        assert_eq!(second.effect(), Effect::Deny);
        assert!(second.action().is_not());
        assert!(second.resource().is_not());
        let values: Vec<&[String]> = second.conditions().iter().map(|c| c.values()).collect();
        assert_eq!(
            values,
            [
                &["false".to_owned()][..],
                &["us-east-1".into(), "eu-west-1".into()],
                &["3".into()]
            ]
        );
        assert_eq!(
            second.to_string(),
            "Deny every action except iam:*, s3:Get? on every resource except arn:aws:s3:::bucket/* \
             if Bool(aws:SecureTransport: false) and StringEquals(aws:RequestedRegion: us-east-1 | eu-west-1) \
             and StringLike(aws:SomeCount: 3)"
        );
        // No Version: 2008-10-17, where `${` is literal.
        let doc = parse_ok(
            r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::${aws:username}"}}"#,
        );
        assert_eq!(doc.version(), Version::V2008_10_17);
        // A byte-order mark is tolerated.
        parse_ok(&format!("\u{feff}{}", one(ALLOW)));
    }

    /// (policy text, expected statement location (index, sid), element, message, detail)
    type Case<'a> = (
        String,
        Option<(usize, Option<&'a str>)>,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
    );

    #[test]
    fn errors_say_what_and_where() {
        let vendor = VENDOR_PREFIX;
        let cases: Vec<Case> = vec![
            ("{".into(), None, None, SYNTAX, None),
            (
                "[]".into(),
                None,
                None,
                SYNTAX,
                Some("a policy is a JSON object"),
            ),
            (
                r#"{"Version": "2012-10-17", "Statement": [], "Extra": 1}"#.into(),
                None,
                Some("Extra"),
                SYNTAX,
                Some("unknown element"),
            ),
            (
                r#"{"Version": "2012-10-17", "Statement": []}"#.into(),
                None,
                Some("Statement"),
                SYNTAX,
                Some("a policy needs at least one statement"),
            ),
            (
                r#"{"Version": "2012-10-17"}"#.into(),
                None,
                Some("Statement"),
                SYNTAX,
                Some("a policy needs at least one statement"),
            ),
            (
                r#"{"Version": "2012-10-18", "Statement": {}}"#.into(),
                None,
                Some("Version"),
                SYNTAX,
                Some("Version must be \"2012-10-17\" or \"2008-10-17\""),
            ),
            (
                r#"{"Version": "2012-10-17", "Version": "2012-10-17", "Statement": {}}"#.into(),
                None,
                None,
                SYNTAX,
                Some("duplicate key \"Version\""),
            ),
            (
                one(&format!(r#"{ALLOW}, "Effect": "Deny""#)),
                Some((0, None)),
                None,
                SYNTAX,
                Some("duplicate key \"Effect\""),
            ),
            (
                one(r#""Sid": "S", "Effect": "allow", "Action": "s3:*", "Resource": "*""#),
                Some((0, Some("S"))),
                Some("Effect"),
                LEGACY_PARSING,
                None,
            ),
            (
                one(r#""Sid": "S", "Effect": "Permit", "Action": "s3:*", "Resource": "*""#),
                Some((0, Some("S"))),
                Some("Effect"),
                SYNTAX,
                Some("Effect must be \"Allow\" or \"Deny\" (case-sensitive)"),
            ),
            (
                one(r#""Action": "s3:*", "Resource": "*""#),
                Some((0, None)),
                Some("Effect"),
                SYNTAX,
                Some("a statement needs an Effect"),
            ),
            (
                one(&format!(r#"{ALLOW}, "Effekt": "Allow""#)),
                Some((0, None)),
                Some("Effekt"),
                SYNTAX,
                Some("unknown element"),
            ),
            (
                one(
                    r#""Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*""#,
                ),
                Some((0, None)),
                Some("NotAction"),
                SYNTAX,
                Some("a statement has either Action or NotAction, not both"),
            ),
            (
                one(r#""Effect": "Allow", "Action": "s3:*", "Resource": "*", "NotResource": "*""#),
                Some((0, None)),
                Some("NotResource"),
                SYNTAX,
                Some("a statement has either Resource or NotResource, not both"),
            ),
            (
                one(r#""Effect": "Allow", "Resource": "*""#),
                Some((0, None)),
                Some("Action"),
                MISSING_ACTIONS,
                None,
            ),
            (
                one(r#""Effect": "Allow", "Action": [], "Resource": "*""#),
                Some((0, None)),
                Some("Action"),
                MISSING_ACTIONS,
                None,
            ),
            (
                one(r#""Effect": "Allow", "Action": "s3:*""#),
                Some((0, None)),
                Some("Resource"),
                MISSING_RESOURCES,
                None,
            ),
            (
                one(r#""Effect": "Allow", "Action": "s3:*", "NotResource": []"#),
                Some((0, None)),
                Some("NotResource"),
                MISSING_RESOURCES,
                None,
            ),
            (
                one(r#""Effect": "Allow", "Action": 5, "Resource": "*""#),
                Some((0, None)),
                Some("Action"),
                SYNTAX,
                Some("expected a string or a list of strings"),
            ),
            (
                one(
                    r#""Sid": "DenyX", "Effect": "Deny", "Action": "s3:*", "Resource": ["*", "foo"]"#,
                ),
                Some((0, Some("DenyX"))),
                Some("Resource"),
                "Resource foo must be in ARN format or \"*\".",
                None,
            ),
            (
                one(r#""Effect": "Deny", "Action": "s3:*", "NotResource": "bedrock:foo:bar""#),
                Some((0, None)),
                Some("NotResource"),
                "Partition \"foo\" is not valid for resource \"arn:foo:bar:*:*:*\".",
                None,
            ),
            (
                one(r#""Effect": "Allow", "Action": ["s3:*", "InvokeModel"], "Resource": "*""#),
                Some((0, None)),
                Some("Action"),
                vendor,
                Some("action \"InvokeModel\""),
            ),
            (
                one(r#""Effect": "Allow", "NotAction": "bedrock:Invoke:Model", "Resource": "*""#),
                Some((0, None)),
                Some("NotAction"),
                ONE_COLON,
                Some("action \"bedrock:Invoke:Model\""),
            ),
            (
                one(r#""Effect": "Allow", "Action": "bedrock*:InvokeModel", "Resource": "*""#),
                Some((0, None)),
                Some("Action"),
                "Vendor bedrock* is not valid",
                Some("action \"bedrock*:InvokeModel\""),
            ),
            (
                r#"{"Version": "2012-10-17", "Statement": [
                    {"Sid": "Same", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {"Sid": "Same", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}"#
                    .into(),
                Some((1, Some("Same"))),
                Some("Sid"),
                DUPLICATE_SID,
                None,
            ),
            (
                one(&format!(r#""Sid": "with space", {ALLOW}"#)),
                Some((0, None)),
                Some("Sid"),
                SID_FORMAT,
                None,
            ),
            (
                one(&format!(r#"{ALLOW}, "Principal": {{"AWS": "*"}}"#)),
                Some((0, None)),
                Some("Principal"),
                PRINCIPAL,
                None,
            ),
            (
                one(&format!(r#"{ALLOW}, "NotPrincipal": "*""#)),
                Some((0, None)),
                Some("NotPrincipal"),
                PRINCIPAL,
                None,
            ),
            (
                one(&format!(
                    r#"{ALLOW}, "Condition": {{"StringEqualz": {{"aws:x": "y"}}}}"#
                )),
                Some((0, None)),
                Some("Condition"),
                SYNTAX,
                Some("unknown condition operator StringEqualz"),
            ),
            (
                one(&format!(
                    r#"{ALLOW}, "Condition": {{"NumericLessThan": {{"aws:x": "ten"}}}}"#
                )),
                Some((0, None)),
                Some("Condition"),
                SYNTAX,
                Some("NumericLessThan aws:x: \"ten\" is not a number"),
            ),
            (
                one(&format!(
                    r#"{ALLOW}, "Condition": {{"IpAddress": {{"aws:SourceIp": "10.0.0.0/33"}}}}"#
                )),
                Some((0, None)),
                Some("Condition"),
                SYNTAX,
                Some("IpAddress aws:SourceIp: \"10.0.0.0/33\" is not an IP address or CIDR block"),
            ),
            (
                one(&format!(
                    r#"{ALLOW}, "Condition": {{"StringEquals": {{"aws:x": "a", "aws:x": "b"}}}}"#
                )),
                Some((0, None)),
                Some("Condition"),
                SYNTAX,
                Some("duplicate key \"aws:x\""),
            ),
            (
                one(&format!(
                    r#"{ALLOW}, "Condition": {{"StringEquals": {{"aws:x": null}}}}"#
                )),
                Some((0, None)),
                Some("Condition"),
                SYNTAX,
                Some("StringEquals aws:x: expected a string, boolean or number, or a list of them"),
            ),
            (
                one(
                    r#""Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::${aws:username/*""#,
                ),
                Some((0, None)),
                Some("Resource"),
                SYNTAX,
                Some("policy variable in \"${aws:username/*\" has no closing '}'"),
            ),
            (
                one(&format!(
                    r#"{ALLOW}, "Condition": {{"StringLike": {{"aws:PrincipalArn": "arn:aws:iam::*:user/${{username}}"}}}}"#
                )),
                Some((0, None)),
                Some("Condition"),
                SYNTAX,
                Some("invalid policy variable ${username} in \"arn:aws:iam::*:user/${username}\""),
            ),
            (
                r#"{"Version": "2012-10-17", "Statement": ["x"]}"#.into(),
                Some((0, None)),
                None,
                SYNTAX,
                Some("a statement is a JSON object"),
            ),
        ];
        for (text, statement, element, message, detail) in cases {
            let err = parse_err(&text);
            assert_eq!(err.origin(), "config/policies/test.json", "{text}");
            let location = err.statement().map(|s| (s.index, s.sid.as_deref()));
            assert_eq!(location, statement, "{text}: {err}");
            assert_eq!(err.element(), element, "{text}: {err}");
            assert_eq!(err.message(), message, "{text}: {err}");
            if detail.is_some() || message != SYNTAX {
                assert_eq!(err.detail(), detail, "{text}: {err}");
            }
        }
    }

    #[test]
    fn error_display_matches_the_documented_shape() {
        let err = parse_err(&one(
            r#""Sid": "DenyX", "Effect": "Deny", "Action": "s3:*", "Resource": "foo""#,
        ));
        assert_eq!(
            err.to_string(),
            "config/policies/test.json: statement \"DenyX\" (#0), element Resource: Resource foo must be in ARN format or \"*\"."
        );
        let err = parse_err("{\"Version\": ");
        assert!(
            err.to_string().starts_with(
                "config/policies/test.json: Syntax errors in policy. (EOF while parsing"
            ),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in any::<String>()) {
            let _ = parse(&source(&text));
        }

        #[test]
        fn parse_never_panics_on_policy_like_text(
            text in r#"[{}\[\]",: ]{0,4}("(Version|Statement|Sid|Effect|Action|NotAction|Resource|NotResource|Condition|Allow|Deny|StringLike|Null|ForAnyValue:StringEquals|aws:x|\*|arn:aws:b:\*::m/\*|\$\{a\}|true)"|[{}\[\]",: 1]){0,40}"#
        ) {
            let _ = parse(&source(&text));
        }

        /// Structurally valid statements with arbitrary operators, keys, values and variables: parsing
        /// and compiling never panic, and whatever parses also compiles.
        #[test]
        fn parse_and_compile_never_panic_on_statement_shaped_json(
            effect in "(Allow|Deny|allow|)",
            action in prop::collection::vec("(bedrock|s3|\\*)?:?[A-Za-z*?]{0,6}", 0..3),
            resource in prop::collection::vec("(\\*|arn:aws:bedrock:[a-z0-9*?-]{0,4}:[0-9*]{0,3}:[a-z/.:*?${}A-Za-z, ']{0,30})", 0..3),
            operator in "(ForAnyValue:|ForAllValues:)?(String|Numeric|Date|Arn|Ip|Binary|Bool|Null|NotIp)(Equals|NotEquals|Like|LessThan|Address)?(IfExists)?",
            key in "(aws|bedrock)?:?[A-Za-z/]{0,8}",
            values in prop::collection::vec("[0-9a-zA-Z:./*${}, '+-]{0,20}", 0..3),
            version in "(2012-10-17|2008-10-17)",
        ) {
            let text = serde_json::json!({
                "Version": version,
                "Statement": [{
                    "Effect": effect, "Action": action, "Resource": resource,
                    "Condition": {operator: {key: values}},
                }],
            })
            .to_string();
            if let Ok(doc) = parse(&source(&text)) {
                prop_assert!(crate::policy::PolicySet::compile(vec![doc]).is_ok());
            }
        }
    }
}
