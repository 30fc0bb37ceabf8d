//! `s3_locations`: the compiled per-principal S3 allowlists (see [`crate::policy::s3`]).
//!
//! - `[principal] s3_locations`: the fixed caller's list (clients do not authenticate: sidecar and
//!   local use). Absent: the `[[principals]]` entry's own list when `[principal] name` selects one,
//!   else any location (`["*"]`): that caller is the proxy's own application.
//! - `[[principals]] s3_locations`: the list of an authenticated gateway caller. Absent: none, so a
//!   gateway caller cannot borrow the proxy's S3 access unless someone allowed it on purpose.
//!
//! Compiled with the snapshot, so a bad pattern fails start-up and is refused on reload.

use std::collections::HashMap;

use super::{Config, ConfigError};
use crate::auth::{AuthMethod, Caller};
use crate::policy::S3Access;

#[derive(Debug, Clone)]
pub struct S3Allowlists {
    fixed: S3Access,
    by_principal: HashMap<String, S3Access>,
}

impl Default for S3Allowlists {
    /// The built-in defaults: the fixed caller may name any location, gateway callers none.
    fn default() -> Self {
        Self {
            fixed: S3Access::Any,
            by_principal: HashMap::new(),
        }
    }
}

impl S3Allowlists {
    pub fn compile(config: &Config) -> Result<Self, ConfigError> {
        let invalid = |origin: String, err: crate::policy::S3PatternError| ConfigError::Invalid {
            origin,
            message: err.to_string(),
        };
        let mut by_principal = HashMap::new();
        for p in &config.principals {
            if let Some(patterns) = &p.s3_locations {
                let access = S3Access::parse(patterns).map_err(|e| {
                    invalid(format!("config principals {:?} s3_locations", p.name), e)
                })?;
                by_principal.insert(p.name.clone(), access);
            }
        }
        let fixed = match &config.principal.s3_locations {
            Some(patterns) => S3Access::parse(patterns)
                .map_err(|e| invalid("config principal.s3_locations".to_owned(), e))?,
            None => config
                .principal
                .name
                .as_ref()
                .and_then(|name| by_principal.get(name).cloned())
                .unwrap_or(S3Access::Any),
        };
        Ok(Self {
            fixed,
            by_principal,
        })
    }

    /// The allowlist of one authenticated caller.
    pub fn for_caller(&self, caller: &Caller) -> &S3Access {
        const NONE: &S3Access = &S3Access::Only(Vec::new());
        match caller.method {
            AuthMethod::Fixed => &self.fixed,
            _ => self
                .by_principal
                .get(caller.principal.name())
                .unwrap_or(NONE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NamedPrincipalConfig;
    use crate::policy::{Identity, Principal};
    use std::sync::Arc;

    fn named(name: &str, s3: Option<&[&str]>) -> NamedPrincipalConfig {
        NamedPrincipalConfig {
            s3_locations: s3.map(|p| p.iter().map(|s| s.to_string()).collect()),
            ..NamedPrincipalConfig::new(name, format!("arn:aws:iam::123456789012:role/{name}"))
        }
    }

    fn caller(name: &str, method: AuthMethod) -> Caller {
        Caller {
            principal: Arc::new(Principal::new(
                name,
                "arn:aws:iam::123456789012:role/x",
                Identity::Unrestricted,
            )),
            method,
            assume_role_arn: None,
            region: None,
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let mut config = Config {
            principals: vec![
                named("open", Some(&["s3://shared/*"])),
                named("closed", None),
            ],
            ..Config::default()
        };
        let lists = S3Allowlists::compile(&config).unwrap();
        let uri = "s3://shared/a";
        // Gateway callers: only what their entry allows, nothing without one.
        assert!(lists
            .for_caller(&caller("open", AuthMethod::ApiKey))
            .allows(uri));
        assert!(!lists
            .for_caller(&caller("closed", AuthMethod::SigV4))
            .allows(uri));
        assert!(!lists
            .for_caller(&caller("unknown", AuthMethod::TrustedHeader))
            .allows(uri));
        // The fixed caller: any location by default.
        assert!(!lists
            .for_caller(&caller("default", AuthMethod::Fixed))
            .is_restricted());

        // A named fixed caller takes its entry's list; [principal] s3_locations wins over it.
        config.principal.name = Some("open".into());
        let lists = S3Allowlists::compile(&config).unwrap();
        let fixed = lists.for_caller(&caller("open", AuthMethod::Fixed));
        assert!(fixed.allows(uri) && !fixed.allows("s3://other/a"));
        config.principal.s3_locations = Some(vec![]);
        let lists = S3Allowlists::compile(&config).unwrap();
        assert!(!lists
            .for_caller(&caller("open", AuthMethod::Fixed))
            .allows(uri));
    }

    #[test]
    fn bad_patterns_name_where_they_are() {
        let config = Config {
            principals: vec![named("app", Some(&["s3://Bucket/*"]))],
            ..Config::default()
        };
        let err = S3Allowlists::compile(&config).unwrap_err().to_string();
        assert!(err.contains("principals \"app\" s3_locations"), "{err}");
        assert!(err.contains("s3://Bucket/*"), "{err}");

        let mut config = Config::default();
        config.principal.s3_locations = Some(vec!["bucket/*".into()]);
        let err = S3Allowlists::compile(&config).unwrap_err().to_string();
        assert!(err.contains("principal.s3_locations"), "{err}");
    }
}
