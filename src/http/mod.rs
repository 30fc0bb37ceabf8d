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

use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;

use crate::state::Shared;

/// Every path goes to one handler: classification decides what a request is, so an unknown route is
/// answered in AWS's shape by the same code path that answers a deny.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(|State(shared): State<Arc<Shared>>, request: Request| {
            proxy::handle(shared, request)
        })
        .with_state(shared)
}

/// The proxy as the connection loop serves it: the one handler of [`router`], called directly. The
/// router's future wrappers (route, handler, response mapping) moved the request's state by value
/// several times per request, a twentieth of the proxy's instructions (callgrind).
#[derive(Clone)]
pub(crate) struct Proxy(Arc<Shared>);

impl Proxy {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self(shared)
    }

    pub(crate) async fn call(self, request: Request) -> Response {
        proxy::handle(self.0, request).await
    }
}
