//! The HTTP layer: the router, the proxy handler (authenticate the head -> admit -> read the body within
//! bounds -> classify -> authorize -> re-sign -> forward -> stream back), the bidirectional-stream
//! relay (`bidi`), the fail-closed reading of policy inputs (`inputs`, `context`) and the single
//! mapping from errors to AWS-shaped responses.

mod bidi;
pub(crate) mod body;
pub mod context;
pub mod error;
pub mod headers;
pub mod inputs;
mod probe;
mod proxy;
pub mod reload_api;

use std::sync::Arc;

use axum::Router;

use crate::state::Shared;

/// Every path goes to one handler: classification decides what a request is, so an unknown route is
/// answered in AWS's shape by the same code path that answers a deny.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(proxy::handle).with_state(shared)
}
