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

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "{}#{sid}", self.policy),
            None => write!(f, "{}#statement[{}]", self.policy, self.index),
        }
    }
}
