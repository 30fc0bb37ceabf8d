//! Run-time protection and lifecycle state shared by the request path, the serving loop and the admin
//! listener: the concurrent request cap, the budget of request-body bytes, whether the guard is
//! draining, and the connection settings.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;
use crate::http::body::{BodyBudget, BodyLimits};

/// Connection-level settings for the serving loop (read once at start).
#[derive(Debug, Clone, Copy)]
pub struct ServeSettings {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Bytes of request bodies one connection's requests may hold at once.
    pub body_bytes_per_connection: usize,
    /// HTTP/2 streams open at once on one connection.
    pub max_concurrent_streams: u32,
    /// Serving threads (resolved: at least 1).
    pub worker_threads: usize,
}

impl ServeSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(config.limits.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(config.limits.idle_timeout_secs),
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
            body_bytes_per_connection: config.limits.max_body_bytes_per_connection,
            max_concurrent_streams: config.limits.max_concurrent_streams,
            worker_threads: crate::workers::count(config.worker_threads),
        }
    }
}

#[derive(Debug)]
pub struct Ops {
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    draining: AtomicBool,
    pub serve: ServeSettings,
    /// Bytes of request bodies all requests together may hold.
    pub(crate) body_budget: BodyBudget,
    /// Deadline and minimum rate of a body (the size cap comes from the snapshot).
    pub(crate) body_limits: BodyLimits,
}

/// The request was not admitted: `limit` requests are already in progress.
#[derive(Debug, Clone, Copy)]
pub struct Overloaded {
    pub limit: usize,
}

impl Ops {
    pub fn from_config(config: &Config) -> Self {
        let max = config.limits.max_concurrent_requests;
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max_concurrent: max,
            draining: AtomicBool::new(false),
            serve: ServeSettings::from_config(config),
            body_budget: BodyBudget::new(config.limits.max_body_bytes_total, "all connections"),
            body_limits: BodyLimits::from_config(&config.limits),
        }
    }

    /// Admits a request, or refuses at once (queueing would only turn overload into timeouts). The
    /// permit must live until the response body ends, so streams count for their whole length.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, Overloaded> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| Overloaded {
                limit: self.max_concurrent,
            })
    }

    /// Shutdown has begun: `/readyz` fails so load balancers stop sending new work.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_is_capped_and_permits_come_back() {
        let mut config = Config::default();
        config.limits.max_concurrent_requests = 2;
        let ops = Ops::from_config(&config);
        let a = ops.admit().unwrap();
        let _b = ops.admit().unwrap();
        assert_eq!(ops.admit().unwrap_err().limit, 2);
        drop(a);
        assert!(ops.admit().is_ok());
    }
}
