//! The built-in per-model routing table, used when the control plane cannot be asked.
//!
//! Every row (`routes.rs`, 420 rows over 104 geographic profiles) is a (system-defined profile id,
//! source region, destination regions) triple read from the Amazon Bedrock User Guide on 2026-12-01:
//!
//! - "Supported Regions and models for inference profiles"
//!   (<https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html>), in the
//!   last version that still listed every profile with its "Source Regions | Destination Regions"
//!   table: `docs/bedrock/latest/userguide/inference-profiles-support.md` of the docs mirror
//!   `crowecawcaw/aws-docs-history`, commit `1c3c3958f496c70e28e9ccfed1845919e5177915`. The current
//!   page (same mirror, commit `0182ae78`; `c2hans/aws-docs` commit `2b828ab1`) keeps only the prose
//!   example ("if you call us.anthropic.claude-3-haiku-20240307-v1:0 from US East (Ohio), it can route
//!   requests to us-east-1, us-east-2, or us-west-2, but if you call it from US West (Oregon), it can
//!   route requests to only us-east-1 and us-west-2") and points to the model cards. It also says a
//!   geographic profile's destination list "will never change", so the older tables stay valid.
//! - The model cards' "Geo inference details" (`docs/bedrock/latest/userguide/model-card-*.md` of
//!   `c2hans/aws-docs`, commit `0cf87289f5b2143b6019ff35025a663af3b4ea95`, AWS's markdown export) for
//!   Claude Sonnet 4.5, Haiku 4.5, Sonnet 4.6, Opus 4.5, 4.6, 4.7, 4.8, Sonnet 4, Opus 4.1, 3.5 Haiku
//!   and 3 Haiku, Amazon Nova Pro and Nova 2 Lite. Where a card and the page both list a row they agree;
//!   the cards add 74 rows (Sonnet 4.6, Opus 4.6 to 4.8, `ap-southeast-6` sources of the `au.` Claude
//!   4.5 profiles). The Claude 3 Haiku and Sonnet 4.5 cards also list GovCloud source rows under their
//!   `us.` id; GovCloud is its own partition with its own `us-gov.` profiles, so those rows are not
//!   filed under `us.` (the `us-gov.` rows come from the page). The Claude Sonnet 5 card and Nova Pro's
//!   APAC section give no source/destination table.
//!
//! The three rows this table held before (Sonnet 4.5 in the US from us-east-1, Claude 3 Haiku from
//! us-east-2 and us-west-2) are among them, unchanged. Two rows do not list their own source region
//! (US Claude 3.5 Sonnet from us-east-2, US-GOV Claude Sonnet 4.5 from us-gov-east-1, as the page
//! prints them); classification checks the model in the source region anyway. `global.` profiles
//! are not here: their destinations are "Commercial AWS Regions", which classification checks as
//! the region-less model.
//! Any profile or source region not listed falls back to the per-prefix table in `classify`.

mod routes;

use routes::ROUTES;

use crate::classify::{partition_for_region, Lookup, RouteSource, Routing, WrapperKind};

/// When this table was last checked against the AWS documentation.
pub const TABLE_DATE: &str = "2026-12-01";

/// The destination regions of `profile_id` called from `source`, if the table knows them.
pub fn destinations(profile_id: &str, source: &str) -> Option<&'static [&'static str]> {
    ROUTES
        .binary_search_by(|(id, from, _)| (*id, *from).cmp(&(profile_id, source)))
        .ok()
        .map(|i| ROUTES[i].2)
}

/// [`Routing`] from the built-in table alone (`explain` without credentials, control plane off).
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinRouting;

impl Routing for BuiltinRouting {
    fn lookup(&self, region: &str, kind: WrapperKind, key: &str) -> Lookup {
        if kind != WrapperKind::SystemProfile {
            return Lookup::Unknown;
        }
        let Some(regions) = destinations(key, region) else {
            return Lookup::Unknown;
        };
        let Some((_, model)) = key.split_once('.') else {
            return Lookup::Unknown;
        };
        let partition = partition_for_region(region);
        Lookup::Models {
            arns: regions
                .iter()
                .map(|r| format!("arn:{partition}:bedrock:{r}::foundation-model/{model}"))
                .collect(),
            source: RouteSource::BuiltinModelTable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US3: &[&str] = &["us-east-1", "us-east-2", "us-west-2"];
    const EU6: &[&str] = &[
        "eu-central-1",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-3",
    ];

    /// Rows as the sources print them (see the module doc), and ids or regions they do not list.
    #[test]
    fn documented_routes() {
        let cases: &[(&str, &str, Option<&[&str]>)] = &[
            // "Geographic cross-Region inference": US Claude Sonnet 4.5 from us-east-1.
            (
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "us-east-1",
                Some(US3),
            ),
            // The page's prose example: Claude 3 Haiku from Ohio, then from Oregon.
            (
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                "us-east-2",
                Some(US3),
            ),
            (
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                "us-west-2",
                Some(&["us-east-1", "us-west-2"]),
            ),
            // Page table: from us-east-1 too, Claude 3 Haiku skips us-east-2.
            (
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                "us-east-1",
                Some(&["us-east-1", "us-west-2"]),
            ),
            // Page table: US Claude 3.5 Sonnet from us-east-2 routes to us-east-1 and us-west-2.
            (
                "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
                "us-east-2",
                Some(&["us-east-1", "us-west-2"]),
            ),
            // Page table and card: Canada and N. California add themselves.
            (
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "ca-central-1",
                Some(&["ca-central-1", "us-east-1", "us-east-2", "us-west-2"]),
            ),
            (
                "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                "us-west-1",
                Some(&["us-east-1", "us-east-2", "us-west-1", "us-west-2"]),
            ),
            // Page table: Pegasus from us-east-1 may reach us-west-1.
            (
                "us.twelvelabs.pegasus-1-2-v1:0",
                "us-east-1",
                Some(&["us-east-1", "us-east-2", "us-west-1", "us-west-2"]),
            ),
            // Page table: US-GOV Claude Sonnet 4.5 from us-gov-east-1 routes to us-gov-west-1 only.
            (
                "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "us-gov-east-1",
                Some(&["us-gov-west-1"]),
            ),
            (
                "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "eu-west-1",
                Some(EU6),
            ),
            (
                "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "eu-west-2",
                Some(&[
                    "eu-central-1",
                    "eu-north-1",
                    "eu-south-1",
                    "eu-south-2",
                    "eu-west-1",
                    "eu-west-2",
                    "eu-west-3",
                ]),
            ),
            (
                "eu.anthropic.claude-3-haiku-20240307-v1:0",
                "eu-west-1",
                Some(&["eu-central-1", "eu-west-1", "eu-west-3"]),
            ),
            // Page table: Tel Aviv is a source of EU Claude Sonnet 4 and may be a destination.
            (
                "eu.anthropic.claude-sonnet-4-20250514-v1:0",
                "il-central-1",
                Some(&[
                    "eu-central-1",
                    "eu-north-1",
                    "eu-south-1",
                    "eu-south-2",
                    "eu-west-1",
                    "eu-west-3",
                    "il-central-1",
                ]),
            ),
            (
                "jp.anthropic.claude-haiku-4-5-20251001-v1:0",
                "ap-northeast-3",
                Some(&["ap-northeast-1", "ap-northeast-3"]),
            ),
            // Model card: the New Zealand source of AU Claude Haiku 4.5.
            (
                "au.anthropic.claude-haiku-4-5-20251001-v1:0",
                "ap-southeast-6",
                Some(&["ap-southeast-2", "ap-southeast-4", "ap-southeast-6"]),
            ),
            // Model card: Claude Opus 4.7's AU profile has no New Zealand source.
            ("au.anthropic.claude-opus-4-7", "ap-southeast-6", None),
            (
                "ca.amazon.nova-lite-v1:0",
                "ca-west-1",
                Some(&["ca-central-1", "ca-west-1"]),
            ),
            // Not a source region of that profile, and an unknown profile.
            (
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                "us-west-1",
                None,
            ),
            ("us.anthropic.claude-opus-9-v1:0", "us-east-1", None),
            // Global profiles route to "Commercial AWS Regions": not in this table.
            (
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "us-east-1",
                None,
            ),
        ];
        for (id, source, expected) in cases {
            assert_eq!(destinations(id, source), *expected, "{id} from {source}");
        }
        assert_eq!(
            BuiltinRouting.lookup(
                "us-west-2",
                WrapperKind::SystemProfile,
                "us.anthropic.claude-3-haiku-20240307-v1:0"
            ),
            Lookup::Models {
                arns: vec![
                    "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0".into(),
                    "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0".into(),
                ],
                source: RouteSource::BuiltinModelTable,
            }
        );
        assert_eq!(
            BuiltinRouting.lookup(
                "us-gov-east-1",
                WrapperKind::SystemProfile,
                "us-gov.anthropic.claude-3-haiku-20240307-v1:0"
            ),
            Lookup::Models {
                arns: vec![
                    "arn:aws-us-gov:bedrock:us-gov-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0".into(),
                    "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0".into(),
                ],
                source: RouteSource::BuiltinModelTable,
            }
        );
        assert_eq!(
            BuiltinRouting.lookup("us-east-1", WrapperKind::PromptRouter, "arn:x"),
            Lookup::Unknown
        );
    }

    /// The regions a prefix's profiles are documented with, as sources and as destinations: the
    /// prefix's own geography, plus the two outside it AWS lists (il-central-1 for `eu.`,
    /// me-central-1 for `apac.`; see e.g. EU Claude Sonnet 4 and APAC Nova Lite on the page).
    /// The per-prefix table is the fail-closed fallback for profiles this table does not know: it must
    /// cover every region AWS documents for the prefix, or a profile called from such a region would
    /// skip that region's check.
    #[test]
    fn prefix_table_covers_every_documented_region() {
        let prefixes = crate::classify::InferenceProfileTable::builtin();
        for &(id, source, to) in ROUTES {
            let (prefix, _) = id.split_once('.').expect("a profile id has a prefix");
            let regions = prefixes
                .regions(prefix)
                .unwrap_or_else(|| panic!("{id}: prefix {prefix} not in the prefix table"));
            for region in std::iter::once(&source).chain(to) {
                assert!(
                    regions.iter().any(|r| r == region),
                    "{id} from {source}: {region} missing from the {prefix} prefix table"
                );
            }
        }
    }

    fn in_geography(prefix: &str, region: &str) -> bool {
        match prefix {
            "us" => {
                (region.starts_with("us-") && !region.starts_with("us-gov-"))
                    || region.starts_with("ca-")
            }
            "us-gov" => region.starts_with("us-gov-"),
            "eu" => region.starts_with("eu-") || region == "il-central-1",
            "apac" => region.starts_with("ap-") || region == "me-central-1",
            "jp" => matches!(region, "ap-northeast-1" | "ap-northeast-3"),
            "au" => matches!(
                region,
                "ap-southeast-2" | "ap-southeast-4" | "ap-southeast-6"
            ),
            "ca" => region.starts_with("ca-"),
            _ => false,
        }
    }

    /// `xx-name-N` or `xx-gov-name-N`.
    fn is_region(region: &str) -> bool {
        let parts: Vec<&str> = region.split('-').collect();
        let (geo, rest) = match parts.as_slice() {
            [geo, "gov", rest @ ..] | [geo, rest @ ..] => (*geo, rest),
            [] => return false,
        };
        geo.len() == 2
            && geo.bytes().all(|b| b.is_ascii_lowercase())
            && matches!(rest, [name, n] if !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase())
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit()))
    }

    /// Rows whose source region is not among its destinations, as the page's tables print them
    /// (classification still checks the model in the source region, see `classify::resources`).
    const SOURCE_NOT_A_DESTINATION: &[(&str, &str)] = &[
        ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "us-east-2"),
        (
            "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us-gov-east-1",
        ),
    ];

    #[test]
    fn every_row_is_well_formed() {
        assert!(!ROUTES.is_empty());
        for pair in ROUTES.windows(2) {
            let (a, b) = ((pair[0].0, pair[0].1), (pair[1].0, pair[1].1));
            assert!(a < b, "rows out of order or duplicated: {a:?} then {b:?}");
        }
        for &(id, source, to) in ROUTES {
            let (prefix, model) = id.split_once('.').expect("a profile id has a prefix");
            assert!(
                !model.is_empty() && !model.contains(char::is_whitespace),
                "{id}"
            );
            assert!(
                in_geography(prefix, source),
                "{id}: source {source} outside the {prefix} geography"
            );
            assert!(is_region(source), "{id}: source {source:?}");
            assert!(!to.is_empty(), "{id} from {source}: no destination");
            for pair in to.windows(2) {
                assert!(
                    pair[0] < pair[1],
                    "{id} from {source}: {to:?} unsorted or repeated"
                );
            }
            for region in to {
                assert!(is_region(region), "{id} from {source}: {region:?}");
                assert!(
                    in_geography(prefix, region),
                    "{id} from {source}: destination {region} outside the {prefix} geography"
                );
            }
            assert_eq!(
                to.contains(&source),
                !SOURCE_NOT_A_DESTINATION.contains(&(id, source)),
                "{id} from {source}: {to:?}"
            );
            assert_eq!(destinations(id, source), Some(to), "{id} from {source}");
        }
    }
}
