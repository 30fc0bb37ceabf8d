//! bedrock-guard: a guard proxy in front of the Amazon Bedrock Runtime API.
//!
//! A request flows through these modules, in order:
//!
//! - [`auth`]: who is calling (fixed principal, API keys, SigV4 with gateway keys, trusted header),
//!   decided from the request head before the body is read (a SigV4 signature is finished on the body).
//! - [`classify`]: which operation (InvokeModel, Converse, ...), which model id (canonicalized: decoded
//!   once, hostile forms refused), which resource ARNs the call is authorized against, and what the
//!   body says that policy reads (scanned fail-closed).
//! - [`controlplane`]: what inference profiles, prompt routers and provisioned models route to, listed
//!   from the Bedrock control plane and cached (built-in tables when it cannot be asked); `classify`
//!   asks it through its `Routing` trait.
//! - [`policy`]: a pure IAM/SCP-style engine; compiled once per configuration, evaluated per request.
//! - [`quota`]: per-caller request and token quotas and money budgets (in-process or Redis counters),
//!   checked after authorization and charged when the response ends.
//! - [`aws`]: the proxy's own credentials (standard AWS chain, cached) and SigV4 signing.
//! - [`upstream`]: the pooled connection to Bedrock Runtime.
//! - [`http`]: the handler tying the phases together, the bidirectional-stream relay, and the one
//!   mapping from errors to AWS-shaped (or, on the OpenAI-compatible routes, OpenAI-shaped) responses.
//! - [`discovery`]: beside that path, the control plane's model listings (ListInferenceProfiles, ...)
//!   answered to clients from the cache, filtered to what each caller's policy lets it invoke.
//!
//! Around them: [`config`] (file format, loading, the immutable [`config::Snapshot`] the request path
//! reads), [`guard`] (builds a [`Guard`] from a config; [`run`]), `state` (what every request shares:
//! the live snapshot and the long-lived clients), [`telemetry`] (logs, the audit event, token
//! accounting, metrics), [`ops`] (concurrency cap, draining), `connections` (the accept loop,
//! timeouts, graceful shutdown; it calls the `http` handler directly, without a router) and
//! `workers` (the serving threads: one event loop and upstream pool each, a connection stays on
//! one), `calendar` (UTC date arithmetic and its fixed-width texts), [`admin`] (health, readiness,
//! metrics and the admin API) and [`cli`]; [`authz`] decides one request outside the proxy, exactly
//! as the proxy would (`explain`, `[[policy_tests]]`).

pub mod admin;
pub mod auth;
pub mod authz;
pub mod aws;
mod calendar;
pub mod classify;
pub mod cli;
pub mod config;
mod connections;
pub mod controlplane;
pub mod discovery;
pub mod guard;
pub mod http;
pub mod ops;
pub mod policy;
pub mod quota;
mod state;
pub mod telemetry;
pub mod upstream;
mod workers;

pub use guard::{run, Guard, GuardBuilder, StartError};
