//! Which statement decided a request: shared by the compiled policies ([`super::evaluate`]) and the
//! decision they produce ([`super::explain`]), so that neither module needs the other.

use std::fmt;
use std::sync::Arc;

/// Which statement decided: `policy#Sid`, or `policy#statement[3]` (0-based) when it has no Sid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// The policy's short name ([`super::PolicySource::name`]).
    pub policy: Arc<str>,
    pub sid: Option<Arc<str>>,
    /// Position in the policy's `Statement` array.
    pub index: usize,
}

impl RuleRef {
    /// The rule as text, as `Display` writes it; without the formatting machinery for the common
    /// case (a Sid), since the audit line of every call carries it.
    pub fn name(&self) -> String {
        match &self.sid {
            Some(sid) => [&*self.policy, "#", sid].concat(),
            None => self.to_string(),
        }
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "{}#{sid}", self.policy),
            None => write!(f, "{}#statement[{}]", self.policy, self.index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_the_display_text() {
        for (sid, index, want) in [
            (Some("AllowInference"), 3, "org#AllowInference"),
            (None, 3, "org#statement[3]"),
        ] {
            let rule = RuleRef {
                policy: Arc::from("org"),
                sid: sid.map(Arc::from),
                index,
            };
            assert_eq!(rule.name(), want);
            assert_eq!(rule.to_string(), want);
        }
    }
}
