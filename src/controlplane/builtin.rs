//! The built-in per-model routing table, used when the control plane cannot be asked.
//!
//! Source: Amazon Bedrock User Guide, "Supported Regions and models for inference profiles"
//! (inference-profiles-support.html: "if you call us.anthropic.claude-3-haiku-20240307-v1:0 from US
//! East (Ohio), it can route requests to us-east-1, us-east-2, or us-west-2, but if you make the
//! call from US West (Oregon), it can route requests to only us-east-1 and us-west-2") and
//! "Geographic cross-Region inference" (geographic-cross-region-inference.html: US Anthropic Claude
//! Sonnet 4.5 from us-east-1 routes to us-east-1, us-east-2 and us-west-2). Read on 2026-12-01.
//!
//! Only routes AWS documents in prose are listed. Any other profile falls back to the per-prefix
//! table in `classify` (every region the prefix may cover): a superset, so a deny on any of them
//! still applies, at the price of refusing allow-lists that name only the real destinations.

use crate::classify::{partition_for_region, Lookup, RouteSource, Routing, WrapperKind};

/// When this table was last checked against the AWS documentation.
pub const TABLE_DATE: &str = "2026-12-01";

/// (profile id, source region, destination regions).
const ROUTES: &[(&str, &str, &[&str])] = &[
    (
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us-east-1",
        &["us-east-1", "us-east-2", "us-west-2"],
    ),
    (
        "us.anthropic.claude-3-haiku-20240307-v1:0",
        "us-east-2",
        &["us-east-1", "us-east-2", "us-west-2"],
    ),
    (
        "us.anthropic.claude-3-haiku-20240307-v1:0",
        "us-west-2",
        &["us-east-1", "us-west-2"],
    ),
];

/// The destination regions of `profile_id` called from `source`, if the table knows them.
pub fn destinations(profile_id: &str, source: &str) -> Option<&'static [&'static str]> {
    ROUTES
        .iter()
        .find(|(id, from, _)| *id == profile_id && *from == source)
        .map(|(_, _, to)| *to)
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

    #[test]
    fn documented_routes() {
        let cases: &[(&str, &str, Option<&[&str]>)] = &[
            (
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "us-east-1",
                Some(&["us-east-1", "us-east-2", "us-west-2"]),
            ),
            (
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                "us-west-2",
                Some(&["us-east-1", "us-west-2"]),
            ),
            (
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                "us-west-1",
                None,
            ),
            (
                "eu.anthropic.claude-3-haiku-20240307-v1:0",
                "eu-west-1",
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
            BuiltinRouting.lookup("us-east-1", WrapperKind::PromptRouter, "arn:x"),
            Lookup::Unknown
        );
    }
}
