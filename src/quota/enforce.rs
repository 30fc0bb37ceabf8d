//! The request path's hook: check a call after authorization, hand its admission to the audit event
//! (which charges it with the metered tokens when the response ends).

use std::sync::Arc;

use super::{requested_max_tokens, CallInfo, Refusal, Remaining};
use crate::auth::Caller;
use crate::classify::{ModelId, Route, Target};
use crate::config::Snapshot;
use crate::state::Shared;
use crate::telemetry::audit::Audit;

/// Checks and counts the call; on refusal the audit event names the refusing quota.
pub(crate) async fn admit_call(
    shared: &Shared,
    snapshot: &Snapshot,
    caller: &Caller,
    route: &Route,
    body_model: Option<&ModelId>,
    body: &[u8],
    audit: &mut Audit,
) -> Result<Remaining, Refusal> {
    let set = &snapshot.quotas;
    let model = match (&route.target, body_model) {
        (Target::Model(id), _) | (_, Some(id)) => id.as_str(),
        // Calls naming no model (async job status, listings) are under no quota.
        _ => return Ok(Remaining::default()),
    };
    if set.is_empty() {
        return Ok(Remaining::default());
    }
    let call = CallInfo {
        principal: &caller.principal,
        operation: route.operation,
        model,
    };
    let reserve = if set.reserve_max_tokens {
        requested_max_tokens(body).unwrap_or(0)
    } else {
        0
    };
    match Arc::clone(&shared.quotas).admit(set, &call, reserve).await {
        Ok(Some(admission)) => {
            let remaining = admission.remaining;
            audit.quota_admission(admission);
            Ok(remaining)
        }
        Ok(None) => Ok(Remaining::default()),
        Err(refusal) => {
            audit.quota_refused(refusal.quota().unwrap_or("backend"));
            Err(refusal)
        }
    }
}
