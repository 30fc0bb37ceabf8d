//! Hot reload: build a candidate snapshot from the current files, validate it completely, and only then
//! publish it. A broken change never replaces a working one: the old snapshot stays, the error is
//! logged with its file and place, and it is visible in [`ReloadStatus`] and in metrics.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::sync::watch;

use super::snapshot::referenced_paths;
use super::{invariants, load, Config, ConfigError, Overrides, Snapshot};

/// What asked for a reload (logged, and shown in the status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReloadTrigger {
    FileChange,
    Signal,
    Admin,
    Api,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new snapshot is live.
    Published { version: String },
    /// The files define exactly what is already live; nothing was swapped.
    Unchanged { version: String },
    /// The candidate was refused; `version` is still live.
    Failed { version: String, error: String },
}

/// The reload state, for the admin status endpoint and tests.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReloadStatus {
    pub version: String,
    pub generation: u64,
    /// `published`, `unchanged`, `failed`, or `start` before any reload.
    pub last_result: &'static str,
    pub last_trigger: Option<ReloadTrigger>,
    pub last_error: Option<String>,
    pub last_attempt_unix: u64,
    pub published_total: u64,
    pub failed_total: u64,
    /// Settings that changed in the files but only take effect after a restart.
    pub restart_required: Vec<String>,
}

/// Where configurations come from: a file plus command-line overrides, or (for an embedded guard
/// with no file) a fixed `Config` whose referenced policy files are re-read.
#[derive(Debug, Clone)]
struct ConfigSource {
    path: Option<PathBuf>,
    overrides: Overrides,
    fixed: Config,
}

impl ConfigSource {
    fn load(&self) -> Result<Config, ConfigError> {
        match &self.path {
            Some(path) => load(Some(path), &self.overrides),
            None => Ok(self.fixed.clone()),
        }
    }
}

#[derive(Debug)]
pub struct Reloader {
    live: Arc<ArcSwap<Snapshot>>,
    source: ConfigSource,
    /// The configuration the process started with: the reference for restart-required settings.
    started_with: Config,
    /// One reload at a time, so generations are published in order.
    serial: tokio::sync::Mutex<()>,
    status: watch::Sender<ReloadStatus>,
    /// What the watcher must watch: the config file and everything the newest config references.
    watched: Mutex<Vec<PathBuf>>,
}

impl Reloader {
    /// `config` was loaded from `path` (with `overrides`) and compiled into the live snapshot.
    pub fn new(
        live: Arc<ArcSwap<Snapshot>>,
        path: Option<PathBuf>,
        overrides: Overrides,
        config: Config,
    ) -> Self {
        let current = live.load();
        let status = ReloadStatus {
            version: current.version.clone(),
            generation: current.generation,
            last_result: "start",
            last_trigger: None,
            last_error: None,
            last_attempt_unix: unix_now(),
            published_total: 0,
            failed_total: 0,
            restart_required: Vec::new(),
        };
        let mut watched = referenced_paths(&config);
        watched.extend(path.iter().cloned());
        Self {
            live,
            source: ConfigSource {
                path,
                overrides,
                fixed: config.clone(),
            },
            started_with: config,
            serial: tokio::sync::Mutex::new(()),
            status: watch::channel(status).0,
            watched: Mutex::new(watched),
        }
    }

    /// The live snapshot.
    pub fn current(&self) -> Arc<Snapshot> {
        self.live.load_full()
    }

    pub fn status(&self) -> ReloadStatus {
        self.status.borrow().clone()
    }

    /// Resolves each time a reload attempt finishes (tests and the admin API wait on it).
    pub fn subscribe(&self) -> watch::Receiver<ReloadStatus> {
        self.status.subscribe()
    }

    /// Paths whose change must trigger a reload.
    pub fn watched_paths(&self) -> Vec<PathBuf> {
        self.watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Loads, validates and compiles the current files; publishes the result if it differs from
    /// what is live. Never replaces the live snapshot with a broken one.
    pub async fn reload(&self, trigger: ReloadTrigger) -> ReloadOutcome {
        let _serial = self.serial.lock().await;
        let current = self.live.load_full();
        let generation = current.generation + 1;
        let source = self.source.clone();
        let running = invariants::Running {
            listen: self.started_with.listen,
            auth_enabled: current.auth.is_enabled(),
        };
        // Reading files and compiling large policies is blocking work: keep it off the request workers.
        let candidate = tokio::task::spawn_blocking(move || {
            let config = source.load()?;
            let snapshot = Snapshot::compile_checked(&config, generation)?;
            // Everything start-up refuses, a reload refuses too (never an open proxy by edit).
            invariants::check(&config, Some(running))?;
            Ok::<_, ConfigError>((config, snapshot))
        })
        .await;
        let candidate = match candidate {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(join) => Err(format!("reload task failed: {join}")),
        };

        let outcome = match candidate {
            Err(error) => {
                tracing::error!(?trigger, %error, live_version = %current.version, "configuration reload refused; the previous configuration stays in force");
                ReloadOutcome::Failed {
                    version: current.version.clone(),
                    error,
                }
            }
            Ok((config, snapshot)) => {
                self.set_watched(&config);
                let restart_required = restart_required(&self.started_with, &config);
                for setting in &restart_required {
                    tracing::warn!(
                        setting,
                        "changed in the configuration, but only takes effect after a restart"
                    );
                }
                self.status
                    .send_modify(|s| s.restart_required = restart_required);
                if snapshot.content_hash == current.content_hash {
                    tracing::debug!(?trigger, version = %current.version, "configuration unchanged");
                    ReloadOutcome::Unchanged {
                        version: current.version.clone(),
                    }
                } else {
                    let version = snapshot.version.clone();
                    for origin in &snapshot.policy_origins {
                        tracing::info!(policy = %origin, %version, "policy loaded");
                    }
                    self.live.store(Arc::new(snapshot));
                    tracing::info!(?trigger, %version, previous = %current.version, "configuration reloaded");
                    ReloadOutcome::Published { version }
                }
            }
        };
        self.record(trigger, &outcome);
        outcome
    }

    fn set_watched(&self, config: &Config) {
        let mut paths = referenced_paths(config);
        paths.extend(self.source.path.iter().cloned());
        *self.watched.lock().unwrap_or_else(PoisonError::into_inner) = paths;
    }

    fn record(&self, trigger: ReloadTrigger, outcome: &ReloadOutcome) {
        let live = self.live.load();
        let (result, error) = match outcome {
            ReloadOutcome::Published { .. } => ("published", None),
            ReloadOutcome::Unchanged { .. } => ("unchanged", None),
            ReloadOutcome::Failed { error, .. } => ("failed", Some(error.clone())),
        };
        metrics::counter!("bedrock_guard_config_reloads_total", "result" => result).increment(1);
        metrics::gauge!("bedrock_guard_config_generation").set(live.generation as f64);
        self.status.send_modify(|s| {
            s.version = live.version.clone();
            s.generation = live.generation;
            s.last_result = result;
            s.last_trigger = Some(trigger);
            s.last_attempt_unix = unix_now();
            match error {
                Some(error) => {
                    s.failed_total += 1;
                    s.last_error = Some(error);
                }
                None => {
                    if result == "published" {
                        s.published_total += 1;
                    }
                    s.last_error = None;
                }
            }
        });
    }
}

/// Settings read once at start (sockets, clients, identity): name each one that differs.
fn restart_required(running: &Config, candidate: &Config) -> Vec<String> {
    let mut changed = Vec::new();
    // Each setting is named by its path in the config file (`limits.idle_timeout_secs`).
    macro_rules! check {
        ($($first:ident $(. $rest:ident)*),+ $(,)?) => {$(
            if running.$first $(.$rest)* != candidate.$first $(.$rest)* {
                changed.push(concat!(stringify!($first) $(, ".", stringify!($rest))*).to_owned());
            }
        )+};
    }
    check!(
        listen,
        region,
        account_id,
        upstream,
        log,
        reload,
        admin_listen,
        shutdown_grace_secs,
        worker_threads,
    );
    // The body cap is read per request from the snapshot; the connection limits are not.
    check!(
        limits.max_concurrent_requests,
        limits.header_read_timeout_secs,
        limits.idle_timeout_secs,
        limits.body_read_timeout_secs,
        limits.body_min_bytes_per_sec,
        limits.max_body_bytes_per_connection,
        limits.max_body_bytes_total,
        limits.max_concurrent_streams,
    );
    // The counter store is opened once; entries, limits and prices reload.
    check!(quotas.backend, quotas.redis_timeout_ms);
    changed
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW_ALL: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    const DENY_ALL: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;

    fn setup(policy: &str) -> (tempfile::TempDir, PathBuf, Reloader) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.json"), policy).unwrap();
        let path = dir.path().join("guard.toml");
        std::fs::write(&path, "[policy]\nfiles = [\"p.json\"]\n").unwrap();
        let config = load(Some(&path), &Overrides::default()).unwrap();
        let live = Arc::new(ArcSwap::from_pointee(
            Snapshot::compile(&config, 1).unwrap(),
        ));
        let reloader = Reloader::new(live, Some(path.clone()), Overrides::default(), config);
        (dir, path, reloader)
    }

    #[tokio::test]
    async fn a_change_is_published_with_the_next_generation() {
        let (dir, _, reloader) = setup(ALLOW_ALL);
        let before = reloader.current().version.clone();
        std::fs::write(dir.path().join("p.json"), DENY_ALL).unwrap();
        let outcome = reloader.reload(ReloadTrigger::Api).await;
        let ReloadOutcome::Published { version } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(version.starts_with("2-"), "{version}");
        assert_ne!(version, before);
        assert_eq!(reloader.current().version, version);
        assert_eq!(reloader.status().published_total, 1);
    }

    #[tokio::test]
    async fn identical_content_is_not_republished() {
        let (_dir, _, reloader) = setup(ALLOW_ALL);
        let before = reloader.current().version.clone();
        assert_eq!(
            reloader.reload(ReloadTrigger::Signal).await,
            ReloadOutcome::Unchanged {
                version: before.clone()
            }
        );
        assert_eq!(reloader.current().version, before);
    }

    #[tokio::test]
    async fn a_broken_change_keeps_the_old_snapshot_and_says_why() {
        let (dir, _, reloader) = setup(ALLOW_ALL);
        let before = reloader.current().version.clone();
        std::fs::write(dir.path().join("p.json"), r#"{"Version":"2012-10-17","Statement":[{"Effect":"Alow","Action":"*","Resource":"*"}]}"#).unwrap();
        let outcome = reloader.reload(ReloadTrigger::FileChange).await;
        let ReloadOutcome::Failed { version, error } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(version, before);
        assert!(error.contains("p.json"), "{error}");
        assert_eq!(reloader.current().version, before);
        let status = reloader.status();
        assert_eq!(status.last_result, "failed");
        assert_eq!(status.failed_total, 1);
        assert!(status.last_error.unwrap().contains("p.json"));

        // Fixing the file recovers.
        std::fs::write(dir.path().join("p.json"), DENY_ALL).unwrap();
        assert!(matches!(
            reloader.reload(ReloadTrigger::FileChange).await,
            ReloadOutcome::Published { .. }
        ));
        assert_eq!(reloader.status().last_error, None);
    }

    #[tokio::test]
    async fn a_change_that_fails_its_own_policy_tests_is_refused() {
        let (dir, path, reloader) = setup(ALLOW_ALL);
        std::fs::write(
            &path,
            "[policy]\nfiles = [\"p.json\"]\n[[policy_tests]]\nname = \"nova stays allowed\"\nmodel = \"amazon.nova-lite-v1:0\"\nexpect = \"allow\"\n",
        )
        .unwrap();
        assert!(matches!(
            reloader.reload(ReloadTrigger::Api).await,
            ReloadOutcome::Published { .. }
        ));
        let live = reloader.current().version.clone();
        std::fs::write(dir.path().join("p.json"), DENY_ALL).unwrap();
        let outcome = reloader.reload(ReloadTrigger::FileChange).await;
        let ReloadOutcome::Failed { error, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(error.contains("nova stays allowed"), "{error}");
        assert_eq!(reloader.current().version, live);
    }

    #[tokio::test]
    async fn settings_that_need_a_restart_are_reported_not_ignored() {
        let (_dir, path, reloader) = setup(ALLOW_ALL);
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9999\"\nregion = \"eu-west-1\"\n[policy]\nfiles = [\"p.json\"]\n",
        )
        .unwrap();
        reloader.reload(ReloadTrigger::Admin).await;
        assert_eq!(reloader.status().restart_required, ["listen", "region"]);
    }

    #[test]
    fn restart_required_names_settings_by_their_config_path() {
        let running = Config::default();
        assert!(restart_required(&running, &running).is_empty());
        let mut candidate = running.clone();
        candidate.shutdown_grace_secs += 1;
        candidate.limits.body_min_bytes_per_sec += 1;
        candidate.limits.max_concurrent_streams += 1;
        candidate.quotas.redis_timeout_ms += 1;
        assert_eq!(
            restart_required(&running, &candidate),
            [
                "shutdown_grace_secs",
                "limits.body_min_bytes_per_sec",
                "limits.max_concurrent_streams",
                "quotas.redis_timeout_ms",
            ]
        );
    }

    #[tokio::test]
    async fn the_watch_list_follows_the_config() {
        let (dir, path, reloader) = setup(ALLOW_ALL);
        assert_eq!(
            reloader.watched_paths(),
            [dir.path().join("p.json"), path.clone()]
        );
        std::fs::write(dir.path().join("q.json"), ALLOW_ALL).unwrap();
        std::fs::write(
            &path,
            "[policy]\nfiles = [\"q.json\"]\nshadow_files = [\"p.json\"]\n",
        )
        .unwrap();
        reloader.reload(ReloadTrigger::Api).await;
        assert_eq!(
            reloader.watched_paths(),
            [dir.path().join("q.json"), dir.path().join("p.json"), path]
        );
    }
}
