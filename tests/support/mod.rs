//! Shared integration-test support: a local Bedrock Runtime test double.
//!
//! - [`double`]: the server the proxy forwards to (`BedrockDouble`), its
//!   answer modes and the requests it recorded.
//! - [`sigv4`]: an independent SigV4 verifier; the double checks every
//!   request with it.
//! - [`eventstream`]: encoding and decoding of `application/vnd.amazon.eventstream`
//!   frames.
//!
//! Use from a test binary with `mod support;`.

// Each integration test binary compiles this module and uses only part of it.
#![allow(dead_code, unused_imports)]

pub mod bidi_double;
pub mod client;
pub mod controlplane;
pub mod double;
pub mod eventstream;
pub mod guard;
pub mod h2_client;
pub mod logs;
pub mod sigv4;
pub mod sts;
pub mod thread_logs;

pub use double::{
    BedrockDouble, Mode, RecordedRequest, PROXY_ACCESS_KEY, PROXY_SECRET_KEY, PROXY_SESSION_TOKEN,
};
pub use eventstream::{decode_frames, encode_event, encode_exception, DecodedFrame};

/// A principal named `name` with role ARN `arn:aws:iam::123456789012:role/<name>` and config defaults.
pub fn principal(name: &str) -> bedrock_guard::config::NamedPrincipalConfig {
    bedrock_guard::config::NamedPrincipalConfig::new(
        name,
        format!("arn:aws:iam::{}:role/{name}", guard::ACCOUNT_ID),
    )
}
