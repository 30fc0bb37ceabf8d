//! Reading the config file and applying command-line overrides (flags win over the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError};

/// Command-line values that override the config file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub region: Option<String>,
    pub upstream_endpoint: Option<String>,
    /// `--policy` files, added to the file's policies (relative to the working directory).
    pub policies: Vec<PathBuf>,
    /// `--admin-listen`: kept here so a reload sees the same value and does not report it changed.
    pub admin_listen: Option<SocketAddr>,
}

/// Loads `path` (or the built-in defaults when `None`) and applies `overrides`.
/// Relative policy paths in the file are resolved against the file's directory, so a config works
/// whatever directory the proxy is started from.
pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
    let mut config = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            config.base_dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_owned)
                .unwrap_or_else(|| PathBuf::from("."));
            resolve_paths(&mut config);
            config.file_text = text;
            config
        }
        None => Config::default(),
    };
    apply(&mut config, overrides);
    validate(&config)?;
    Ok(config)
}

/// Every policy path in the file is relative to the file's directory.
fn resolve_paths(config: &mut Config) {
    let base = config.base_dir.clone();
    let resolve = |file: &mut PathBuf| {
        if file.is_relative() {
            *file = base.join(&*file);
        }
    };
    config.policy.files.iter_mut().for_each(resolve);
    config.policy.shadow_files.iter_mut().for_each(resolve);
    config.auth.api_key_files.iter_mut().for_each(resolve);
    for key in &mut config.auth.access_keys {
        if let Some(secret) = &mut key.secret_file {
            resolve(secret);
        }
    }
    if let Some(org) = &mut config.org {
        org.root_scps.iter_mut().for_each(resolve);
        for ou in &mut org.ous {
            ou.scps.iter_mut().for_each(resolve);
        }
        for account in &mut org.accounts {
            account.scps.iter_mut().for_each(resolve);
        }
    }
    for group in &mut config.groups {
        group.policies.iter_mut().for_each(resolve);
    }
    for principal in &mut config.principals {
        principal.identity_policies.iter_mut().for_each(resolve);
        if let Some(boundary) = &mut principal.boundary {
            resolve(boundary);
        }
    }
}

fn apply(config: &mut Config, overrides: &Overrides) {
    if let Some(listen) = overrides.listen {
        config.listen = listen;
    }
    if let Some(admin) = overrides.admin_listen {
        config.admin_listen = Some(admin);
    }
    if let Some(region) = &overrides.region {
        config.region = Some(region.clone());
    }
    if let Some(endpoint) = &overrides.upstream_endpoint {
        config.upstream.endpoint = Some(endpoint.clone());
    }
    config
        .policy
        .files
        .extend(overrides.policies.iter().cloned());
}

/// Checks what serde cannot: values that parse but make no sense.
fn validate(config: &Config) -> Result<(), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        origin: "config".to_owned(),
        message,
    };
    if let Some(region) = &config.region {
        if !is_region_name(region) {
            return Err(invalid(format!(
                "region {region:?} is not an AWS region name"
            )));
        }
    }
    if let Some(account) = &config.account_id {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!("account_id {account:?} must be 12 digits")));
        }
    }
    if let Some(endpoint) = &config.upstream.endpoint {
        // A `{region}` template must be a valid URL once filled in.
        let url = reqwest::Url::parse(&endpoint.replace("{region}", "us-east-1"))
            .map_err(|e| invalid(format!("upstream endpoint {endpoint:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid(format!(
                "upstream endpoint {endpoint:?} must be an http(s) URL with a host"
            )));
        }
        if url.query().is_some() || url.path() != "/" {
            return Err(invalid(format!(
                "upstream endpoint {endpoint:?} must not carry a path or query"
            )));
        }
    }
    if !config.auth.allowed_regions.is_empty()
        && config
            .upstream
            .endpoint
            .as_deref()
            .is_some_and(|e| !e.contains("{region}"))
    {
        return Err(invalid(
            "auth.allowed_regions needs an upstream endpoint that follows the region: use a {region} template or the default endpoint".to_owned(),
        ));
    }
    if let Some(bad) = config
        .auth
        .allowed_regions
        .iter()
        .find(|r| !is_region_name(r))
    {
        return Err(invalid(format!(
            "auth.allowed_regions: {bad:?} is not an AWS region name"
        )));
    }
    if config.limits.max_body_bytes == 0 {
        return Err(invalid("limits.max_body_bytes must be above 0".to_owned()));
    }
    if config.limits.max_concurrent_requests == 0
        || config.limits.header_read_timeout_secs == 0
        || config.limits.idle_timeout_secs == 0
    {
        return Err(invalid(
            "limits.max_concurrent_requests, header_read_timeout_secs and idle_timeout_secs must be above 0"
                .to_owned(),
        ));
    }
    let limits = &config.limits;
    if limits.body_read_timeout_secs == 0 || limits.max_concurrent_streams == 0 {
        return Err(invalid(
            "limits.body_read_timeout_secs and max_concurrent_streams must be above 0".to_owned(),
        ));
    }
    // A body of the largest accepted size must fit in both budgets, or it could never be read.
    if limits.max_body_bytes_per_connection < limits.max_body_bytes
        || limits.max_body_bytes_total < limits.max_body_bytes_per_connection
        || u32::try_from(limits.max_body_bytes_total).is_err()
    {
        return Err(invalid(
            "limits: need max_body_bytes <= max_body_bytes_per_connection <= max_body_bytes_total <= 4294967295".to_owned(),
        ));
    }
    for name in &config.auth.local_host_names {
        if name.is_empty() || name.contains(['/', ':', ' ']) {
            return Err(invalid(format!(
                "auth.local_host_names: {name:?} must be a host name without port or scheme"
            )));
        }
    }
    if config.upstream.connect_timeout_ms == 0
        || config.upstream.response_timeout_secs == 0
        || config.upstream.idle_timeout_secs == 0
    {
        return Err(invalid("upstream timeouts must be above 0".to_owned()));
    }
    for (prefix, regions) in &config.inference_profiles {
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
            return Err(invalid(format!(
                "inference_profiles: prefix {prefix:?} must be lowercase letters and '-'"
            )));
        }
        if let Some(bad) = regions.iter().find(|r| !is_region_name(r)) {
            return Err(invalid(format!(
                "inference_profiles.{prefix}: {bad:?} is not an AWS region name"
            )));
        }
    }
    if let Some(org) = &config.org {
        for account in &org.accounts {
            if !is_account_id(&account.id) {
                return Err(invalid(format!(
                    "org.accounts: id {:?} must be 12 digits",
                    account.id
                )));
            }
        }
    }
    for principal in &config.principals {
        if let Some(account) = &principal.account {
            if !is_account_id(account) {
                return Err(invalid(format!(
                    "principals {:?}: account {account:?} must be 12 digits",
                    principal.name
                )));
            }
        }
        if !principal.arn.starts_with("arn:") || principal.arn.split(':').count() < 6 {
            return Err(invalid(format!(
                "principals {:?}: arn {:?} is not an ARN",
                principal.name, principal.arn
            )));
        }
    }
    Ok(())
}

fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `us-east-1`, `us-gov-west-1`, `ap-southeast-7`: lowercase words and a trailing number.
pub(crate) fn is_region_name(region: &str) -> bool {
    let mut parts = region.split('-').peekable();
    let mut count = 0;
    while let Some(part) = parts.next() {
        count += 1;
        let last = parts.peek().is_none();
        let ok = if last {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())
        } else {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase())
        };
        if !ok {
            return false;
        }
    }
    count >= 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn region_names() {
        for ok in ["us-east-1", "us-gov-west-1", "ap-southeast-7", "cn-north-1"] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us_east_1",
            "us-east-1a",
            "x-1",
            "../1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn flags_override_the_file_and_paths_resolve_against_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guard.toml");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(
            f,
            "listen = \"127.0.0.1:1111\"\nregion = \"eu-west-1\"\n[policy]\nfiles = [\"p.json\"]"
        )
        .unwrap();
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            region: Some("us-west-2".into()),
            upstream_endpoint: Some("http://127.0.0.1:9".into()),
            policies: vec![PathBuf::from("extra.json")],
            admin_listen: Some("127.0.0.1:9090".parse().unwrap()),
        };
        let config = load(Some(&path), &overrides).unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.admin_listen.map(|a| a.port()), Some(9090));
        assert_eq!(config.region.as_deref(), Some("us-west-2"));
        assert_eq!(
            config.upstream.endpoint.as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(
            config.policy.files,
            vec![dir.path().join("p.json"), PathBuf::from("extra.json")]
        );
    }

    #[test]
    fn invalid_values_are_named() {
        let cases = [
            ("region = \"moon\"", "region"),
            ("account_id = \"12\"", "account_id"),
            ("[upstream]\nendpoint = \"ftp://x\"", "endpoint"),
            ("[upstream]\nendpoint = \"http://x/path\"", "path"),
            ("[limits]\nmax_body_bytes = 0", "max_body_bytes"),
            ("[inference_profiles]\nus = [\"nowhere\"]", "nowhere"),
        ];
        for (text, needle) in cases {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("c.toml");
            std::fs::write(&path, text).unwrap();
            let err = load(Some(&path), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = load(
            Some(Path::new("/nonexistent/guard.toml")),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/guard.toml"), "{err}");
    }
}
