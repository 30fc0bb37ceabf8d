//! Decision latency and compile time of the policy engine (`cargo bench --bench policy`).
//! Figures and the machine they were measured on: docs/BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a panic is a failed run

use std::hint::black_box;

use bedrock_guard::policy::{AuthzRequest, PolicySet, PolicySource};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

#[path = "../tests/support/policygen.rs"]
mod policygen;

const SIZES: &[usize] = &[10, 1_000, 10_000];

fn decide(c: &mut Criterion) {
    let context = policygen::context();
    for (name, checks) in [
        ("direct", policygen::direct_checks()),
        ("us-profile", policygen::profile_checks()),
    ] {
        let mut group = c.benchmark_group(format!("decision/{name}"));
        for &n in SIZES {
            let set = policygen::policy_set(n);
            let req = AuthzRequest {
                principal_arn: policygen::PRINCIPAL,
                action: "bedrock:InvokeModel",
                checks: &checks,
                context: &context,
            };
            assert!(
                set.evaluate(&req).is_allowed(),
                "the benchmarked call must be allowed"
            );
            group.bench_with_input(BenchmarkId::from_parameter(n), &set, |b, set| {
                b.iter(|| black_box(set.evaluate(black_box(&req))))
            });
        }
        group.finish();
    }
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for &n in &[1_000, 10_000] {
        let source = PolicySource {
            name: "generated".into(),
            origin: "generated.json".into(),
            text: policygen::policy_text(n),
        };
        group.bench_with_input(BenchmarkId::from_parameter(n), &source, |b, source| {
            b.iter(|| PolicySet::from_sources(std::slice::from_ref(black_box(source))).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, decide, compile);
criterion_main!(benches);
