//! The in-process quota check on the request path (`cargo bench --bench quota`): which of 100 entries
//! a call falls under, then check-and-count on its counters among 100,000 live ones.

#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a panic is a failed run

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use bedrock_guard::classify::Operation;
use bedrock_guard::policy::{Identity, Principal};
use bedrock_guard::quota::{CallInfo, ManualClock, QuotaSet, Quotas, QuotasConfig};
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;

const ENTRIES: usize = 100;
const PRINCIPALS: usize = 1_000;
const MODELS: usize = 100;

fn principal(i: usize) -> Principal {
    Principal::new(
        &format!("app-{i}"),
        &format!("arn:aws:iam::123456789012:role/app-{i}"),
        Identity::Unrestricted,
    )
    .with_tags(vec![("team".to_owned(), format!("team-{}", i % 10))])
}

fn model(i: usize) -> String {
    format!("vendor{}.model-{i}-v1:0", i % 10)
}

/// 100 entries: one per (team, model vendor) pair, per principal and model, so every call falls under
/// one of them after testing them all, and the counters multiply (1,000 principals x 100 models =
/// 100,000).
fn quota_set(principals: &[Principal]) -> QuotaSet {
    let mut text = String::new();
    for i in 0..ENTRIES {
        text.push_str(&format!(
            "[[rules]]\nname = \"q{i}\"\ntags = {{ team = \"team-{}\" }}\nmodels = [\"vendor{}.*\"]\nper = [\"principal\", \"model\"]\nrequests_per_minute = 1000000000\ntokens_per_day = 1000000000000\n\n",
            i % 10,
            (i / 10) % 10
        ));
    }
    let config: QuotasConfig = toml::from_str(&text).unwrap();
    let refs: Vec<&Principal> = principals.iter().collect();
    QuotaSet::compile(&config, &[], &[], HashMap::new(), &refs).unwrap()
}

fn check(c: &mut Criterion) {
    let principals: Vec<Principal> = (0..PRINCIPALS).map(principal).collect();
    let models: Vec<String> = (0..MODELS).map(model).collect();
    let set = quota_set(&principals);
    let clock = Arc::new(ManualClock::at(1_796_139_010_000));
    let quotas = Arc::new(Quotas::in_process(clock));
    let admit = |p: &Principal, m: &str| {
        let call = CallInfo {
            principal: p,
            operation: Operation::Converse,
            model: m,
        };
        quotas
            .admit(&set, &call, 0)
            .now_or_never()
            .expect("in-process admission never waits")
            .unwrap()
    };
    // Fill the store: every principal calls every model once.
    let mut live = 0;
    for p in &principals {
        for m in &models {
            if admit(p, m).is_some() {
                live += 1;
            }
        }
    }
    assert_eq!(
        live,
        PRINCIPALS * MODELS,
        "every call falls under one entry"
    );
    let (p, m) = (&principals[7], models[7].as_str());
    let under = set
        .applying(&CallInfo {
            principal: p,
            operation: Operation::Converse,
            model: m,
        })
        .count();
    assert!(under > 0);
    c.bench_function(
        &format!("quota/admit/{ENTRIES}-entries/{live}-counters/{under}-applying"),
        |b| b.iter(|| black_box(admit(black_box(p), black_box(m)))),
    );
}

criterion_group!(benches, check);
criterion_main!(benches);
