//! Counters shared by every replica, in Redis (or Valkey). The check is one round trip: a Lua script
//! reads a call's counters, applies the same comparisons as [`super::counts::check`], and counts the
//! call only if every counter allows it, atomically (no read-modify-write races between replicas).
//! Token and money charges are queued and sent in pipelines by a background task, off the request
//! path; while Redis is unreachable they wait (bounded) and are replayed once it is back.
//!
//! Keys: `bedrock-guard:quota:{quota}\x1f{partition}:m:{minute}` (hash r, t, i, o),
//! `...:d:{day}` and `...:M:{month}` (hash t, u), each expiring after its window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{mpsc, watch};

use super::clock::Windows;
use super::counts::{Counts, Delta};
use super::metrics as quota_metrics;
use super::set::{Limits, Target};

const PREFIX: &str = "bedrock-guard:quota:";
/// Charges waiting for Redis beyond this many are dropped (and counted): memory stays bounded in a
/// long outage.
const MAX_PENDING: usize = 100_000;
const BATCH: usize = 512;
/// How often an idle pipeline probes Redis while it is marked unreachable.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);

const ADMIT: &str = r#"
-- KEYS: 4 per target (current minute, previous minute, day, month).
-- ARGV[1]: weight of the previous minute; ARGV[2..6]: the admission delta (r, t, i, o, u);
-- ARGV[7]: minute TTL ms, ARGV[8]: day TTL ms, ARGV[9]: month TTL ms;
-- then 8 limits per target (-1: none): r/min, t/min, i/min, o/min, t/day, t/month, u/day, u/month.
local w = tonumber(ARGV[1])
local d = {tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])}
local n = #KEYS / 4
local out = {-1}
local function h(key)
  local v = redis.call('HMGET', key, 'r', 't', 'i', 'o', 'u')
  for j = 1, 5 do v[j] = tonumber(v[j] or '0') end
  return v
end
local refused = -1
for i = 0, n - 1 do
  local cur, prev, day, month = h(KEYS[i*4+1]), h(KEYS[i*4+2]), h(KEYS[i*4+3]), h(KEYS[i*4+4])
  local a = 9 + i * 8
  local function lim(j) return tonumber(ARGV[a + j]) end
  local c = {cur[1], prev[1], cur[2], prev[2], cur[3], prev[3], cur[4], prev[4], day[2], day[5], month[2], month[5]}
  for j = 1, 12 do out[#out + 1] = c[j] end
  if refused < 0 then
    if lim(1) >= 0 and c[1] + c[2] * w + 1 > lim(1) then refused = i end
    if lim(2) >= 0 and c[3] + c[4] * w >= lim(2) then refused = i end
    if lim(3) >= 0 and c[5] + c[6] * w >= lim(3) then refused = i end
    if lim(4) >= 0 and c[7] + c[8] * w >= lim(4) then refused = i end
    if lim(5) >= 0 and c[9] >= lim(5) then refused = i end
    if lim(6) >= 0 and c[11] >= lim(6) then refused = i end
    if lim(7) >= 0 and c[10] >= lim(7) then refused = i end
    if lim(8) >= 0 and c[12] >= lim(8) then refused = i end
  end
end
if refused >= 0 then
  out[1] = refused
  return out
end
for i = 0, n - 1 do
  local a = 9 + i * 8
  local function lim(j) return tonumber(ARGV[a + j]) end
  local cur, day, month = KEYS[i*4+1], KEYS[i*4+3], KEYS[i*4+4]
  if lim(1) >= 0 then redis.call('HINCRBY', cur, 'r', 1) end
  if d[2] ~= 0 and (lim(2) >= 0 or lim(5) >= 0 or lim(6) >= 0) then
    if lim(2) >= 0 then redis.call('HINCRBY', cur, 't', d[2]) end
    if lim(5) >= 0 then redis.call('HINCRBY', day, 't', d[2]); redis.call('PEXPIRE', day, ARGV[8]) end
    if lim(6) >= 0 then redis.call('HINCRBY', month, 't', d[2]); redis.call('PEXPIRE', month, ARGV[9]) end
  end
  if d[4] ~= 0 and lim(4) >= 0 then redis.call('HINCRBY', cur, 'o', d[4]) end
  redis.call('PEXPIRE', cur, ARGV[7])
end
return out
"#;

/// How long each window's keys live: past their window, plus slack for replicas' clock skew.
const MINUTE_TTL_MS: u64 = 3 * 60_000;
const DAY_TTL_MS: u64 = 2 * 86_400_000;
const MONTH_TTL_MS: u64 = 32 * 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum RedisQuotaError {
    #[error("quota backend {url:?}: {source}")]
    Url {
        url: String,
        source: redis::RedisError,
    },
    #[error("not connected to Redis")]
    NotConnected,
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("unexpected answer from the quota script")]
    Answer,
}

/// One charge to send: a delta counted in the windows of `at`.
#[derive(Debug, Clone)]
pub struct Charge {
    pub key: String,
    pub limits: Limits,
    pub delta: Delta,
    pub at: Windows,
}

/// How the shared store is doing, as last seen (admin API, tests waiting for a recovery).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BackendStatus {
    /// The last round trip (check, charge or health probe) succeeded.
    pub connected: bool,
    /// Charges waiting to be sent (they wait while Redis is unreachable).
    pub pending_charges: usize,
}

pub struct RedisStore {
    client: redis::Client,
    status: watch::Sender<BackendStatus>,
    connection: Arc<ArcSwapOption<ConnectionManager>>,
    script: redis::Script,
    timeout: Duration,
    charges: mpsc::UnboundedSender<Charge>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("connected", &self.connection.load().is_some())
            .finish_non_exhaustive()
    }
}

/// The outcome of the admission script: every target's counts before this call, and the index of the
/// refusing target if one refused (nothing was counted then).
#[derive(Debug)]
pub struct Admitted {
    pub refused: Option<usize>,
    pub before: Vec<Counts>,
}

impl RedisStore {
    /// Connects (waiting at most `timeout` for the first connection; it keeps trying in the
    /// background after that) and starts the charge pipeline. Must run inside a Tokio runtime.
    pub async fn connect(url: &str, timeout: Duration) -> Result<RedisStore, RedisQuotaError> {
        if url.starts_with("rediss") {
            // The Redis client builds its TLS config from the process-wide rustls provider, and two
            // providers are compiled in (the AWS SDK brings its own): name one unless the embedding
            // program already did.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = redis::Client::open(url).map_err(|source| RedisQuotaError::Url {
            url: redact(url),
            source,
        })?;
        let connection = Arc::new(ArcSwapOption::empty());
        let (charges, queue) = mpsc::unbounded_channel();
        let (status, _) = watch::channel(BackendStatus::default());
        let store = RedisStore {
            status,
            client,
            connection,
            script: redis::Script::new(ADMIT),
            timeout,
            charges,
        };
        let first = tokio::time::timeout(timeout.max(Duration::from_secs(2)), store.open()).await;
        match first {
            Ok(Ok(manager)) => {
                store.connection.store(Some(Arc::new(manager)));
                store.set_connected(true);
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "quota backend: cannot connect to Redis yet; retrying in the background");
                store.reconnect_in_background();
            }
            Err(_) => {
                tracing::warn!(
                    "quota backend: Redis did not answer at start; retrying in the background"
                );
                store.reconnect_in_background();
            }
        }
        tokio::spawn(pipeline(
            store.connection.clone(),
            queue,
            timeout,
            store.status.clone(),
        ));
        Ok(store)
    }

    pub fn status(&self) -> watch::Receiver<BackendStatus> {
        self.status.subscribe()
    }

    pub(super) fn set_connected(&self, connected: bool) {
        self.status
            .send_if_modified(|s| std::mem::replace(&mut s.connected, connected) != connected);
    }

    async fn open(&self) -> Result<ConnectionManager, redis::RedisError> {
        open(&self.client, self.timeout).await
    }

    fn reconnect_in_background(&self) {
        let client = self.client.clone();
        let slot = self.connection.clone();
        let timeout = self.timeout;
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(200);
            loop {
                if let Ok(manager) = open(&client, timeout).await {
                    tracing::info!("quota backend: connected to Redis");
                    slot.store(Some(Arc::new(manager)));
                    return;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        });
    }

    /// Checks and counts one call in a single round trip.
    pub async fn admit(
        &self,
        targets: &[Target],
        now: &Windows,
        admission: &Delta,
    ) -> Result<Admitted, RedisQuotaError> {
        let Some(manager) = self.connection.load_full() else {
            return Err(RedisQuotaError::NotConnected);
        };
        let mut connection = (*manager).clone();
        let mut invocation = self.script.prepare_invoke();
        for target in targets {
            let base = format!("{PREFIX}{}", target.key);
            invocation
                .key(format!("{base}:m:{}", now.minute))
                .key(format!("{base}:m:{}", now.minute.saturating_sub(1)))
                .key(format!("{base}:d:{}", now.day))
                .key(format!("{base}:M:{}", now.month));
        }
        invocation
            .arg(now.previous_weight())
            .arg(admission.requests)
            .arg(admission.tokens)
            .arg(admission.input)
            .arg(admission.output)
            .arg(admission.usd)
            .arg(MINUTE_TTL_MS)
            .arg(DAY_TTL_MS)
            .arg(MONTH_TTL_MS);
        for target in targets {
            let l = &target.rule.limits;
            for limit in [
                l.requests_per_minute,
                l.tokens_per_minute,
                l.input_tokens_per_minute,
                l.output_tokens_per_minute,
                l.tokens_per_day,
                l.tokens_per_month,
                l.usd_micro_per_day,
                l.usd_micro_per_month,
            ] {
                invocation.arg(limit.map_or(-1, |v| v as i64));
            }
        }
        let started = Instant::now();
        let answer: Result<Result<Vec<i64>, _>, _> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection)).await;
        quota_metrics::record_backend_latency("admit", started.elapsed());
        let values = match answer {
            Ok(Ok(values)) => values,
            Ok(Err(err)) => return Err(err.into()),
            Err(_) => return Err(RedisQuotaError::Timeout(self.timeout)),
        };
        let Some((&first, rest)) = values.split_first() else {
            return Err(RedisQuotaError::Answer);
        };
        if rest.len() != targets.len() * 12 {
            return Err(RedisQuotaError::Answer);
        }
        let before = rest
            .chunks_exact(12)
            .map(|c| Counts {
                requests: [c[0], c[1]],
                tokens: [c[2], c[3]],
                input: [c[4], c[5]],
                output: [c[6], c[7]],
                tokens_day: c[8],
                usd_day: c[9],
                tokens_month: c[10],
                usd_month: c[11],
            })
            .collect();
        Ok(Admitted {
            refused: usize::try_from(first).ok(),
            before,
        })
    }

    /// Queues a charge for the pipeline (never waits).
    pub fn charge(&self, charge: Charge) {
        let _ = self.charges.send(charge);
    }

    /// Reads one partition's counters (admin API).
    pub async fn read(&self, key: &str, now: &Windows) -> Result<Counts, RedisQuotaError> {
        let Some(manager) = self.connection.load_full() else {
            return Err(RedisQuotaError::NotConnected);
        };
        let mut connection = (*manager).clone();
        let base = format!("{PREFIX}{key}");
        let mut pipe = redis::pipe();
        for suffix in [
            format!("m:{}", now.minute),
            format!("m:{}", now.minute.saturating_sub(1)),
            format!("d:{}", now.day),
            format!("M:{}", now.month),
        ] {
            pipe.cmd("HMGET")
                .arg(format!("{base}:{suffix}"))
                .arg(&["r", "t", "i", "o", "u"]);
        }
        let rows: Vec<Vec<Option<i64>>> =
            tokio::time::timeout(self.timeout, pipe.query_async(&mut connection))
                .await
                .map_err(|_| RedisQuotaError::Timeout(self.timeout))??;
        let get = |row: usize, field: usize| {
            rows.get(row)
                .and_then(|r| r.get(field))
                .copied()
                .flatten()
                .unwrap_or(0)
        };
        Ok(Counts {
            requests: [get(0, 0), get(1, 0)],
            tokens: [get(0, 1), get(1, 1)],
            input: [get(0, 2), get(1, 2)],
            output: [get(0, 3), get(1, 3)],
            tokens_day: get(2, 1),
            usd_day: get(2, 4),
            tokens_month: get(3, 1),
            usd_month: get(3, 4),
        })
    }
}

async fn open(
    client: &redis::Client,
    timeout: Duration,
) -> Result<ConnectionManager, redis::RedisError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2));
    ConnectionManager::new_with_config(client.clone(), config).await
}

/// Sends queued charges in pipelines. What cannot be sent stays queued (up to [`MAX_PENDING`]) and
/// is retried, so counts made while Redis was away reach it when it returns.
async fn pipeline(
    connection: Arc<ArcSwapOption<ConnectionManager>>,
    mut queue: mpsc::UnboundedReceiver<Charge>,
    timeout: Duration,
    status: watch::Sender<BackendStatus>,
) {
    let mut pending: Vec<Charge> = Vec::new();
    let mut backoff = Duration::from_millis(100);
    let report = |connected: bool, pending: usize| {
        status.send_if_modified(|s| {
            let next = BackendStatus {
                connected,
                pending_charges: pending,
            };
            std::mem::replace(s, next) != next
        });
    };
    loop {
        if pending.is_empty() {
            // Idle: while Redis is marked unreachable, probe it so recovery is noticed without
            // waiting for traffic.
            match tokio::time::timeout(PROBE_INTERVAL, queue.recv()).await {
                Ok(Some(charge)) => pending.push(charge),
                Ok(None) => return,
                Err(_) => {
                    if !status.borrow().connected {
                        if let Some(manager) = connection.load_full() {
                            let ok = ping(&manager, timeout).await;
                            report(ok, 0);
                        }
                    }
                    continue;
                }
            }
        }
        while pending.len() < MAX_PENDING {
            match queue.try_recv() {
                Ok(charge) => pending.push(charge),
                Err(_) => break,
            }
        }
        let batch = pending.len().min(BATCH);
        let sent = match connection.load_full() {
            Some(manager) => send(&manager, &pending[..batch], timeout).await,
            None => false,
        };
        if sent {
            pending.drain(..batch);
            backoff = Duration::from_millis(100);
            report(true, pending.len());
        } else {
            quota_metrics::record_backend_error("charge");
            report(false, pending.len());
            if pending.len() >= MAX_PENDING {
                let dropped = pending.len() + 1 - MAX_PENDING;
                pending.drain(..dropped);
                quota_metrics::record_dropped_charges(dropped as u64);
            }
            // Wait for Redis, but keep taking charges so the channel does not grow unbounded.
            let wake = tokio::time::sleep(backoff);
            tokio::pin!(wake);
            loop {
                tokio::select! {
                    _ = &mut wake => break,
                    charge = queue.recv() => match charge {
                        Some(charge) if pending.len() < MAX_PENDING => pending.push(charge),
                        Some(_) => quota_metrics::record_dropped_charges(1),
                        None => return,
                    },
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

async fn ping(manager: &ConnectionManager, timeout: Duration) -> bool {
    let mut connection = manager.clone();
    let result: Result<Result<String, _>, _> =
        tokio::time::timeout(timeout * 4, redis::cmd("PING").query_async(&mut connection)).await;
    matches!(result, Ok(Ok(_)))
}

async fn send(manager: &ConnectionManager, charges: &[Charge], timeout: Duration) -> bool {
    let mut pipe = redis::pipe();
    for charge in charges {
        let base = format!("{PREFIX}{}", charge.key);
        let d = charge.delta.masked(&charge.limits);
        let l = &charge.limits;
        let minute = format!("{base}:m:{}", charge.at.minute);
        let mut minute_used = false;
        for (field, value, limited) in [
            ("r", d.requests, l.requests_per_minute.is_some()),
            ("t", d.tokens, l.tokens_per_minute.is_some()),
            ("i", d.input, l.input_tokens_per_minute.is_some()),
            ("o", d.output, l.output_tokens_per_minute.is_some()),
        ] {
            if limited && value != 0 {
                pipe.hincr(&minute, field, value).ignore();
                minute_used = true;
            }
        }
        if minute_used {
            pipe.pexpire(&minute, MINUTE_TTL_MS as i64).ignore();
        }
        for (key, ttl, tokens_limited, usd_limited) in [
            (
                format!("{base}:d:{}", charge.at.day),
                DAY_TTL_MS,
                l.tokens_per_day.is_some(),
                l.usd_micro_per_day.is_some(),
            ),
            (
                format!("{base}:M:{}", charge.at.month),
                MONTH_TTL_MS,
                l.tokens_per_month.is_some(),
                l.usd_micro_per_month.is_some(),
            ),
        ] {
            let mut used = false;
            if tokens_limited && d.tokens != 0 {
                pipe.hincr(&key, "t", d.tokens).ignore();
                used = true;
            }
            if usd_limited && d.usd != 0 {
                pipe.hincr(&key, "u", d.usd).ignore();
                used = true;
            }
            if used {
                pipe.pexpire(&key, ttl as i64).ignore();
            }
        }
    }
    let mut connection = manager.clone();
    let started = Instant::now();
    let result: Result<Result<(), _>, _> =
        tokio::time::timeout(timeout * 4, pipe.query_async(&mut connection)).await;
    quota_metrics::record_backend_latency("charge", started.elapsed());
    matches!(result, Ok(Ok(())))
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("rediss://user:secret@cache.example:6379/0"),
            "rediss://***@cache.example:6379/0"
        );
        assert_eq!(
            redact("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }

    /// A TLS URL builds its TLS configuration without panicking; a server that never answers leaves
    /// the store disconnected (retrying in the background) instead of failing the start.
    #[tokio::test]
    async fn a_tls_backend_that_does_not_answer_starts_disconnected() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let store = RedisStore::connect(
            &format!("rediss://127.0.0.1:{port}/0"),
            Duration::from_millis(100),
        )
        .await
        .unwrap();
        assert!(!store.status().borrow().connected);
    }
}
