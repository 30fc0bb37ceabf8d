//! What the policy engine is asked: the inputs of one authorization decision.
//!
//! Classification builds these from an HTTP request; the engine only reads them. They live here (and not in
//! `classify`) so that the engine stays a pure function of its inputs, usable by `explain` and tests alike.

use std::borrow::Cow;
use std::cell::RefCell;

use crate::calendar::{ascii, UtcDateTime};

/// One resource a call is authorized against, with the condition keys that hold only for this check
/// (for example `bedrock:InferenceProfileArn` on the foundation-model check reached through a profile, or
/// `aws:RequestedRegion = unspecified` on the region-less check of a global profile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceCheck {
    pub arn: String,
    /// Extra condition keys for this check, overriding request-wide keys of the same name.
    /// Key names are written in AWS's canonical case (`bedrock:InferenceProfileArn`) and compared
    /// case-insensitively by the engine.
    pub context: Vec<(&'static str, String)>,
}

impl ResourceCheck {
    pub fn new(arn: impl Into<String>) -> Self {
        Self {
            arn: arn.into(),
            context: Vec::new(),
        }
    }

    pub fn with_context(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.context.push((key, value.into()));
        self
    }
}

/// Request-wide condition keys (`aws:RequestedRegion`, `aws:PrincipalArn`, ...). Each key may carry several
/// values (multi-valued keys are used with `ForAnyValue:` / `ForAllValues:`).
///
/// Built once per request: key names are borrowed when they are constants (almost all are) and a
/// single value is stored without a vector, so a key costs one allocation (its value), not three.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    entries: Vec<(Cow<'static, str>, Values)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Values {
    One(String),
    Many(Vec<String>),
}

impl Values {
    fn as_slice(&self) -> &[String] {
        match self {
            Values::One(value) => std::slice::from_ref(value),
            Values::Many(values) => values,
        }
    }
}

/// Keys a proxied request usually carries (region, principal, source IP, times, ...).
const TYPICAL_KEYS: usize = 12;

impl RequestContext {
    pub fn new() -> Self {
        Self {
            entries: Vec::with_capacity(TYPICAL_KEYS),
        }
    }

    /// Sets `key` to one value, replacing any earlier value.
    pub fn set(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        self.put(key.into(), Values::One(value.into()));
    }

    /// Sets `key` to several values, replacing any earlier value.
    pub fn set_many(&mut self, key: impl Into<Cow<'static, str>>, values: Vec<String>) {
        self.put(key.into(), Values::Many(values));
    }

    fn put(&mut self, key: Cow<'static, str>, values: Values) {
        match self
            .entries
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
        {
            Some(entry) => entry.1 = values,
            None => self.entries.push((key, values)),
        }
    }

    /// Sets `aws:CurrentTime` (ISO 8601, UTC, whole seconds) and `aws:EpochTime` (seconds) from `now`.
    pub fn set_time(&mut self, now: std::time::SystemTime) {
        let secs = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let (current, epoch) = time_values(secs);
        self.set("aws:CurrentTime", current);
        self.set("aws:EpochTime", epoch);
    }

    /// Every key with its values, in the order they were first set.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v.as_slice()))
    }

    /// The values of `key` (case-insensitive name), or `None` when the key is absent from the request.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_slice())
    }
}

thread_local! {
    /// The second last formatted on this thread, with its two values: the calls of one second share
    /// the formatting (it was a visible part of every call's context).
    static TIME_VALUES: RefCell<(u64, String, String)> =
        const { RefCell::new((u64::MAX, String::new(), String::new())) };
}

/// `aws:CurrentTime` and `aws:EpochTime` for `secs` since the Unix epoch.
fn time_values(secs: u64) -> (String, String) {
    TIME_VALUES.with_borrow_mut(|(cached, current, epoch)| {
        if *cached != secs {
            *cached = secs;
            *current = iso8601(secs);
            *epoch = secs.to_string();
        }
        (current.clone(), epoch.clone())
    })
}

/// `2025-01-31T12:00:00Z` for seconds since the Unix epoch.
pub fn iso8601(epoch_secs: u64) -> String {
    let t = UtcDateTime::from_epoch_secs(i64::try_from(epoch_secs).unwrap_or(i64::MAX));
    match t.extended() {
        Some(text) => [ascii(&text), "Z"].concat(),
        // Past year 9999: as wide as the year needs.
        None => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ),
    }
}

/// One authorization question: may `principal_arn` perform `action` on every resource in `checks`?
#[derive(Debug, Clone, Copy)]
pub struct AuthzRequest<'a> {
    pub principal_arn: &'a str,
    /// The IAM action, `service:Name` (`bedrock:InvokeModel`).
    pub action: &'a str,
    /// Every check must be allowed for the call to be allowed; a deny on any one denies the call.
    pub checks: &'a [ResourceCheck],
    pub context: &'a RequestContext,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_formats_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_767_225_599), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn time_keys_follow_the_clock_across_seconds() {
        let at = |secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        for secs in [1_767_225_599, 1_767_225_599, 1_767_225_600, 0] {
            let mut context = RequestContext::new();
            context.set_time(at(secs));
            let current = iso8601(secs);
            assert_eq!(context.get("aws:CurrentTime"), Some(&[current][..]));
            assert_eq!(context.get("aws:EpochTime"), Some(&[secs.to_string()][..]));
        }
    }
}
