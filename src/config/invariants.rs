//! Rules a configuration must keep that depend on how the guard runs, not only on the file: who can
//! reach the listener, and what was in force before. Start-up and every reload call [`check`], so a
//! reload can never publish what start-up would refuse.

use std::net::SocketAddr;

use super::{Config, ConfigError};

/// What is serving now, for a reload (at start-up there is nothing yet).
#[derive(Debug, Clone, Copy)]
pub struct Running {
    /// The bound proxy address (a changed `listen` only takes effect after a restart).
    pub listen: SocketAddr,
    /// Whether the live snapshot requires clients to authenticate.
    pub auth_enabled: bool,
}

/// Refuses `candidate` when it would open the proxy to callers that start-up would not let in.
pub fn check(candidate: &Config, running: Option<Running>) -> Result<(), ConfigError> {
    if candidate.auth.is_enabled() || candidate.auth.allow_unauthenticated_network {
        return Ok(());
    }
    let invalid = |message: String| ConfigError::Invalid {
        origin: "config [auth]".to_owned(),
        message,
    };
    // The address actually bound and the one the file names (used at the next restart).
    let exposed = running
        .map(|r| r.listen)
        .into_iter()
        .chain([candidate.listen])
        .find(|addr| !addr.ip().is_loopback());
    if let Some(addr) = exposed {
        return Err(invalid(format!(
            "refusing to listen on {addr} without client authentication: anyone who can reach it would call Bedrock with this proxy's credentials. Configure [auth] (API keys, access keys or a trusted header), listen on a loopback address, or set [auth] allow_unauthenticated_network = true"
        )));
    }
    if running.is_some_and(|r| r.auth_enabled) {
        return Err(invalid(
            "refusing to remove every [auth] method from a running guard: every caller would become the fixed principal. Set [auth] allow_unauthenticated_network = true if that is intended"
                .to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrustedHeaderConfig;

    fn config(listen: &str, auth: bool, allow: bool) -> Config {
        let mut config = Config {
            listen: listen.parse().unwrap(),
            ..Config::default()
        };
        if auth {
            config.auth.trusted_header = Some(TrustedHeaderConfig {
                header: "x-principal".into(),
                trusted_cidrs: vec!["10.0.0.0/8".into()],
            });
        }
        config.auth.allow_unauthenticated_network = allow;
        config
    }

    #[test]
    fn exposure_and_auth_removal() {
        let running = |listen: &str, auth_enabled| {
            Some(Running {
                listen: listen.parse().unwrap(),
                auth_enabled,
            })
        };
        let cases = [
            // (candidate listen, candidate auth, allow, running, accepted)
            ("127.0.0.1:1", false, false, None, true),
            ("0.0.0.0:1", false, false, None, false),
            ("0.0.0.0:1", true, false, None, true),
            ("0.0.0.0:1", false, true, None, true),
            ("[::1]:1", false, false, None, true),
            // Reload: the bound address counts even when the file now says loopback.
            (
                "127.0.0.1:1",
                false,
                false,
                running("0.0.0.0:1", false),
                false,
            ),
            (
                "0.0.0.0:1",
                false,
                false,
                running("127.0.0.1:1", false),
                false,
            ),
            (
                "127.0.0.1:1",
                false,
                false,
                running("127.0.0.1:1", false),
                true,
            ),
            // Some -> none, even on loopback, needs the explicit opt-in.
            (
                "127.0.0.1:1",
                false,
                false,
                running("127.0.0.1:1", true),
                false,
            ),
            (
                "127.0.0.1:1",
                false,
                true,
                running("127.0.0.1:1", true),
                true,
            ),
            ("0.0.0.0:1", true, false, running("0.0.0.0:1", true), true),
        ];
        for (listen, auth, allow, running, accepted) in cases {
            let result = check(&config(listen, auth, allow), running);
            assert_eq!(
                result.is_ok(),
                accepted,
                "{listen} auth={auth} allow={allow} {running:?}: {result:?}"
            );
        }
    }
}
