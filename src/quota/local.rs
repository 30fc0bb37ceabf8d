//! In-process counters: the default backend, and the per-replica fallback of the Redis backend.
//!
//! Sharded maps behind short mutexes; each shard drops its idle counters (every window expired) the
//! first time it is touched in a new minute, so memory follows the live partitions only.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use super::clock::Windows;
use super::counts::{self, Counts, Delta, Refusal};
use super::set::{Limits, Target};

const SHARDS: usize = 64;

#[derive(Debug)]
pub struct LocalStore {
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
    /// Counters held, for the gauge (kept here so the request path never walks the shards).
    live: AtomicUsize,
}

#[derive(Debug, Default)]
struct Shard {
    counters: HashMap<Box<str>, Entry>,
    swept_minute: u64,
}

/// One partition's counters and the windows they are aligned to.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    minute: u64,
    day: u64,
    month: u64,
    counts: Counts,
}

impl Entry {
    fn roll(&mut self, now: &Windows) {
        let c = &mut self.counts;
        if self.minute != now.minute {
            let keep = self.minute + 1 == now.minute;
            for pair in [&mut c.requests, &mut c.tokens, &mut c.input, &mut c.output] {
                *pair = if keep { [0, pair[0]] } else { [0, 0] };
            }
            self.minute = now.minute;
        }
        if self.day != now.day {
            c.tokens_day = 0;
            c.usd_day = 0;
            self.day = now.day;
        }
        if self.month != now.month {
            c.tokens_month = 0;
            c.usd_month = 0;
            self.month = now.month;
        }
    }

    fn at(now: &Windows) -> Self {
        Entry {
            minute: now.minute,
            day: now.day,
            month: now.month,
            counts: Counts::default(),
        }
    }
}

impl Default for LocalStore {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalStore {
    pub fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            live: AtomicUsize::new(0),
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        // A panic while holding a shard cannot leave counts half-written (plain integer adds).
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks every target and, if all allow the call, counts it (one request, plus `reserve` tokens).
    /// Returns each target's counts after counting; a refusal undoes what was already counted.
    pub fn admit(
        &self,
        targets: &[Target],
        now: &Windows,
        reserve: &Delta,
    ) -> Result<Vec<Counts>, Refusal> {
        let mut after = Vec::with_capacity(targets.len());
        for (i, target) in targets.iter().enumerate() {
            let limits = &target.rule.limits;
            let mut shard = self.shard(&target.key);
            if let Some(dropped) = shard.sweep(now) {
                self.dropped(dropped);
            }
            let entry = match shard.counters.get_mut(target.key.as_str()) {
                Some(entry) => entry,
                None => {
                    self.live.fetch_add(1, Ordering::Relaxed);
                    shard
                        .counters
                        .entry(target.key.as_str().into())
                        .or_insert_with(|| Entry::at(now))
                }
            };
            entry.roll(now);
            if let Err(refusal) = counts::check(&target.rule.name, limits, &entry.counts, now) {
                drop(shard);
                for earlier in &targets[..i] {
                    self.apply(
                        &earlier.key,
                        &earlier.rule.limits,
                        &request_of(reserve).negated(),
                        now,
                        now,
                    );
                }
                return Err(refusal);
            }
            entry
                .counts
                .apply(&request_of(reserve).masked(limits), now, now);
            after.push(entry.counts);
        }
        Ok(after)
    }

    /// Adds `delta`, counted in the windows `at`, to one partition's counters.
    pub fn apply(&self, key: &str, limits: &Limits, delta: &Delta, at: &Windows, now: &Windows) {
        let delta = delta.masked(limits);
        if delta.is_zero() {
            return;
        }
        let mut shard = self.shard(key);
        let entry = match shard.counters.get_mut(key) {
            Some(entry) => entry,
            None => {
                self.live.fetch_add(1, Ordering::Relaxed);
                shard
                    .counters
                    .entry(key.into())
                    .or_insert_with(|| Entry::at(now))
            }
        };
        entry.roll(now);
        entry.counts.apply(&delta, at, now);
    }

    /// Every live counter (for the admin API), aligned to `now`.
    pub fn snapshot(&self, now: &Windows) -> Vec<(String, Counts)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, entry) in &shard.counters {
                let mut entry = *entry;
                entry.roll(now);
                if !entry.counts.is_zero() {
                    out.push((key.to_string(), entry.counts));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Counters held (idle ones included until their shard's next sweep).
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every idle counter now (sweeps otherwise happen as shards are used).
    pub fn sweep_all(&self, now: &Windows) {
        for shard in self.shards.iter() {
            let dropped = shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sweep(now);
            if let Some(dropped) = dropped {
                self.dropped(dropped);
            }
        }
    }

    fn dropped(&self, count: usize) {
        let before = self.live.fetch_sub(count, Ordering::Relaxed);
        super::metrics::record_counters(before.saturating_sub(count));
    }
}

/// One request and the reservation, as counted at admission.
fn request_of(reserve: &Delta) -> Delta {
    Delta {
        requests: 1,
        ..*reserve
    }
}

impl Shard {
    /// Drops idle counters the first time the shard is used in a new minute; how many, if it swept.
    fn sweep(&mut self, now: &Windows) -> Option<usize> {
        if self.swept_minute == now.minute {
            return None;
        }
        self.swept_minute = now.minute;
        let before = self.counters.len();
        self.counters.retain(|_, entry| {
            let mut rolled = *entry;
            rolled.roll(now);
            !rolled.counts.is_zero()
        });
        Some(before - self.counters.len())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::quota::set::QuotaRule;

    fn target(rule: &Arc<QuotaRule>, partition: &str) -> Target {
        Target {
            rule: Arc::clone(rule),
            key: format!("{}\u{1f}{partition}", rule.name),
        }
    }

    #[test]
    fn counts_until_the_limit_then_refuses_and_forgets_idle_counters() {
        let rule = crate::quota::tests::rule("rpm", |q| q.requests_per_minute = Some(2));
        let store = LocalStore::new();
        let now = Windows::at(60_000 * 100);
        let a = [target(&rule, "a")];
        assert!(store.admit(&a, &now, &Delta::default()).is_ok());
        assert!(store.admit(&a, &now, &Delta::default()).is_ok());
        assert!(matches!(
            store.admit(&a, &now, &Delta::default()),
            Err(Refusal::Throttled { .. })
        ));
        // Another partition has its own counter.
        assert!(store
            .admit(&[target(&rule, "b")], &now, &Delta::default())
            .is_ok());
        assert_eq!(store.len(), 2);
        // Two minutes later both windows have expired: the next sweep drops them.
        let later = Windows::at(60_000 * 102);
        store.sweep_all(&later);
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn a_refusal_by_a_later_target_uncounts_the_earlier_ones() {
        let loose = crate::quota::tests::rule("loose", |q| q.requests_per_minute = Some(10));
        let tight = crate::quota::tests::rule("tight", |q| q.requests_per_minute = Some(1));
        let store = LocalStore::new();
        let now = Windows::at(60_000 * 100);
        let both = [target(&loose, "x"), target(&tight, "x")];
        assert!(store.admit(&both, &now, &Delta::default()).is_ok());
        assert!(store.admit(&both, &now, &Delta::default()).is_err());
        let counts = store.snapshot(&now);
        let loose_counts = counts.iter().find(|(k, _)| k.starts_with("loose")).unwrap();
        assert_eq!(loose_counts.1.requests, [1, 0]);
    }
}
