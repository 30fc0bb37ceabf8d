//! A pure IAM/SCP-style policy engine: policy text in, [`Decision`] out, no I/O.
//!
//! - [`document`]: parse and validate IAM JSON into typed statements ([`parse`], [`PolicyDocument`]),
//!   with AWS's own error wording plus the file, statement and element at fault ([`PolicyError`]).
//! - [`evaluate`]: [`PolicySet`], compiled once per configuration and evaluated per request; all policies
//!   form one layer (a matching Deny wins, otherwise every resource check needs an Allow).
//! - [`condition`]: the supported condition operators; the rest are refused at load (fail closed).
//! - [`resource`] and [`glob`]: ARN-aware and wildcard matching, linear-time, allocation-free.
//! - [`request`]: what the engine is asked ([`AuthzRequest`]).
//!
//! The semantics follow AWS's policy evaluation logic; `docs/DESIGN.md` lists what is not supported yet.

// Evaluation is on the request path of a proxy: it must not be able to panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod condition;
pub mod document;
pub mod error;
pub mod evaluate;
pub mod glob;
pub mod request;
pub mod resource;

pub use condition::{BaseOperator, Condition, Operator, SetQualifier};
pub use document::{parse, Effect, PolicyDocument, PolicySource, Statement, Targets, Version};
pub use error::{PolicyError, StatementLocation};
pub use evaluate::{Decision, PolicySet, RuleRef};
pub use request::{AuthzRequest, RequestContext, ResourceCheck};
