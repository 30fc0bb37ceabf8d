//! A pure IAM/SCP-style policy engine: policy text in, [`Decision`] out, no I/O.
//!
//! - [`document`]: parse and validate IAM JSON into typed statements ([`parse`], [`PolicyDocument`]),
//!   with AWS's own error wording plus the file, statement and element at fault ([`PolicyError`]).
//! - [`evaluate`]: [`PolicySet`], one layer of policies compiled and indexed ([`index`]) once per
//!   configuration, evaluated per request.
//! - [`org`]: layers combined as AWS does: SCPs at every level of the organisation path, identity
//!   policies, permissions boundary ([`Principal`], [`Organization`]).
//! - [`explain`]: the [`Decision`], its AWS-worded denial message and its JSON form.
//! - [`condition`] and [`variables`]: every IAM condition operator; policy variables.
//! - [`resource`] and [`glob`]: ARN-aware and wildcard matching, linear-time, allocation-free.
//! - [`lint`] and [`catalog`]: warnings for policies that parse but probably do not mean what they say.
//! - [`request`]: what the engine is asked ([`AuthzRequest`]).
//!
//! The semantics follow AWS's policy evaluation logic; `docs/DESIGN.md` lists the deliberate gaps.

// Evaluation is on the request path of a proxy: it must not be able to panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod catalog;
pub mod condition;
pub mod document;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod glob;
pub(crate) mod index;
pub mod lint;
pub mod org;
pub mod request;
pub mod resource;
pub(crate) mod shared;
pub mod variables;

pub use catalog::Catalog;
pub use condition::{BaseOperator, Condition, Operator, SetQualifier};
pub use document::{parse, Effect, PolicyDocument, PolicySource, Statement, Targets, Version};
pub use error::{PolicyError, StatementLocation};
pub use evaluate::{PolicySet, RuleRef, BODY_KEYS};
pub use explain::{Decision, LayerKind, LayerRef};
pub use lint::{lint, wrapper_bypass_lints, Lint};
pub use org::{Identity, OrgError, Organization, Principal};
pub use request::{AuthzRequest, RequestContext, ResourceCheck};
