//! Who is calling. Clients authenticate with what their AWS SDK already supports: a Bedrock-style
//! API key (bearer token), SigV4 with a gateway-issued access key, or an identity header set by an
//! authenticating front proxy. With no method configured, every caller is the fixed principal
//! (sidecar and local dev). Failures are answered before any policy or upstream work.

pub mod api_key;
mod browser;
mod canonical;
pub mod sigv4;
mod trusted;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::AUTHORIZATION;

pub use crate::policy::Principal;
pub use sigv4::{IncomingRequest, RequestHead, Secret};
pub use trusted::Cidr;

use crate::config::{ApiKeyFile, Config, ConfigError};
use api_key::ApiKeys;
use sigv4::{AccessKeys, PendingSignature};
use trusted::TrustedHeader;

/// Why a client was not recognized. Each maps to the AWS error an SDK expects (all 403).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Missing Authentication Token: this gateway requires an API key (Authorization: Bearer), a SigV4 signature with a gateway-issued access key, or a trusted identity header")]
    MissingToken,
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    #[error("{0}")]
    InvalidSignature(String),
    #[error("{0}")]
    IncompleteSignature(String),
    #[error("{0}")]
    SignatureExpired(String),
    #[error("identity header {header} is only accepted from trusted networks")]
    UntrustedSource { header: String },
    #[error("identity header {header} must appear exactly once, with one value")]
    AmbiguousIdentity { header: String },
    #[error("{0}")]
    BrowserRefused(&'static str),
    #[error("principal {0:?} named by the identity header is not configured")]
    UnknownPrincipal(String),
    #[error("region {region:?} in the credential scope is not served by this gateway (allowed: {allowed})")]
    RegionNotAllowed { region: String, allowed: String },
}

impl AuthError {
    /// The AWS error code (`x-amzn-ErrorType`).
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "MissingAuthenticationTokenException",
            AuthError::UnrecognizedClient | AuthError::UnknownPrincipal(_) => {
                "UnrecognizedClientException"
            }
            AuthError::InvalidSignature(_)
            | AuthError::SignatureExpired(_)
            | AuthError::RegionNotAllowed { .. } => "InvalidSignatureException",
            AuthError::IncompleteSignature(_) => "IncompleteSignatureException",
            AuthError::UntrustedSource { .. }
            | AuthError::AmbiguousIdentity { .. }
            | AuthError::BrowserRefused(_) => "AccessDeniedException",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Fixed,
    ApiKey,
    SigV4,
    TrustedHeader,
}

impl AuthMethod {
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Fixed => "fixed",
            AuthMethod::ApiKey => "api-key",
            AuthMethod::SigV4 => "sigv4",
            AuthMethod::TrustedHeader => "trusted-header",
        }
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Arc<Principal>,
    pub method: AuthMethod,
    /// The role this principal calls Bedrock as, if it has its own (`assume_role_arn`).
    pub assume_role_arn: Option<Arc<str>>,
    /// The region a SigV4 client signed for (already checked against the allowed regions).
    pub region: Option<String>,
}

/// What the request head proved. Most methods are settled by the head; a SigV4 signature covers the
/// payload too, so it is finished with the body ([`HeadAuth::finish`]).
#[derive(Debug)]
pub enum HeadAuth {
    Authenticated(Caller),
    /// Head checks passed (known access key, scope, date, skew); the signature is checked on the body.
    SignatureOnBody {
        caller: Caller,
        signature: Box<PendingSignature>,
    },
}

impl HeadAuth {
    /// The caller, checking a pending SigV4 signature over `body`.
    pub fn finish(self, body: &[u8]) -> Result<Caller, AuthError> {
        match self {
            HeadAuth::Authenticated(caller) => Ok(caller),
            HeadAuth::SignatureOnBody { caller, signature } => {
                signature.verify(body)?;
                Ok(caller)
            }
        }
    }

    /// The principal the head names (for a SigV4 request, not yet proven by its signature).
    pub fn caller(&self) -> &Caller {
        match self {
            HeadAuth::Authenticated(caller) | HeadAuth::SignatureOnBody { caller, .. } => caller,
        }
    }
}

/// Compiled authentication settings; part of the configuration snapshot, so key changes hot-reload.
#[derive(Debug)]
pub struct Authenticator {
    enabled: bool,
    fixed: Arc<Principal>,
    principals: HashMap<String, Arc<Principal>>,
    /// Principals that call Bedrock through their own role (`assume_role_arn`).
    roles: HashMap<String, Arc<str>>,
    api_keys: ApiKeys,
    access_keys: AccessKeys,
    trusted: Option<TrustedHeader>,
    /// Regions a SigV4 scope may select; the proxy's own region is always allowed.
    allowed_regions: Vec<String>,
    max_skew: Duration,
    /// Host names besides loopback accepted in unauthenticated mode (lowercase).
    local_host_names: Vec<String>,
}

impl Authenticator {
    /// Maps every configured credential to its principal (`principal` looks one up by name; the
    /// snapshot compiled them) and reads key files and secrets.
    pub fn compile(
        config: &Config,
        fixed: &Arc<Principal>,
        principal: impl Fn(&str) -> Option<Arc<Principal>>,
    ) -> Result<Authenticator, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: "config [auth]".to_owned(),
            message,
        };
        let mut principals = HashMap::new();
        let mut roles = HashMap::new();
        for entry in &config.principals {
            if let Some(found) = principal(&entry.name) {
                principals.insert(entry.name.clone(), found);
            }
            if let Some(role) = &entry.assume_role_arn {
                roles.insert(entry.name.clone(), Arc::<str>::from(role.as_str()));
            }
        }
        let lookup = |name: &str, what: &str| {
            principals.get(name).cloned().ok_or_else(|| {
                invalid(format!(
                    "{what} names principal {name:?}, which is not in [[principals]]"
                ))
            })
        };
        let fixed = Arc::clone(fixed);

        let mut api_keys = ApiKeys::default();
        let mut entries = config.auth.api_keys.clone();
        for path in &config.auth.api_key_files {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let file: ApiKeyFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
            entries.extend(file.into_entries());
        }
        for entry in &entries {
            let hash = api_key::parse_hash(&entry.sha256).ok_or_else(|| {
                invalid(format!(
                    "api key for {:?}: sha256 must be 64 hex digits (from `bedrock-guard keys new`)",
                    entry.principal
                ))
            })?;
            api_keys.insert(hash, lookup(&entry.principal, "an api key")?);
        }

        let mut access_keys = AccessKeys::default();
        for entry in &config.auth.access_keys {
            let secret = match (&entry.secret_file, &entry.secret_env, &entry.secret) {
                (Some(path), None, None) => std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read {
                        path: path.clone(),
                        source,
                    })?
                    .trim()
                    .to_owned(),
                (None, Some(var), None) => std::env::var(var).map_err(|_| {
                    invalid(format!(
                        "access key {}: environment variable {var} is not set",
                        entry.access_key_id
                    ))
                })?,
                (None, None, Some(secret)) if config.auth.allow_inline_secrets => secret.clone(),
                (None, None, Some(_)) => {
                    return Err(invalid(format!(
                        "access key {}: inline secrets need allow_inline_secrets = true; use secret_file or secret_env",
                        entry.access_key_id
                    )))
                }
                _ => {
                    return Err(invalid(format!(
                        "access key {}: give exactly one of secret_file, secret_env, secret",
                        entry.access_key_id
                    )))
                }
            };
            if secret.is_empty() {
                return Err(invalid(format!(
                    "access key {}: the secret is empty",
                    entry.access_key_id
                )));
            }
            if access_keys.contains(&entry.access_key_id) {
                return Err(invalid(format!(
                    "access key {} is defined twice",
                    entry.access_key_id
                )));
            }
            access_keys.insert(
                entry.access_key_id.clone(),
                Secret::new(secret),
                lookup(&entry.principal, "an access key")?,
            );
        }

        let trusted = match &config.auth.trusted_header {
            Some(t) => {
                let header = http::HeaderName::from_bytes(t.header.to_ascii_lowercase().as_bytes())
                    .map_err(|_| {
                        invalid(format!(
                            "trusted_header: {:?} is not a header name",
                            t.header
                        ))
                    })?;
                let sources = t
                    .trusted_cidrs
                    .iter()
                    .map(|c| Cidr::parse(c).map_err(|e| invalid(format!("trusted_header: {e}"))))
                    .collect::<Result<Vec<_>, _>>()?;
                if sources.is_empty() {
                    return Err(invalid(
                        "trusted_header needs at least one trusted_cidrs entry".to_owned(),
                    ));
                }
                Some(TrustedHeader { header, sources })
            }
            None => None,
        };

        Ok(Authenticator {
            enabled: config.auth.is_enabled(),
            fixed,
            principals,
            roles,
            api_keys,
            access_keys,
            trusted,
            allowed_regions: config.auth.allowed_regions.clone(),
            max_skew: Duration::from_secs(config.auth.max_clock_skew_secs),
            local_host_names: config
                .auth
                .local_host_names
                .iter()
                .map(|n| n.to_ascii_lowercase())
                .collect(),
        })
    }

    /// Whether clients must authenticate.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// For a request [`Authenticator::authenticate`] accepted as SigV4: what checking the frames of
    /// its event stream needs (see [`sigv4::ClientChain`]). `None` for other callers.
    pub fn sigv4_chain(&self, headers: &http::HeaderMap) -> Option<sigv4::ClientChain> {
        let authorization = headers.get(AUTHORIZATION)?.to_str().ok()?;
        if !self.enabled || !sigv4::is_sigv4(authorization) {
            return None;
        }
        sigv4::client_chain(&self.access_keys, authorization)
    }

    /// The caller every request is when authentication is off.
    pub fn fixed_principal(&self) -> &Arc<Principal> {
        &self.fixed
    }

    pub fn principal(&self, name: &str) -> Option<&Arc<Principal>> {
        self.principals.get(name)
    }

    /// Identifies the caller. `default_region` is the proxy's own region (always allowed for SigV4).
    pub fn authenticate(
        &self,
        request: &IncomingRequest<'_>,
        peer: Option<IpAddr>,
        default_region: &str,
        now: SystemTime,
    ) -> Result<Caller, AuthError> {
        self.authenticate_head(&request.head, peer, default_region, now)?
            .finish(request.body)
    }

    /// Identifies the caller from the request head alone, before any body is read: a request that
    /// cannot authenticate is refused without holding a slot or a buffer. A SigV4 request comes back
    /// as [`HeadAuth::SignatureOnBody`]: call [`HeadAuth::finish`] with the body.
    pub fn authenticate_head(
        &self,
        head: &RequestHead<'_>,
        peer: Option<IpAddr>,
        default_region: &str,
        now: SystemTime,
    ) -> Result<HeadAuth, AuthError> {
        if !self.enabled {
            // Anyone who reaches the port is the fixed principal: a web page must not be able to.
            browser::refuse_browsers(head.headers, &self.local_host_names)?;
            return Ok(HeadAuth::Authenticated(self.caller(
                self.fixed.clone(),
                AuthMethod::Fixed,
                None,
            )));
        }
        // A mesh's front proxy authenticated the client already; its header wins when it is present.
        if let Some(trusted) = &self.trusted {
            let mut values = head.headers.get_all(&trusted.header).iter();
            if let Some(value) = values.next() {
                if !peer.is_some_and(|ip| trusted.trusts(ip)) {
                    return Err(AuthError::UntrustedSource {
                        header: trusted.header.as_str().to_owned(),
                    });
                }
                // A proxy that appends instead of replacing would let the client pick the
                // principal: a second value (another line, or a comma-joined one) is refused.
                let name = value.to_str().unwrap_or_default().trim();
                if values.next().is_some() || name.contains(',') {
                    return Err(AuthError::AmbiguousIdentity {
                        header: trusted.header.as_str().to_owned(),
                    });
                }
                let principal = self
                    .principals
                    .get(name)
                    .cloned()
                    .ok_or_else(|| AuthError::UnknownPrincipal(name.to_owned()))?;
                return Ok(HeadAuth::Authenticated(self.caller(
                    principal,
                    AuthMethod::TrustedHeader,
                    None,
                )));
            }
        }
        let authorization = head
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Some(authorization) = authorization.filter(|a| sigv4::is_sigv4(a)) {
            let signature =
                sigv4::check_head(&self.access_keys, head, authorization, self.max_skew, now)?;
            let region = signature.region();
            if region != default_region && !self.allowed_regions.iter().any(|r| r == region) {
                let mut allowed = vec![default_region.to_owned()];
                allowed.extend(self.allowed_regions.iter().cloned());
                return Err(AuthError::RegionNotAllowed {
                    region: region.to_owned(),
                    allowed: allowed.join(", "),
                });
            }
            let caller = self.caller(
                signature.principal().clone(),
                AuthMethod::SigV4,
                Some(region.to_owned()),
            );
            return Ok(HeadAuth::SignatureOnBody {
                caller,
                signature: Box::new(signature),
            });
        }
        let bearer = authorization.and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        });
        let api_key =
            bearer.or_else(|| head.headers.get("x-api-key").and_then(|v| v.to_str().ok()));
        if let Some(key) = api_key {
            let principal = self
                .api_keys
                .lookup(key.trim())
                .ok_or(AuthError::UnrecognizedClient)?;
            return Ok(HeadAuth::Authenticated(self.caller(
                principal,
                AuthMethod::ApiKey,
                None,
            )));
        }
        Err(AuthError::MissingToken)
    }

    fn caller(
        &self,
        principal: Arc<Principal>,
        method: AuthMethod,
        region: Option<String>,
    ) -> Caller {
        Caller {
            assume_role_arn: self.roles.get(principal.name()).cloned(),
            principal,
            method,
            region,
        }
    }
}

/// Files the authenticator reads (key files, secret files): their changes must trigger a reload.
pub fn referenced_paths(config: &Config) -> Vec<PathBuf> {
    config
        .auth
        .api_key_files
        .iter()
        .cloned()
        .chain(
            config
                .auth
                .access_keys
                .iter()
                .filter_map(|k| k.secret_file.clone()),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AccessKeyEntry, IdentityMode, NamedPrincipalConfig, Snapshot};
    use http::{HeaderMap, HeaderValue};

    type Mutation = Box<dyn Fn(&mut Config)>;

    fn gateway_config(allowed_regions: Vec<String>) -> Config {
        let mut config = Config {
            account_id: Some("123456789012".into()),
            ..Config::default()
        };
        config.principals = vec![NamedPrincipalConfig {
            tags: [("team".to_owned(), "search".to_owned())]
                .into_iter()
                .collect(),
            identity: IdentityMode::Unrestricted,
            ..NamedPrincipalConfig::new("app", "arn:aws:iam::123456789012:role/app")
        }];
        config.auth.allow_inline_secrets = true;
        config.auth.allowed_regions = allowed_regions;
        config.auth.access_keys = vec![AccessKeyEntry {
            principal: "app".into(),
            access_key_id: "BGAKAPP".into(),
            secret_file: None,
            secret_env: None,
            secret: Some("app-secret".into()),
        }];
        config
    }

    /// The authenticator exactly as a snapshot builds it.
    fn compile(config: &Config) -> Result<Authenticator, String> {
        Snapshot::compile(config, 1)
            .map(|snapshot| snapshot.auth)
            .map_err(|e| e.to_string())
    }

    fn signed_for(region: &str) -> HeaderMap {
        let creds =
            aws_credential_types::Credentials::new("BGAKAPP", "app-secret", None, None, "t");
        let signature = crate::aws::sign_request(
            "POST",
            "http://127.0.0.1:8787/model/x.y/invoke",
            std::iter::empty(),
            b"{}",
            &creds,
            region,
            SystemTime::now(),
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:8787"));
        for (name, value) in signature {
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        }
        headers
    }

    fn authenticate(auth: &Authenticator, headers: &HeaderMap) -> Result<Caller, AuthError> {
        let request = IncomingRequest {
            head: RequestHead {
                method: "POST",
                path: "/model/x.y/invoke",
                query: None,
                authority: None,
                headers,
            },
            body: b"{}",
        };
        auth.authenticate(&request, None, "us-east-1", SystemTime::now())
    }

    #[test]
    fn the_scope_region_selects_an_allowed_region_only() {
        let auth = compile(&gateway_config(vec![])).unwrap();
        let caller = authenticate(&auth, &signed_for("us-east-1")).unwrap();
        assert_eq!(caller.region.as_deref(), Some("us-east-1"));
        assert_eq!(caller.principal.arn(), "arn:aws:iam::123456789012:role/app");
        assert_eq!(caller.method, AuthMethod::SigV4);
        let err = authenticate(&auth, &signed_for("eu-west-1")).unwrap_err();
        assert!(matches!(err, AuthError::RegionNotAllowed { .. }), "{err:?}");
        assert_eq!(err.code(), "InvalidSignatureException");

        let auth = compile(&gateway_config(vec!["eu-west-1".into()])).unwrap();
        let caller = authenticate(&auth, &signed_for("eu-west-1")).unwrap();
        assert_eq!(caller.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn without_auth_every_caller_is_the_fixed_principal() {
        let auth = compile(&Config::default()).unwrap();
        assert!(!auth.is_enabled());
        let caller = authenticate(&auth, &HeaderMap::new()).unwrap();
        assert_eq!(caller.method, AuthMethod::Fixed);
        assert_eq!(caller.principal.arn(), Config::default().principal.arn);
        // Client credentials are ignored in fixed mode (the sidecar's app signs with anything).
        let caller = authenticate(&auth, &signed_for("eu-west-1")).unwrap();
        assert_eq!(caller.method, AuthMethod::Fixed);
        assert_eq!(caller.region, None);
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|c| c.auth.access_keys[0].principal = "ghost".into()),
                "\"ghost\"",
            ),
            (
                Box::new(|c| c.auth.allow_inline_secrets = false),
                "allow_inline_secrets",
            ),
            (
                Box::new(|c| c.auth.access_keys[0].secret_env = Some("BG_TEST_UNSET_VAR_1".into())),
                "exactly one",
            ),
            (
                Box::new(|c| c.principals.push(c.principals[0].clone())),
                "defined twice",
            ),
            (
                Box::new(|c| c.principal.name = Some("nobody".into())),
                "principal.name",
            ),
        ];
        for (mutate, needle) in cases {
            let mut config = gateway_config(vec![]);
            mutate(&mut config);
            let err = compile(&config).unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    /// A key file takes its own `[[api_keys]]` form and the main config's `[[auth.api_keys]]` (what
    /// `keys new` printed first, and users pasted there), in one file or several.
    #[test]
    fn key_files_accept_both_entry_forms() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("own.toml");
        let pasted = dir.path().join("pasted.toml");
        let entry = |key: &str| {
            format!(
                "principal = \"app\"\nsha256 = \"{}\"\n",
                api_key::hash_hex(key)
            )
        };
        std::fs::write(&own, format!("[[api_keys]]\n{}", entry("bgk_own"))).unwrap();
        std::fs::write(
            &pasted,
            format!(
                "[[auth.api_keys]]\n{}\n[[api_keys]]\n{}",
                entry("bgk_pasted"),
                entry("bgk_mixed")
            ),
        )
        .unwrap();
        let mut config = gateway_config(vec![]);
        config.auth.api_key_files = vec![own, pasted.clone()];
        let auth = compile(&config).unwrap();
        for key in ["bgk_own", "bgk_pasted", "bgk_mixed"] {
            let mut headers = HeaderMap::new();
            headers.insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
            );
            let caller = authenticate(&auth, &headers).unwrap();
            assert_eq!(caller.principal.name(), "app", "{key}");
        }
        // Anything else in a key file is still refused, with the file named.
        std::fs::write(&pasted, "[[auth.access_keys]]\nprincipal = \"app\"\n").unwrap();
        let err = compile(&config).unwrap_err();
        assert!(err.contains("pasted.toml"), "{err}");
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let auth = compile(&gateway_config(vec![])).unwrap();
        let debug = format!("{auth:?}");
        assert!(!debug.contains("app-secret"), "{debug}");
    }
}
