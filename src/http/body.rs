//! Reading a request body within bounds: a size cap, a deadline, a minimum rate, and a budget of
//! bytes held by bodies being read (per connection and in total), so slow or parallel uploads cannot
//! hold the proxy's memory or its request slots.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, CONTENT_LENGTH};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::error::GuardError;
use crate::config::LimitsConfig;

/// Before this much time has passed, a body is not held to the minimum rate (connection set-up,
/// first window).
const RATE_GRACE: Duration = Duration::from_secs(1);

/// The body bounds of one snapshot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
    pub min_bytes_per_sec: u64,
}

impl BodyLimits {
    pub(crate) fn from_config(limits: &LimitsConfig) -> Self {
        Self {
            max_bytes: limits.max_body_bytes,
            timeout: Duration::from_secs(limits.body_read_timeout_secs),
            min_bytes_per_sec: limits.body_min_bytes_per_sec,
        }
    }
}

/// A pool of body bytes (a connection's or the whole proxy's).
#[derive(Debug, Clone)]
pub(crate) struct BodyBudget {
    bytes: Arc<Semaphore>,
    limit: usize,
    scope: &'static str,
}

impl BodyBudget {
    pub(crate) fn new(limit: usize, scope: &'static str) -> Self {
        Self {
            // At most u32::MAX (checked at load): the semaphore's unit of acquisition.
            bytes: Arc::new(Semaphore::new(limit)),
            limit,
            scope,
        }
    }

    fn reserve(&self, held: &mut Option<OwnedSemaphorePermit>, n: usize) -> Result<(), GuardError> {
        if n == 0 {
            return Ok(());
        }
        let exhausted = || GuardError::BodyBudget {
            scope: self.scope,
            limit: self.limit,
        };
        let n = u32::try_from(n).map_err(|_| exhausted())?;
        let permit = self
            .bytes
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| exhausted())?;
        match held {
            Some(held) => held.merge(permit),
            None => *held = Some(permit),
        }
        Ok(())
    }
}

/// The budget of the connection a request arrived on (a request extension set by the serving loop).
#[derive(Debug, Clone)]
pub(crate) struct ConnectionBudget(pub(crate) BodyBudget);

/// Body bytes counted against the budgets; returned when dropped (after the upstream call).
#[derive(Debug, Default)]
pub(crate) struct Reservation {
    permits: Vec<Option<OwnedSemaphorePermit>>,
}

/// Reads the whole body, or fails: too large (413), too slow (408), or over a budget (503).
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limits: BodyLimits,
    budgets: &[&BodyBudget],
) -> Result<(Bytes, Reservation), GuardError> {
    let limit = limits.max_bytes;
    let mut reservation = Reservation {
        permits: budgets.iter().map(|_| None).collect(),
    };
    let reserve = |n: usize, reservation: &mut Reservation| {
        budgets
            .iter()
            .zip(reservation.permits.iter_mut())
            .try_for_each(|(budget, held)| budget.reserve(held, n))
    };
    // Refuse a declared oversize body before reading a byte of it, and reserve a declared length
    // whole, so a body that cannot fit is refused before it is read.
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(GuardError::BodyTooLarge { limit });
    }
    let declared = declared.map_or(0, |len| len as usize);
    reserve(declared, &mut reservation)?;

    let started = Instant::now();
    let deadline = started + limits.timeout;
    let mut body = body;
    let mut buffer = BytesMut::with_capacity(declared);
    loop {
        // The minimum rate: `received` bytes buy `received / rate` seconds beyond the grace.
        let rate_deadline = (limits.min_bytes_per_sec > 0).then(|| {
            started
                + RATE_GRACE
                + Duration::from_secs_f64(buffer.len() as f64 / limits.min_bytes_per_sec as f64)
        });
        let wait_until = rate_deadline.map_or(deadline, |r| r.min(deadline));
        let frame = match tokio::time::timeout_at(wait_until, body.frame()).await {
            Ok(Some(frame)) => frame.map_err(|e| GuardError::BodyRead(e.to_string()))?,
            Ok(None) => break,
            Err(_) => {
                return Err(GuardError::BodyTimeout {
                    seconds: limits.timeout.as_secs(),
                    min_rate: limits.min_bytes_per_sec,
                })
            }
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers: nothing to hold
        };
        let total = buffer.len() + data.len();
        if total > limit {
            return Err(GuardError::BodyTooLarge { limit });
        }
        reserve(
            total.saturating_sub(buffer.len().max(declared)),
            &mut reservation,
        )?;
        buffer.extend_from_slice(&data);
    }
    Ok((buffer.freeze(), reservation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn limits(max_bytes: usize) -> BodyLimits {
        BodyLimits {
            max_bytes,
            timeout: Duration::from_secs(10),
            min_bytes_per_sec: 100,
        }
    }

    fn chunked(chunks: &[&'static [u8]]) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Body::from_stream(stream::iter(chunks))
    }

    #[tokio::test]
    async fn bytes_are_held_until_the_reservation_drops() {
        let total = BodyBudget::new(10, "total");
        let (bytes, held) = read_body(
            chunked(&[b"abc", b"def"]),
            &HeaderMap::new(),
            limits(100),
            &[&total],
        )
        .await
        .unwrap();
        assert_eq!(&bytes[..], b"abcdef");
        assert_eq!(total.bytes.available_permits(), 4);
        // A second body that does not fit in what is left is refused, not queued.
        let err = read_body(
            chunked(&[b"12345"]),
            &HeaderMap::new(),
            limits(100),
            &[&total],
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, GuardError::BodyBudget { scope: "total", .. }),
            "{err}"
        );
        drop(held);
        assert_eq!(total.bytes.available_permits(), 10);
    }

    #[tokio::test]
    async fn a_declared_length_is_reserved_before_reading() {
        let conn = BodyBudget::new(8, "connection");
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, "9".parse().unwrap());
        let err = read_body(chunked(&[]), &headers, limits(100), &[&conn])
            .await
            .unwrap_err();
        assert!(matches!(err, GuardError::BodyBudget { .. }), "{err}");
        headers.insert(CONTENT_LENGTH, "101".parse().unwrap());
        let err = read_body(chunked(&[]), &headers, limits(100), &[&conn])
            .await
            .unwrap_err();
        assert!(
            matches!(err, GuardError::BodyTooLarge { limit: 100 }),
            "{err}"
        );
        assert_eq!(conn.bytes.available_permits(), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_times_out() {
        let (tx, body) = channel_body();
        let task =
            tokio::spawn(
                async move { read_body(body, &HeaderMap::new(), limits(1_000), &[]).await },
            );
        tx.send(Ok(Bytes::from_static(b"x"))).await.unwrap();
        // Paused time jumps to the deadline once nothing else can run: 1 s grace + 1 byte at 100 B/s.
        let started = Instant::now();
        let err = task.await.unwrap().unwrap_err();
        assert!(matches!(err, GuardError::BodyTimeout { .. }), "{err}");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(1_010), "{waited:?}");
        assert!(waited < Duration::from_secs(10), "{waited:?}");
        drop(tx);
    }

    type Sender = tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>;

    fn channel_body() -> (Sender, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let chunks = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
        (tx, Body::from_stream(chunks))
    }
}
