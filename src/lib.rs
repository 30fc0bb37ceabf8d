//! bedrock-guard: a guard proxy in front of the Amazon Bedrock Runtime API.
//!
//! A request flows through these modules, in order:
//!
//! - [`auth`]: who is calling (fixed principal, API keys, SigV4 with gateway keys, trusted header).
//! - [`classify`]: which operation (InvokeModel, Converse, ...), which model id (canonicalized: decoded
//!   once, hostile forms refused), and which resource ARNs the call is authorized against.
//! - [`policy`]: a pure IAM/SCP-style engine; compiled once per configuration, evaluated per request.
//! - [`aws`]: the proxy's own credentials (standard AWS chain, cached) and SigV4 signing.
//! - [`quota`]: per-caller request and token quotas and money budgets (in-process or Redis counters),
//!   checked after authorization and charged when the response ends.
//! - [`upstream`]: the pooled connection to Bedrock Runtime.
//! - [`http`]: the handler tying the phases together, and the one mapping from errors to AWS-shaped
//!   responses.
//!
//! Around them: [`config`] (file format, loading, the immutable [`config::Snapshot`] the request path
//! reads), [`guard`] (builds a [`Guard`] from a config; [`run`]), `state` (what every request shares:
//! the live snapshot and the long-lived clients), [`telemetry`] (logs, the audit event, token
//! accounting, metrics), [`ops`] (concurrency cap, draining) and `connections` (the accept loop,
//! timeouts, graceful shutdown), [`admin`] (health, readiness, metrics and the admin API) and [`cli`]; [`authz`] decides
//! one request outside the proxy, exactly as the proxy would (`explain`, `[[policy_tests]]`).

pub mod admin;
pub mod auth;
pub mod authz;
pub mod aws;
pub mod classify;
pub mod cli;
pub mod config;
mod connections;
pub mod guard;
pub mod http;
pub mod ops;
pub mod policy;
pub mod quota;
mod state;
pub mod telemetry;
pub mod upstream;

pub use guard::{run, Guard, GuardBuilder, StartError};
