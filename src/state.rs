//! The state every request shares: the live configuration snapshot and the long-lived clients.
//!
//! Kept apart from `guard` (which builds it) so the request handler and the admin routes can read it
//! without importing the builder.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::auth::Caller;
use crate::aws::{AccountResolver, CredentialCache, CredentialsError, RoleSessions};
use crate::config::Snapshot;
use crate::controlplane::ControlPlane;
use crate::ops::Ops;
use crate::quota::Quotas;
use crate::upstream::Upstream;

/// State shared by all requests. Only `live` changes after start (hot reload swaps whole snapshots).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) live: Arc<ArcSwap<Snapshot>>,
    pub(crate) region: String,
    pub(crate) credentials: CredentialCache,
    pub(crate) roles: RoleSessions,
    pub(crate) account: AccountResolver,
    pub(crate) upstream: Upstream,
    pub(crate) ops: Ops,
    /// What wrappers route to, per served region (the control-plane cache).
    pub(crate) control_plane: Arc<ControlPlane>,
    /// Quota counters: outlive every snapshot, so reloads keep the counts.
    pub(crate) quotas: Arc<Quotas>,
}

impl Shared {
    /// The credentials to sign `principal`'s calls with: its own role session when it has one,
    /// otherwise the proxy's.
    pub(crate) async fn credentials_for(
        &self,
        caller: &Caller,
    ) -> Result<Arc<aws_credential_types::Credentials>, CredentialsError> {
        match &caller.assume_role_arn {
            Some(role) => {
                self.roles
                    .session(caller.principal.name(), role)
                    .get()
                    .await
            }
            None => self.credentials.get().await,
        }
    }
}
