//! Why a policy was refused, and where.
//!
//! The message is AWS's own wording wherever AWS has one, so that people who know IAM recognize it; the
//! location (file, statement, element) is what IAM does not tell you and a local tool can.

use std::fmt;
use std::sync::Arc;

/// AWS: bad JSON, unknown element, conflicting elements, unknown condition operator.
pub const SYNTAX: &str = "Syntax errors in policy.";
pub const MISSING_ACTIONS: &str = "Policy statement must contain actions.";
pub const MISSING_RESOURCES: &str = "Policy statement must contain resources.";
pub const VENDOR_PREFIX: &str =
    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.";
pub const ONE_COLON: &str = "Actions/Condition can contain only one colon.";
/// AWS: an element IAM's first, lenient reading accepts and its second refuses (`"Effect": "allow"`,
/// a short ARN with an empty part, a date it cannot read).
pub const LEGACY_PARSING: &str = "The policy failed legacy parsing";
pub const DUPLICATE_SID: &str = "Statement IDs (SID) in a single policy must be unique.";
pub const SID_FORMAT: &str = "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*";
pub const PRINCIPAL: &str = "Policy document should not specify a principal.";

/// Which statement an error is about: its position in `Statement` (0-based, as in the JSON array) and
/// its `Sid` when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLocation {
    pub index: usize,
    pub sid: Option<Arc<str>>,
}

impl fmt::Display for StatementLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "statement \"{sid}\" (#{})", self.index),
            None => write!(f, "statement #{}", self.index),
        }
    }
}

/// A policy that cannot be loaded. Display:
/// `config/policies/org.json: statement "DenyX" (#2), element Resource: Resource foo must be in ARN format or "*".`
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(Box<Details>);

/// Boxed: errors are rare and `Result<_, PolicyError>` should stay small.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Details {
    origin: String,
    statement: Option<StatementLocation>,
    element: Option<String>,
    message: String,
    detail: Option<String>,
}

impl fmt::Display for Details {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        match (&self.statement, &self.element) {
            (Some(statement), Some(element)) => write!(f, "{statement}, element {element}: ")?,
            (Some(statement), None) => write!(f, "{statement}: ")?,
            (None, Some(element)) => write!(f, "element {element}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)?;
        match &self.detail {
            Some(detail) => write!(f, " ({detail})"),
            None => Ok(()),
        }
    }
}

impl PolicyError {
    pub(crate) fn new(origin: &str, message: impl Into<String>) -> Self {
        Self(Box::new(Details {
            origin: origin.to_owned(),
            statement: None,
            element: None,
            message: message.into(),
            detail: None,
        }))
    }

    /// An error found below the document level, before the caller knows where it is; the caller then
    /// places it with `with_origin`, `in_statement` and `in_element`.
    pub(crate) fn problem(message: impl Into<String>) -> Self {
        Self::new("", message)
    }

    pub(crate) fn with_origin(mut self, origin: &str) -> Self {
        origin.clone_into(&mut self.0.origin);
        self
    }

    pub(crate) fn in_statement(mut self, statement: StatementLocation) -> Self {
        self.0.statement = Some(statement);
        self
    }

    pub(crate) fn in_element(mut self, element: &str) -> Self {
        self.0.element = Some(element.to_owned());
        self
    }

    /// Our own precision after AWS's wording (which key is duplicated, where the JSON breaks).
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// The file path, or `embedded` / `--policy`: where the policy text came from.
    pub fn origin(&self) -> &str {
        &self.0.origin
    }

    pub fn statement(&self) -> Option<&StatementLocation> {
        self.0.statement.as_ref()
    }

    /// The policy element at fault (`Resource`, `Condition`, `Version`, or an unknown element's name).
    pub fn element(&self) -> Option<&str> {
        self.0.element.as_deref()
    }

    /// AWS's wording when AWS has one.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    pub fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_statement_and_element() {
        let err = PolicyError::new(
            "config/policies/org.json",
            "Resource foo must be in ARN format or \"*\".",
        )
        .in_statement(StatementLocation {
            index: 2,
            sid: Some("DenyX".into()),
        })
        .in_element("Resource");
        assert_eq!(
            err.to_string(),
            "config/policies/org.json: statement \"DenyX\" (#2), element Resource: Resource foo must be in ARN format or \"*\"."
        );
    }

    #[test]
    fn display_without_sid_element_or_with_detail() {
        let err = PolicyError::new("p.json", SYNTAX).in_statement(StatementLocation {
            index: 0,
            sid: None,
        });
        assert_eq!(
            err.to_string(),
            "p.json: statement #0: Syntax errors in policy."
        );
        let err = PolicyError::new("p.json", SYNTAX).with_detail("EOF at line 1 column 1");
        assert_eq!(
            err.to_string(),
            "p.json: Syntax errors in policy. (EOF at line 1 column 1)"
        );
        let err = PolicyError::new("embedded", SYNTAX).in_element("Version");
        assert_eq!(
            err.to_string(),
            "embedded: element Version: Syntax errors in policy."
        );
    }
}
