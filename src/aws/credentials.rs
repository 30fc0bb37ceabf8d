//! A credentials cache in front of any provider of the AWS chain.
//!
//! The SDK clients cache identities inside their own runtime; the proxy signs by hand, so it keeps its
//! own cache: one provider call per credential lifetime, refreshed ahead of expiry by the first request
//! that notices, while concurrent requests keep using the still-valid credentials.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use tokio::sync::Mutex;

/// Refresh this long before expiry, so no request is ever signed with credentials about to lapse.
const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("bedrock-guard has no AWS credentials provider configured")]
    NoProvider,
    #[error("bedrock-guard could not load its AWS credentials: {0}")]
    Provider(String),
}

#[derive(Debug)]
pub struct CredentialCache {
    provider: Option<SharedCredentialsProvider>,
    current: ArcSwapOption<Credentials>,
    // Single flight: one refresh at a time; others wait and then reuse its result.
    refresh: Mutex<()>,
}

impl CredentialCache {
    pub fn new(provider: Option<SharedCredentialsProvider>) -> Self {
        Self {
            provider,
            current: ArcSwapOption::empty(),
            refresh: Mutex::new(()),
        }
    }

    /// Credentials valid for at least a few more minutes (or, if a refresh fails, the cached ones while
    /// they have not expired yet).
    pub async fn get(&self) -> Result<Arc<Credentials>, CredentialsError> {
        let now = SystemTime::now();
        if let Some(creds) = self.current.load_full() {
            if !needs_refresh(&creds, now) {
                return Ok(creds);
            }
        }
        let _guard = self.refresh.lock().await;
        // Someone may have refreshed while we waited for the lock.
        let cached = self.current.load_full();
        if let Some(creds) = &cached {
            if !needs_refresh(creds, SystemTime::now()) {
                return Ok(creds.clone());
            }
        }
        let provider = self.provider.as_ref().ok_or(CredentialsError::NoProvider)?;
        match provider.provide_credentials().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                self.current.store(Some(fresh.clone()));
                Ok(fresh)
            }
            Err(err) => match cached {
                Some(creds) if !is_expired(&creds, SystemTime::now()) => {
                    tracing::warn!(error = %DisplayErrorChain(&err), "credential refresh failed; using cached credentials until they expire");
                    Ok(creds)
                }
                _ => Err(CredentialsError::Provider(
                    DisplayErrorChain(&err).to_string(),
                )),
            },
        }
    }
}

fn needs_refresh(creds: &Credentials, now: SystemTime) -> bool {
    creds
        .expiry()
        .is_some_and(|expiry| expiry <= now + REFRESH_AHEAD)
}

fn is_expired(creds: &Credentials, now: SystemTime) -> bool {
    creds.expiry().is_some_and(|expiry| expiry <= now)
}

/// Formats an error with its sources, since the chain's top-level message rarely says what to fix.
struct DisplayErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::error::CredentialsError as ProviderError;
    use aws_credential_types::provider::future::ProvideCredentials as ProvideFuture;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Hands out credentials that expire after `lifetime`, counting calls; fails when `fail` is set.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        lifetime: Duration,
        fail: bool,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> ProvideFuture<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return ProvideFuture::ready(Err(ProviderError::not_loaded("no creds here")));
            }
            ProvideFuture::ready(Ok(Credentials::new(
                format!("AKID{n}"),
                "secret",
                None,
                Some(SystemTime::now() + self.lifetime),
                "test",
            )))
        }
    }

    fn cache(lifetime: Duration, fail: bool) -> (CredentialCache, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let provider = Counting {
            calls: calls.clone(),
            lifetime,
            fail,
        };
        (
            CredentialCache::new(Some(SharedCredentialsProvider::new(provider))),
            calls,
        )
    }

    #[tokio::test]
    async fn long_lived_credentials_are_fetched_once() {
        let (cache, calls) = cache(Duration::from_secs(3600), false);
        for _ in 0..10 {
            assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID0");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn credentials_near_expiry_are_refreshed() {
        // Lifetime inside the refresh window: every call must go back to the provider.
        let (cache, calls) = cache(Duration::from_secs(60), false);
        assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID0");
        assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_are_errors_not_panics() {
        let (cache, _) = cache(Duration::from_secs(3600), true);
        let err = cache.get().await.unwrap_err().to_string();
        assert!(err.contains("could not load"), "{err}");
        let none = CredentialCache::new(None);
        assert!(matches!(
            none.get().await,
            Err(CredentialsError::NoProvider)
        ));
    }
}
