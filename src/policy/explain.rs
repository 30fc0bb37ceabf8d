//! A [`Decision`] and how it explains itself: allow or deny, the deciding statement, or the layer (which
//! SCP level, the identity policies, the permissions boundary) that failed to allow; AWS's AccessDenied
//! wording for clients and a JSON form for `explain --json`.

use std::fmt;
use std::sync::Arc;

use super::document::Effect;
use super::rule::RuleRef;

/// The kind of policy layer, as AWS names them in AccessDenied messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerKind {
    /// Service control policies attached at one level of the organisation (root, an OU, an account).
    Scp,
    Identity,
    Boundary,
}

impl LayerKind {
    /// `service control policy`, `identity-based policy`, `permissions boundary`.
    pub fn aws_name(self) -> &'static str {
        match self {
            Self::Scp => "service control policy",
            Self::Identity => "identity-based policy",
            Self::Boundary => "permissions boundary",
        }
    }

    fn article(self) -> &'static str {
        match self {
            Self::Identity => "an",
            _ => "a",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scp => "scp",
            Self::Identity => "identity",
            Self::Boundary => "boundary",
        }
    }
}

/// One layer of a principal's evaluation: its kind and, for SCPs, the level (`root`, `ou ou-ml`,
/// `account 111122223333`). Cloning copies a reference count, never a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerRef {
    pub kind: LayerKind,
    pub level: Option<Arc<str>>,
}

impl LayerRef {
    pub fn identity() -> Self {
        Self {
            kind: LayerKind::Identity,
            level: None,
        }
    }

    pub fn boundary() -> Self {
        Self {
            kind: LayerKind::Boundary,
            level: None,
        }
    }

    pub fn scp(level: Arc<str>) -> Self {
        Self {
            kind: LayerKind::Scp,
            level: Some(level),
        }
    }
}

impl fmt::Display for LayerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.level {
            Some(level) => write!(f, "SCPs at {level}"),
            None => f.write_str(match self.kind {
                LayerKind::Scp => "SCPs",
                LayerKind::Identity => "identity policies",
                LayerKind::Boundary => "permissions boundary",
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// The answer for one request, with what is needed to explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub(crate) outcome: Outcome,
    pub(crate) rule: Option<RuleRef>,
    pub(crate) layer: Option<LayerRef>,
    pub(crate) denied_resource: Option<String>,
}

impl Decision {
    pub(crate) fn allow(rule: Option<&RuleRef>, layer: Option<&LayerRef>) -> Self {
        Self {
            outcome: Outcome::Allow,
            rule: rule.cloned(),
            layer: layer.cloned(),
            denied_resource: None,
        }
    }

    pub(crate) fn deny(
        outcome: Outcome,
        rule: Option<&RuleRef>,
        layer: Option<&LayerRef>,
        resource: Option<&str>,
    ) -> Self {
        Self {
            outcome,
            rule: rule.cloned(),
            layer: layer.cloned(),
            denied_resource: resource.map(str::to_owned),
        }
    }

    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    pub fn effect(&self) -> Effect {
        if self.is_allowed() {
            Effect::Allow
        } else {
            Effect::Deny
        }
    }

    /// The rule that decided: for an explicit deny the deny statement; for an allow the (first) allowing
    /// statement of the first check in the identity layer (or the first layer when there is none);
    /// `None` for an implicit deny.
    pub fn rule(&self) -> Option<&RuleRef> {
        self.rule.as_ref()
    }

    /// For a deny, the layer that denied (explicit deny) or failed to allow (implicit deny); for an
    /// allow, the layer of [`Decision::rule`].
    pub fn layer(&self) -> Option<&LayerRef> {
        self.layer.as_ref()
    }

    /// The resource ARN that was denied (`None` when allowed, or when the request had no checks).
    pub fn denied_resource(&self) -> Option<&str> {
        self.denied_resource.as_deref()
    }

    pub fn is_explicit_deny(&self) -> bool {
        self.outcome == Outcome::ExplicitDeny
    }

    /// `allow`, `explicit deny` or `implicit deny`.
    pub fn outcome_name(&self) -> &'static str {
        match self.outcome {
            Outcome::Allow => "allow",
            Outcome::ExplicitDeny => "explicit deny",
            Outcome::ImplicitDeny => "implicit deny",
        }
    }

    /// AWS's AccessDenied wording; with `show_rule`, the deciding rule (explicit deny) or the layer that
    /// failed to allow (implicit deny) is appended where AWS appends the policy ARN. `None` when allowed.
    pub fn denial_message(
        &self,
        principal_arn: &str,
        action: &str,
        show_rule: bool,
    ) -> Option<String> {
        let mut message = format!("User: {principal_arn} is not authorized to perform: {action}");
        if let Some(resource) = &self.denied_resource {
            message.push_str(" on resource: ");
            message.push_str(resource);
        }
        let kind = self.layer.as_ref().map_or(LayerKind::Identity, |l| l.kind);
        match self.outcome {
            Outcome::Allow => return None,
            Outcome::ExplicitDeny => message.push_str(&format!(
                " with an explicit deny in {} {}",
                kind.article(),
                kind.aws_name()
            )),
            Outcome::ImplicitDeny => message.push_str(&format!(
                " because no {} allows the {action} action",
                kind.aws_name()
            )),
        }
        if show_rule {
            match (&self.rule, &self.layer) {
                (Some(rule), _) => message.push_str(&format!(": {rule}")),
                (None, Some(layer)) if layer.level.is_some() => {
                    message.push_str(&format!(": {layer}"))
                }
                _ => {}
            }
        }
        Some(message)
    }

    /// One JSON object: `decision` (`allow`/`deny`), `outcome`, `rule`, `layer`, `level`,
    /// `denied_resource`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "decision": if self.is_allowed() { "allow" } else { "deny" },
            "outcome": self.outcome_name(),
            "rule": self.rule.as_ref().map(ToString::to_string),
            "layer": self.layer.as_ref().map(|l| l.kind.as_str()),
            "level": self.layer.as_ref().and_then(|l| l.level.as_deref()),
            "denied_resource": self.denied_resource,
        })
    }
}

/// `explicit deny by org-scp#DenyDeepSeek (SCPs at root) on arn:...`
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.outcome_name())?;
        match (&self.outcome, &self.rule, &self.layer) {
            (Outcome::ImplicitDeny, _, Some(layer)) => {
                write!(f, ": no statement in the {layer} allows it")?
            }
            (_, Some(rule), Some(layer)) => write!(f, " by {rule} ({layer})")?,
            (_, Some(rule), None) => write!(f, " by {rule}")?,
            _ => {}
        }
        if let Some(resource) = &self.denied_resource {
            write!(f, " on {resource}")?;
        }
        Ok(())
    }
}
