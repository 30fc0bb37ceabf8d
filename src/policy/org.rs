//! Layers as AWS combines them: service control policies at every level of the organisation path
//! (root -> OU -> ... -> account), the principal's identity policies (its own and its groups'), and an
//! optional permissions boundary.
//!
//! AWS's rules, in order: a matching Deny in any layer denies (explicit deny); then every layer must
//! have a statement allowing every resource check (SCP levels are ANDed, policies within a level ORed);
//! otherwise allow. See `../shared/reference/iam-evaluation.md` and the IAM User Guide, "Policy
//! evaluation logic".

use std::collections::HashMap;
use std::sync::Arc;

use super::evaluate::{PolicySet, RuleRef};
use super::explain::{Decision, LayerKind, LayerRef, Outcome};
use super::index::Walk;
use super::request::{AuthzRequest, RequestContext};
use super::resource::Arn;

/// Decides `req` against `layers` (in reporting order). Allocates nothing on an allow.
impl PolicySet {
    /// Decides one request with this set as the only layer (identity-policy semantics): a Deny on any
    /// check denies; otherwise every check needs an Allow; no checks at all is a deny (fail closed).
    /// Defined here, beside the layer logic it uses, so that compiling policies does not depend on
    /// combining them.
    pub fn evaluate(&self, req: &AuthzRequest<'_>) -> Decision {
        let layer = LayerRef::identity();
        evaluate_layers([(&layer, self)], req)
    }
}

pub(crate) fn evaluate_layers<'a, I>(layers: I, req: &AuthzRequest<'_>) -> Decision
where
    I: IntoIterator<Item = (&'a LayerRef, &'a PolicySet)>,
{
    if req.checks.is_empty() {
        // Nothing to authorize against: fail closed.
        return Decision::deny(Outcome::ImplicitDeny, None, None, None);
    }
    // One pass: a Deny anywhere returns at once (it outranks any missing Allow, so neither the order
    // of layers nor of statements can change the outcome); the first (layer, check) without an Allow
    // is remembered and reported only if no Deny turns up.
    let mut missing: Option<(&LayerRef, &str)> = None;
    let mut reported: Option<(&RuleRef, &LayerRef)> = None;
    let mut any_layer = false;
    for (layer, set) in layers {
        any_layer = true;
        let mut walk = Walk::new();
        for check in req.checks {
            let arn = Arn::parse(&check.arn);
            let (deny, allow) =
                set.applying(req.action, check, arn.as_ref(), req.context, &mut walk);
            if let Some(rule) = deny {
                return Decision::deny(
                    Outcome::ExplicitDeny,
                    Some(rule),
                    Some(layer),
                    Some(&check.arn),
                );
            }
            match allow {
                Some(rule) => {
                    let better = match reported {
                        None => true,
                        Some((_, l)) => {
                            l.kind != LayerKind::Identity && layer.kind == LayerKind::Identity
                        }
                    };
                    if better {
                        reported = Some((rule, layer));
                    }
                }
                None => {
                    missing.get_or_insert((layer, &check.arn));
                }
            }
        }
    }
    if let Some((layer, arn)) = missing {
        return Decision::deny(Outcome::ImplicitDeny, None, Some(layer), Some(arn));
    }
    if !any_layer {
        return Decision::deny(Outcome::ImplicitDeny, None, None, None);
    }
    let (rule, layer) = reported.map_or((None, None), |(r, l)| (Some(r), Some(l)));
    Decision::allow(rule, layer)
}

/// The SCPs of an organisation, by level. A level with no SCP listed behaves as if `FullAWSAccess` were
/// attached: AWS attaches it by default and refuses to detach the last SCP of a level.
#[derive(Debug, Clone, Default)]
pub struct Organization {
    /// `aws:PrincipalOrgID`.
    pub id: Option<String>,
    root: Option<Arc<PolicySet>>,
    ous: HashMap<String, (Option<String>, Option<Arc<PolicySet>>)>,
    accounts: HashMap<String, (Option<String>, Option<Arc<PolicySet>>)>,
}

/// Why an organisation or principal cannot be built (the config layer adds the file name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OrgError(pub String);

impl Organization {
    pub fn new(id: Option<String>, root_scps: Option<Arc<PolicySet>>) -> Self {
        Self {
            id,
            root: root_scps,
            ..Self::default()
        }
    }

    /// Adds an OU under `parent` (`None` or `"root"`: under the root).
    pub fn add_ou(
        &mut self,
        id: &str,
        parent: Option<&str>,
        scps: Option<Arc<PolicySet>>,
    ) -> Result<(), OrgError> {
        let parent = parent.filter(|p| *p != "root").map(str::to_owned);
        if id == "root" || self.ous.insert(id.to_owned(), (parent, scps)).is_some() {
            return Err(OrgError(format!("org.ous: OU {id:?} is defined twice")));
        }
        Ok(())
    }

    pub fn add_account(
        &mut self,
        id: &str,
        ou: Option<&str>,
        scps: Option<Arc<PolicySet>>,
    ) -> Result<(), OrgError> {
        let ou = ou.filter(|p| *p != "root").map(str::to_owned);
        if self.accounts.insert(id.to_owned(), (ou, scps)).is_some() {
            return Err(OrgError(format!(
                "org.accounts: account {id:?} is defined twice"
            )));
        }
        Ok(())
    }

    /// Checks that every parent exists and that OUs form a tree.
    pub fn validate(&self) -> Result<(), OrgError> {
        for (id, (parent, _)) in &self.ous {
            self.ou_chain(id)
                .map_err(|e| OrgError(format!("org.ous {id:?}: {}", e.0)))?;
            let _ = parent;
        }
        for (id, (ou, _)) in &self.accounts {
            if let Some(ou) = ou {
                if !self.ous.contains_key(ou) {
                    return Err(OrgError(format!(
                        "org.accounts {id:?}: OU {ou:?} is not defined in [[org.ous]]"
                    )));
                }
            }
        }
        Ok(())
    }

    /// OU ids from the top (just below the root) down to `ou`.
    fn ou_chain(&self, ou: &str) -> Result<Vec<String>, OrgError> {
        let mut chain = vec![ou.to_owned()];
        let mut current = ou;
        loop {
            let Some((parent, _)) = self.ous.get(current) else {
                return Err(OrgError(format!("OU {current:?} is not defined")));
            };
            match parent {
                None => break,
                Some(parent) => {
                    if chain.iter().any(|c| c == parent) {
                        return Err(OrgError(format!("OU {parent:?} is its own ancestor")));
                    }
                    chain.push(parent.clone());
                    current = parent;
                }
            }
        }
        chain.reverse();
        Ok(chain)
    }

    /// The SCP levels on the path to `account`, root first. An account not listed in the organisation
    /// sits directly under the root (root SCPs still apply).
    pub fn scp_layers(&self, account: &str) -> Result<Vec<(LayerRef, Arc<PolicySet>)>, OrgError> {
        let mut layers = Vec::new();
        if let Some(root) = &self.root {
            layers.push((LayerRef::scp(Arc::from("root")), Arc::clone(root)));
        }
        if let Some((ou, scps)) = self.accounts.get(account) {
            if let Some(ou) = ou {
                for id in self.ou_chain(ou)? {
                    if let Some((_, Some(set))) = self.ous.get(&id) {
                        layers.push((
                            LayerRef::scp(Arc::from(format!("OU {id}"))),
                            Arc::clone(set),
                        ));
                    }
                }
            }
            if let Some(set) = scps {
                layers.push((
                    LayerRef::scp(Arc::from(format!("account {account}"))),
                    Arc::clone(set),
                ));
            }
        }
        Ok(layers)
    }
}

/// What identity policies a principal has.
#[derive(Debug, Clone)]
pub enum Identity {
    /// Its own and its groups' identity policies, as one layer.
    Policies(Arc<PolicySet>),
    /// No identity layer at all: the SCPs and the boundary alone decide. This is the sidecar case (one
    /// trusted application behind the guard, governed by organisation rules only) and must be chosen
    /// explicitly in the config (`identity = "unrestricted"`); AWS itself has no such principal.
    Unrestricted,
}

/// A caller the guard knows: who it is, where it sits in the organisation, and its compiled layers.
#[derive(Debug, Clone)]
pub struct Principal {
    name: Arc<str>,
    arn: Arc<str>,
    account: Option<Arc<str>>,
    tags: Vec<(String, String)>,
    org_id: Option<Arc<str>>,
    scps: Vec<(LayerRef, Arc<PolicySet>)>,
    identity: Option<Arc<PolicySet>>,
    boundary: Option<Arc<PolicySet>>,
    /// SCP levels root first, then identity, then boundary: the order explanations report them in.
    layers: Vec<(LayerRef, Arc<PolicySet>)>,
    reads_body: bool,
}

impl Principal {
    /// A principal with no organisation (no SCPs), no tags and no boundary; add them with the
    /// `with_*` methods.
    pub fn new(name: &str, arn: &str, identity: Identity) -> Self {
        let mut principal = Self {
            name: name.into(),
            arn: arn.into(),
            account: account_of_arn(arn).map(Arc::from),
            tags: Vec::new(),
            org_id: None,
            scps: Vec::new(),
            identity: match identity {
                Identity::Policies(set) => Some(set),
                Identity::Unrestricted => None,
            },
            boundary: None,
            layers: Vec::new(),
            reads_body: false,
        };
        principal.rebuild();
        principal
    }

    /// The account (`aws:PrincipalAccount`), and the organisation's SCP levels on its path
    /// ([`Organization::scp_layers`]) with the organisation id (`aws:PrincipalOrgID`).
    pub fn with_account(
        mut self,
        account: Option<&str>,
        org_id: Option<&str>,
        scps: Vec<(LayerRef, Arc<PolicySet>)>,
    ) -> Self {
        if let Some(account) = account {
            self.account = Some(account.into());
        }
        self.org_id = org_id.map(Arc::from);
        self.scps = scps;
        self.rebuild();
        self
    }

    pub fn with_tags(mut self, tags: Vec<(String, String)>) -> Self {
        self.tags = tags;
        self
    }

    pub fn with_boundary(mut self, boundary: Option<Arc<PolicySet>>) -> Self {
        self.boundary = boundary;
        self.rebuild();
        self
    }

    fn rebuild(&mut self) {
        let mut layers = self.scps.clone();
        if let Some(set) = &self.identity {
            layers.push((LayerRef::identity(), Arc::clone(set)));
        }
        if let Some(set) = &self.boundary {
            layers.push((LayerRef::boundary(), Arc::clone(set)));
        }
        self.reads_body = layers.iter().any(|(_, s)| s.reads_body());
        self.layers = layers;
    }

    /// Whether the principal has no identity layer ([`Identity::Unrestricted`]).
    pub fn is_identity_unrestricted(&self) -> bool {
        self.identity.is_none()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }

    pub fn layers(&self) -> impl Iterator<Item = (&LayerRef, &PolicySet)> {
        self.layers.iter().map(|(l, s)| (l, &**s))
    }

    /// Whether any layer reads a condition key taken from the request body.
    pub fn reads_body(&self) -> bool {
        self.reads_body
    }

    /// Sets the principal's keys: `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalOrgID`,
    /// `aws:PrincipalTag/*`.
    pub fn fill_context(&self, context: &mut RequestContext) {
        context.set("aws:PrincipalArn", &*self.arn);
        if let Some(account) = &self.account {
            context.set("aws:PrincipalAccount", &**account);
        }
        if let Some(org) = &self.org_id {
            context.set("aws:PrincipalOrgID", &**org);
        }
        for (key, value) in &self.tags {
            context.set(format!("aws:PrincipalTag/{key}"), value.as_str());
        }
    }

    /// Decides a request made by this principal.
    pub fn evaluate(&self, req: &AuthzRequest<'_>) -> Decision {
        evaluate_layers(self.layers.iter().map(|(l, s)| (l, &**s)), req)
    }
}

/// The account of an IAM ARN (`arn:aws:iam::111122223333:role/x` -> `111122223333`).
pub fn account_of_arn(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}
