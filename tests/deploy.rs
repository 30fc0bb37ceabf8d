//! The deployment example configurations load and compile. (The manifests in deploy/ are parsed and
//! schema-checked by deploy/validate.py in CI, which also checks their embedded copies of these
//! files are identical.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};

use bedrock_guard::config::{load, Overrides, Snapshot};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn sidecar_and_kubernetes_gateway_configs_are_valid() {
    for (file, listen_loopback) in [
        ("config/sidecar.toml", true),
        ("config/gateway-kubernetes.toml", false),
    ] {
        let mut config = load(Some(&repo(file)), &Overrides::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(config.listen.ip().is_loopback(), listen_loopback, "{file}");
        let admin = config.admin_listen.expect("probes need the admin listener");
        assert_eq!(admin.port(), 9090, "{file}");
        assert!(config.shutdown_grace_secs > 0);
        // In the container the policies are a mounted directory; here, the same policy from config/.
        assert_eq!(
            config.policy.files,
            vec![PathBuf::from("/etc/bedrock-guard/policies")],
            "{file}"
        );
        config.policy.files = vec![repo("config/policies/org-allowlist.json")];
        if !config.auth.api_key_files.is_empty() {
            // The gateway's key hashes come from a Secret; here, the demo key file.
            assert_eq!(
                config.auth.api_key_files,
                vec![PathBuf::from("/etc/bedrock-guard/keys/api-keys.toml")]
            );
            config.auth.api_key_files = vec![repo("config/keys/api-keys.toml")];
        }
        // A network listener needs client authentication (the guard refuses to start otherwise).
        assert!(listen_loopback || config.auth.is_enabled(), "{file}");
        Snapshot::compile(&config, 1).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}
