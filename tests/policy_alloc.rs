//! No heap allocation per decision on the common path (an allowed call, policies without variables),
//! proven with a counting global allocator. Its own test binary, because the allocator is global, and
//! without libtest's harness (`harness = false` in Cargo.toml): the harness's own threads allocate
//! while a test runs (on a loaded machine it counted 4 allocations among 100 decisions) and the
//! counter cannot tell them apart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::alloc::System;

use bedrock_guard::policy::AuthzRequest;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[path = "support/policygen.rs"]
mod policygen;

fn main() {
    an_allowed_decision_allocates_nothing();
    println!("policy_alloc: an allowed decision allocates nothing (10, 1,000, 10,000 statements)");
}

/// One check only: the allocator is global, so anything running on another thread would be counted.
fn an_allowed_decision_allocates_nothing() {
    // The counter works at all.
    let region = Region::new(GLOBAL);
    let v = std::hint::black_box(vec![1u8; 16]);
    assert!(region.change().allocations >= 1);
    drop(v);

    let context = policygen::context();
    for n in [10, 1_000, 10_000] {
        let set = policygen::policy_set(n);
        for checks in [policygen::direct_checks(), policygen::profile_checks()] {
            let req = AuthzRequest {
                principal_arn: policygen::PRINCIPAL,
                action: "bedrock:InvokeModel",
                checks: &checks,
                context: &context,
            };
            // Warm up once (nothing is lazily initialised, but be sure), then count.
            assert!(set.evaluate(&req).is_allowed());
            let region = Region::new(GLOBAL);
            let mut allowed = 0;
            for _ in 0..100 {
                allowed += usize::from(std::hint::black_box(set.evaluate(&req)).is_allowed());
            }
            let stats = region.change();
            assert_eq!(allowed, 100);
            assert_eq!(
                (stats.allocations, stats.reallocations),
                (0, 0),
                "{n} statements, {} checks: {stats:?}",
                checks.len()
            );
        }
    }
}
