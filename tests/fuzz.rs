//! The fuzz harnesses (`fuzz/harness.rs`, also driven by cargo-fuzz) run as property tests: every
//! committed corpus file (seeds and regressions from crashes found) is replayed, then random inputs
//! grown from those seeds. `BEDROCK_GUARD_FUZZ_CASES` sets the number of random cases per target
//! (CI runs a larger, bounded number; see `.ci/run`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn cases() -> u32 {
    std::env::var("BEDROCK_GUARD_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

/// Inputs near the seeds: a seed with a few bytes overwritten, inserted or cut, or spliced with
/// another seed; plus plain random bytes.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let pick = prop::sample::select(seeds);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        (
            pick.clone(),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)
        )
            .prop_map(|(mut seed, edits)| {
                for (at, byte, how) in edits {
                    let i = if seed.is_empty() {
                        0
                    } else {
                        at.index(seed.len())
                    };
                    match how {
                        0 if !seed.is_empty() => seed[i] = byte,
                        1 => seed.insert(i, byte),
                        _ if !seed.is_empty() => {
                            seed.remove(i);
                        }
                        _ => seed.push(byte),
                    }
                }
                seed
            }),
        (
            pick.clone(),
            pick,
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>()
        )
            .prop_map(|(a, b, i, j)| {
                let mut out = a[..i.index(a.len() + 1).min(a.len())].to_vec();
                out.extend_from_slice(&b[j.index(b.len() + 1).min(b.len())..]);
                out
            }),
    ]
}

fn run(target: &str) {
    let (_, harness) = harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap();
    let seeds = corpus(target);
    assert!(!seeds.is_empty(), "fuzz/corpus/{target} has seeds");
    for seed in &seeds {
        harness(seed);
    }
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&mutated(seeds), |input| {
            harness(&input);
            Ok(())
        })
        .unwrap();
}

#[test]
fn classify() {
    run("classify");
}

#[test]
fn model_id() {
    run("model_id");
}

#[test]
fn policy() {
    run("policy");
}

#[test]
fn sigv4() {
    run("sigv4");
}

#[test]
fn eventstream() {
    run("eventstream");
}

#[test]
fn body_keys() {
    run("body_keys");
}

#[test]
fn the_sigv4_seed_is_a_valid_signature_and_tampering_breaks_it() {
    let seed =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/sigv4/seed-valid"))
            .unwrap();
    assert!(harness::sigv4_verifies(&seed));
    let mut tampered = seed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(!harness::sigv4_verifies(&tampered));
}

#[test]
fn every_target_has_a_test_and_a_cargo_fuzz_binary() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .unwrap();
    for (name, _) in harness::TARGETS {
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name}");
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("fuzz/fuzz_targets/{name}.rs"))
                .exists(),
            "{name}"
        );
    }
}
