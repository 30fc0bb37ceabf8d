//! Table-driven cases for every evaluation rule the engine implements, each with the AWS documentation
//! it reproduces. Abbreviations used in the source comments:
//!
//! - [EL]   IAM User Guide, "IAM JSON policy elements: Action / NotAction / Resource / NotResource"
//!   (docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_*.html)
//! - [OPS]  IAM User Guide, "IAM JSON policy elements: Condition operators"
//!   (reference_policies_elements_condition_operators.html)
//! - [MV]   IAM User Guide, "Single-valued vs. multivalued context keys"
//!   (reference_policies_condition-single-vs-multi-valued-context-keys.html)
//! - [VAR]  IAM User Guide, "IAM policy elements: Variables and tags" (reference_policies_variables.html)
//! - [EVAL] IAM User Guide, "Policy evaluation logic" (reference_policies_evaluation-logic.html)
//! - [SCP]  AWS Organizations User Guide, "SCP evaluation" (orgs_manage_policies_scps_evaluation.html)
//! - [PB]   IAM User Guide, "Permissions boundaries for IAM entities" (access_policies_boundaries.html)
//! - [BR]   Amazon Bedrock User Guide, "Prerequisites for inference profiles" and the Service
//!   Authorization Reference for Amazon Bedrock (condition key bedrock:InferenceProfileArn)
//! - [ARN]  IAM User Guide, "IAM identifiers" / Resource element: ARN parts, case-sensitive, `*` and `?`
//! - [RESW] IAM User Guide, "IAM JSON policy elements: Resource", section "Using wildcards in resource
//!   ARNs" (reference_policies_elements_resource.html#reference_policies_elements_resource_wildcards):
//!   "You can use wildcard characters (* and ?) within the individual segments of an ARN (the parts
//!   separated by colons) [...] If the * wildcard is the last character of a resource ARN segment, it
//!   can expand to match beyond the colon boundaries."
//! - [GRAM] IAM User Guide, "Grammar of the IAM JSON policy language" (reference_policies_grammar.html):
//!   `<effect_block> = "Effect" : ("Allow" | "Deny")`, `<condition_block> = "Condition" : { <condition_map> }`,
//!   `<action_string> = "<service-namespace>:<action-name>"`, a single value may replace a one-element list.
//! - [IAMV] IAM's own answers to `CreatePolicy`, as recorded against AWS in the conformance table of
//!   getmoto/moto `tests/test_iam/test_iam_policies.py` (`valid_policy_documents`,
//!   `invalid_policy_document_test_cases`): the shapes IAM stores and the exact messages of the ones it
//!   refuses, which the User Guide does not list. The ARN padding is read from IAM's own message
//!   (`a:b:cadfsdf` is reported as `"arn:b:cadfsdf:*:*:*"`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::sync::Arc;

use bedrock_guard::policy::{
    parse, AuthzRequest, Decision, Identity, Organization, PolicySet, PolicySource, Principal,
    RequestContext, ResourceCheck,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Allowed.
    A,
    /// Explicit deny.
    E,
    /// Implicit deny (no Allow).
    I,
}
use Want::*;

const FM: &str =
    "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0";
const FM_NOVA: &str = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0";
const PROFILE: &str = "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const INVOKE: &str = "bedrock:InvokeModel";
const ALLOW_ALL: &str = r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#;

fn set(version: &str, statements: &str) -> PolicySet {
    let text = format!(r#"{{"Version": "{version}", "Statement": [{statements}]}}"#);
    PolicySet::from_sources(&[PolicySource {
        name: "p".into(),
        origin: "p.json".into(),
        text,
    }])
    .unwrap_or_else(|e| panic!("{e}\n{statements}"))
}

/// `key=value` pairs; `;` separates the values of a multi-valued key.
fn context(pairs: &[(&str, &str)]) -> RequestContext {
    let mut context = RequestContext::new();
    for (key, value) in pairs {
        context.set_many(
            key.to_string(),
            value.split(';').map(str::to_owned).collect(),
        );
    }
    context
}

fn outcome(d: &Decision) -> Want {
    if d.is_allowed() {
        A
    } else if d.is_explicit_deny() {
        E
    } else {
        I
    }
}

type Case = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    Want,
);

fn check_cases(version: &str, cases: &[Case]) {
    let mut failures = Vec::new();
    for (i, &(statements, action, arns, ctx, want)) in cases.iter().enumerate() {
        let set = set(version, statements);
        let checks: Vec<ResourceCheck> = arns.iter().map(|a| ResourceCheck::new(*a)).collect();
        let context = context(ctx);
        let got = outcome(&set.evaluate(&AuthzRequest {
            principal_arn: "arn:aws:iam::111122223333:role/app",
            action,
            checks: &checks,
            context: &context,
        }));
        if got != want {
            failures.push(format!("case {i}: want {want:?}, got {got:?}: {statements} / {action} / {arns:?} / {ctx:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn action_and_resource_matching() {
    let cases: &[Case] = &[
        // [EL Action] an action matches by name.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "*"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [EL Action] action names are case-insensitive.
        (
            r#"{"Effect": "Allow", "Action": "BEDROCK:invokemodel", "Resource": "*"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [EL Action] the whole name must match: InvokeModel is not InvokeModelWithResponseStream.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "*"}"#,
            "bedrock:InvokeModelWithResponseStream",
            &[FM],
            &[],
            I,
        ),
        // [EL Action] `*` matches any run of characters.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:Invoke*", "Resource": "*"}"#,
            "bedrock:InvokeModelWithResponseStream",
            &[FM],
            &[],
            A,
        ),
        // [EL Action] `?` matches exactly one character.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:InvokeMode?", "Resource": "*"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [EL Action] `?` never matches zero characters.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:InvokeModel?", "Resource": "*"}"#,
            INVOKE,
            &[FM],
            &[],
            I,
        ),
        // [EL Action] `"*"` is every action of every service.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [EL Action] another service's actions do not apply.
        (
            r#"{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}"#,
            INVOKE,
            &[FM],
            &[],
            I,
        ),
        // [EL NotAction] Allow + NotAction allows every action not listed.
        (
            r#"{"Effect": "Allow", "NotAction": "bedrock:Create*", "Resource": "*"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [EL NotAction] ... and not the listed ones.
        (
            r#"{"Effect": "Allow", "NotAction": "bedrock:Create*", "Resource": "*"}"#,
            "bedrock:CreateModelCustomizationJob",
            &[FM],
            &[],
            I,
        ),
        // [EL NotAction] Deny + NotAction denies every action not listed.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "NotAction": "bedrock:InvokeModel*", "Resource": "*"}"#,
            "bedrock:CountTokens",
            &[FM],
            &[],
            E,
        ),
        // [EL NotAction] ... and leaves the listed ones to the other statements.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "NotAction": "bedrock:InvokeModel*", "Resource": "*"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [EL Resource] an exact ARN matches.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [ARN] resource matching is case-sensitive.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:*::foundation-model/Anthropic.*"}"#,
            INVOKE,
            &[FM],
            &[],
            I,
        ),
        // [EL Resource] `*` matches the empty account of a foundation-model ARN.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:*:*:foundation-model/*"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [EL Resource] an empty account in the pattern only matches an empty account.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:*::inference-profile/*"}"#,
            INVOKE,
            &[PROFILE],
            &[],
            I,
        ),
        // [ARN] a `*` in one of the first five parts does not reach into the next part.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:*:foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}"#,
            INVOKE,
            &[FM],
            &[],
            I,
        ),
        // [ARN] the sixth part holds `:` (model versions) and is matched as a whole.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [ARN] a `*` in the sixth part spans `:` and `/`.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:us-east-1::*0"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [EL Resource] `"*"` is every resource.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"}"#,
            INVOKE,
            &[PROFILE],
            &[],
            A,
        ),
        // [ARN] `?` in a part matches one character.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:us-east-?::foundation-model/*"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [ARN] wildcards work in the partition too.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:*:bedrock:*::foundation-model/anthropic.*"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [EL NotResource] Allow + NotResource allows every resource not listed.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "NotResource": "arn:aws:bedrock:*::foundation-model/deepseek.*"}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [EL NotResource] ... and not the listed ones.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "NotResource": "arn:aws:bedrock:*::foundation-model/anthropic.*"}"#,
            INVOKE,
            &[FM],
            &[],
            I,
        ),
        // [EL NotResource] Deny + NotResource denies everything not listed ("deny all but these").
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "bedrock:*", "NotResource": "arn:aws:bedrock:*::foundation-model/amazon.*"}"#,
            INVOKE,
            &[FM],
            &[],
            E,
        ),
        // [EL NotResource] ... and leaves the listed ones alone.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "bedrock:*", "NotResource": "arn:aws:bedrock:*::foundation-model/amazon.*"}"#,
            INVOKE,
            &[FM_NOVA],
            &[],
            A,
        ),
        // [EL Resource] a non-ARN request resource (`*`, list operations) only matches `"*"`.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:*:*:*:*:*"}"#,
            "bedrock:ListAsyncInvokes",
            &["*"],
            &[],
            I,
        ),
    ];
    check_cases("2012-10-17", cases);
}

#[test]
fn evaluation_logic() {
    let cases: &[Case] = &[
        // [EVAL] by default every request is implicitly denied.
        (
            r#"{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}"#,
            INVOKE,
            &[FM],
            &[],
            I,
        ),
        // [EVAL] an explicit Deny overrides any Allow.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "bedrock:*", "Resource": "*"}"#,
            INVOKE,
            &[FM],
            &[],
            E,
        ),
        // [EVAL] statement order does not matter: a Deny before the Allow still wins.
        (
            r#"{"Effect": "Deny", "Action": "bedrock:*", "Resource": "*"}, {"Effect": "Allow", "Action": "*", "Resource": "*"}"#,
            INVOKE,
            &[FM],
            &[],
            E,
        ),
        // [EVAL] an Allow whose condition does not hold does not allow.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:RequestedRegion", "us-east-1")],
            I,
        ),
        // [EVAL] a Deny whose condition does not hold does not deny.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:RequestedRegion", "us-east-1")],
            A,
        ),
        // [BR] every resource of a profile call must be allowed: the profile alone is not enough.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:*:*:inference-profile/*"}"#,
            INVOKE,
            &[PROFILE, FM],
            &[],
            I,
        ),
        // [BR] ... and with both allowed, the call is allowed.
        (
            r#"{"Effect": "Allow", "Action": "bedrock:*", "Resource": ["arn:aws:bedrock:*:*:inference-profile/*", "arn:aws:bedrock:*::foundation-model/*"]}"#,
            INVOKE,
            &[PROFILE, FM],
            &[],
            A,
        ),
        // [BR] a Deny on any one resource denies the call.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:*::foundation-model/anthropic.*"}"#,
            INVOKE,
            &[PROFILE, FM],
            &[],
            E,
        ),
        // [EVAL] nothing to authorize against: fail closed.
        (ALLOW_ALL, INVOKE, &[], &[], I),
    ];
    check_cases("2012-10-17", cases);
}

#[test]
fn condition_operators() {
    let region = &[("aws:RequestedRegion", "us-east-1")];
    let cases: &[Case] = &[
        // [OPS String] StringEquals: exact match.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}"#,
            INVOKE,
            &[FM],
            region,
            A,
        ),
        // [OPS String] StringEquals is case-sensitive.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "US-EAST-1"}}}"#,
            INVOKE,
            &[FM],
            region,
            I,
        ),
        // [OPS String] StringEqualsIgnoreCase ignores case.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEqualsIgnoreCase": {"aws:RequestedRegion": "US-EAST-1"}}}"#,
            INVOKE,
            &[FM],
            region,
            A,
        ),
        // [OPS String] StringNotEquals holds when the key is missing.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "ml"}}}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [OPS String] StringNotEquals fails when the value is listed.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}}"#,
            INVOKE,
            &[FM],
            region,
            I,
        ),
        // [OPS String] StringLike: `*` and `?` wildcards.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:RequestedRegion": "us-*-?"}}}"#,
            INVOKE,
            &[FM],
            region,
            A,
        ),
        // [OPS String] StringNotLike holds when no pattern matches.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringNotLike": {"aws:RequestedRegion": "eu-*"}}}"#,
            INVOKE,
            &[FM],
            region,
            A,
        ),
        // [OPS] several values for one key are ORed.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}}"#,
            INVOKE,
            &[FM],
            region,
            A,
        ),
        // [OPS] several keys under one operator are ANDed.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1", "aws:PrincipalTag/team": "ml"}}}"#,
            INVOKE,
            &[FM],
            region,
            I,
        ),
        // [OPS] several operators are ANDed.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}, "StringLike": {"aws:PrincipalArn": "*:role/app"}}}"#,
            INVOKE,
            &[FM],
            &[
                ("aws:RequestedRegion", "us-east-1"),
                ("aws:PrincipalArn", "arn:aws:iam::111122223333:role/app"),
            ],
            A,
        ),
        // [OPS] condition key names are case-insensitive.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"AWS:requestedREGION": "us-east-1"}}}"#,
            INVOKE,
            &[FM],
            region,
            A,
        ),
        // [OPS] a positive operator on a missing key is false.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ml"}}}"#,
            INVOKE,
            &[FM],
            &[],
            I,
        ),
        // [OPS IfExists] ...IfExists on a missing key is true.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEqualsIfExists": {"aws:PrincipalTag/team": "ml"}}}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [OPS IfExists] ...IfExists on a present key compares as usual.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEqualsIfExists": {"aws:PrincipalTag/team": "ml"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:PrincipalTag/team", "ops")],
            I,
        ),
        // [OPS Null] Null true holds when the key is missing.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Null": {"bedrock:InferenceProfileArn": "true"}}}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [OPS Null] Null false holds when the key is present.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Null": {"aws:RequestedRegion": "false"}}}"#,
            INVOKE,
            &[FM],
            region,
            A,
        ),
        // [OPS Null] Null true fails when the key is present.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Null": {"aws:RequestedRegion": "true"}}}"#,
            INVOKE,
            &[FM],
            region,
            I,
        ),
        // [MV] ForAnyValue on a missing key is false.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "team"}}}"#,
            INVOKE,
            &[FM],
            &[],
            I,
        ),
        // [MV] ForAllValues on a missing key is true (vacuously).
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": "team"}}}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [MV] ForAllValues: every request value must match some policy value.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost"]}}}"#,
            INVOKE,
            &[FM],
            &[("aws:TagKeys", "team;cost")],
            A,
        ),
        // [MV] ForAllValues: one value outside the list fails.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost"]}}}"#,
            INVOKE,
            &[FM],
            &[("aws:TagKeys", "team;owner")],
            I,
        ),
        // [MV] ForAnyValue: one matching value is enough.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "owner"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:TagKeys", "team;owner")],
            A,
        ),
        // [OPS Numeric] NumericLessThan compares numbers (request value on the left).
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:MultiFactorAuthAge", "60")],
            A,
        ),
        // [OPS Numeric] NumericGreaterThanEquals includes equality; decimals are numbers.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericGreaterThanEquals": {"aws:MultiFactorAuthAge": "60.0"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:MultiFactorAuthAge", "60")],
            A,
        ),
        // [OPS Numeric] a request value that is not a number matches nothing.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericEquals": {"aws:MultiFactorAuthAge": "60"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:MultiFactorAuthAge", "sixty")],
            I,
        ),
        // [OPS Numeric] NumericNotEquals is negated: true when the key is missing.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericNotEquals": {"aws:MultiFactorAuthAge": "60"}}}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        // [OPS Date] DateGreaterThan with ISO 8601 values.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2025-01-01T00:00:00Z"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:CurrentTime", "2026-11-29T03:00:00Z")],
            A,
        ),
        // [OPS Date] DateLessThan: a policy value in epoch seconds against an ISO request value.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "1735689600"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:CurrentTime", "2026-11-29T03:00:00Z")],
            I,
        ),
        // [OPS Date] the same instant written as a date with an offset and as epoch seconds is equal.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateEquals": {"aws:EpochTime": "2025-01-01T02:00:00+02:00"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:EpochTime", "1735689600")],
            A,
        ),
        // [OPS Date] every policy value counts, not only the first (ORed).
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateEquals": {"aws:CurrentTime": ["2020-01-01", "2025-01-01"]}}}"#,
            INVOKE,
            &[FM],
            &[("aws:CurrentTime", "2025-01-01T00:00:00Z")],
            A,
        ),
        // [OPS IP] IpAddress with an IPv4 CIDR.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:SourceIp", "203.0.113.7")],
            A,
        ),
        // [OPS IP] IpAddress with an IPv6 CIDR.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:SourceIp", "2001:db8:1::5")],
            A,
        ),
        // [OPS IP] NotIpAddress fails inside the range.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}}}"#,
            INVOKE,
            &[FM],
            &[("aws:SourceIp", "10.1.2.3")],
            I,
        ),
        // [OPS IP] an IPv4 address is not in an IPv6 range.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "::/0"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:SourceIp", "10.1.2.3")],
            I,
        ),
        // [OPS Bool] Bool compares true/false (JSON booleans accepted).
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": false}}}"#,
            INVOKE,
            &[FM],
            &[("aws:SecureTransport", "false")],
            A,
        ),
        // [OPS Binary] BinaryEquals compares base-64 values.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"BinaryEquals": {"aws:SomeBlob": "QmluYXJ5"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:SomeBlob", "QmluYXJ5")],
            A,
        ),
        // [OPS ARN] ArnLike compares part by part.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app*"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:PrincipalArn", "arn:aws:iam::111122223333:role/app-1")],
            A,
        ),
        // [OPS ARN] in ArnLike a `*` never crosses a part boundary.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:app"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:PrincipalArn", "arn:aws:iam::111122223333:role/app")],
            I,
        ),
        // [OPS ARN] ArnNotEquals is negated: true when the key is missing.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ArnNotEquals": {"aws:SourceArn": "arn:aws:s3:::b"}}}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
    ];
    check_cases("2012-10-17", cases);
}

#[test]
fn policy_variables() {
    let team_ml = &[("aws:PrincipalTag/team", "ml")];
    let cases: &[Case] = &[
        // [VAR] a variable in the resource part takes the request's value.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:bedrock:*:*:application-inference-profile/${aws:PrincipalTag/team}-*"}"#,
            INVOKE,
            &["arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/ml-1"],
            team_ml,
            A,
        ),
        // [VAR] a variable without a value makes the entry match nothing.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:bedrock:*:*:application-inference-profile/${aws:PrincipalTag/team}-*"}"#,
            INVOKE,
            &["arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/ml-1"],
            &[],
            I,
        ),
        // [VAR] a default value applies when the key is missing.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:bedrock:*:*:application-inference-profile/${aws:PrincipalTag/team, 'shared'}-*"}"#,
            INVOKE,
            &["arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/shared-1"],
            &[],
            A,
        ),
        // [VAR] in condition values (StringLike).
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/${aws:PrincipalTag/team}-*"}}}"#,
            INVOKE,
            &[FM],
            &[
                ("aws:PrincipalTag/team", "ml"),
                ("aws:PrincipalArn", "arn:aws:iam::1:role/ml-app"),
            ],
            A,
        ),
        // [VAR] `${*}` is a literal `*`, not a wildcard.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:PrincipalTag/team": "${*}"}}}"#,
            INVOKE,
            &[FM],
            team_ml,
            I,
        ),
        // [VAR] ... and matches a literal `*`.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:PrincipalTag/team": "${*}"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:PrincipalTag/team", "*")],
            A,
        ),
        // [VAR] a substituted value is literal: a tag `*` does not become a wildcard.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:bedrock:*::foundation-model/${aws:PrincipalTag/team}"}"#,
            INVOKE,
            &[FM],
            &[("aws:PrincipalTag/team", "*")],
            I,
        ),
        // [VAR] StringEquals with a variable compares against the substituted text.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/project": "${aws:PrincipalTag/team}"}}}"#,
            INVOKE,
            &[FM],
            &[
                ("aws:PrincipalTag/team", "ml"),
                ("aws:PrincipalTag/project", "ml"),
            ],
            A,
        ),
    ];
    check_cases("2012-10-17", cases);
    // [VAR] in Version 2008-10-17 `${...}` is literal text.
    check_cases(
        "2008-10-17",
        &[(
            r#"{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:bedrock:*:*:application-inference-profile/${aws:PrincipalTag/team}"}"#,
            INVOKE,
            &["arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/ml"],
            &[("aws:PrincipalTag/team", "ml")],
            I,
        )],
    );
}

#[test]
fn check_level_keys() {
    // [BR] bedrock:InferenceProfileArn is set on the foundation-model checks reached through a profile,
    // so "only through inference profiles" is a Deny with Null on it.
    let set = set(
        "2012-10-17",
        r#"{"Effect": "Allow", "Action": "*", "Resource": "*"},
           {"Effect": "Deny", "Action": "bedrock:InvokeModel*", "Resource": "arn:aws:bedrock:*::foundation-model/*",
            "Condition": {"Null": {"bedrock:InferenceProfileArn": "true"}}}"#,
    );
    let context = RequestContext::new();
    let decide = |checks: &[ResourceCheck]| {
        outcome(&set.evaluate(&AuthzRequest {
            principal_arn: "arn:aws:iam::111122223333:role/app",
            action: INVOKE,
            checks,
            context: &context,
        }))
    };
    assert_eq!(decide(&[ResourceCheck::new(FM)]), E);
    assert_eq!(
        decide(&[
            ResourceCheck::new(PROFILE),
            ResourceCheck::new(FM).with_context("bedrock:InferenceProfileArn", PROFILE)
        ]),
        A
    );
}

// --- layers -------------------------------------------------------------------------------------------

fn layer(statements: &str) -> Option<Arc<PolicySet>> {
    Some(Arc::new(set("2012-10-17", statements)))
}

const FULL: &str = r#"{"Sid": "FullAWSAccess", "Effect": "Allow", "Action": "*", "Resource": "*"}"#;
const DENY_DEEPSEEK: &str = r#"{"Sid": "DenyDeepSeek", "Effect": "Deny", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:*::foundation-model/deepseek.*"}"#;
const ONLY_ANTHROPIC: &str = r#"{"Sid": "OnlyAnthropic", "Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:*::foundation-model/anthropic.*"}"#;
const FM_DEEPSEEK: &str = "arn:aws:bedrock:us-east-1::foundation-model/deepseek.r1-v1:0";
const ACCOUNT: &str = "111122223333";

/// root (FULL + DENY_DEEPSEEK) -> ou-a (FULL) -> ou-b (`ou_b`) -> account (`account`).
fn org(ou_b: &str, account: &str) -> Organization {
    let mut org = Organization::new(
        Some("o-example".into()),
        layer(&format!("{FULL}, {DENY_DEEPSEEK}")),
    );
    org.add_ou("ou-a", None, layer(FULL)).unwrap();
    org.add_ou("ou-b", Some("ou-a"), layer(ou_b)).unwrap();
    org.add_account(ACCOUNT, Some("ou-b"), layer(account))
        .unwrap();
    org.validate().unwrap();
    org
}

fn principal(org: &Organization, identity: Identity, boundary: Option<&str>) -> Principal {
    Principal::new("app", "arn:aws:iam::111122223333:role/app", identity)
        .with_account(
            Some(ACCOUNT),
            org.id.as_deref(),
            org.scp_layers(ACCOUNT).unwrap(),
        )
        .with_boundary(boundary.and_then(layer))
}

fn decide(p: &Principal, arn: &str) -> Decision {
    let checks = [ResourceCheck::new(arn)];
    let mut context = RequestContext::new();
    p.fill_context(&mut context);
    p.evaluate(&AuthzRequest {
        principal_arn: p.arn(),
        action: INVOKE,
        checks: &checks,
        context: &context,
    })
}

fn identity(statements: &str) -> Identity {
    Identity::Policies(Arc::new(set("2012-10-17", statements)))
}

#[test]
fn organisation_layers() {
    // (ou-b SCPs, account SCPs, identity, boundary, resource, want, denial message fragment)
    type OrgCase = (
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        Want,
        &'static str,
    );
    let cases: &[OrgCase] = &[
        // [SCP] a Deny in the root's SCPs denies every account below it.
        (FULL, FULL, Some(FULL), None, FM_DEEPSEEK, E, "with an explicit deny in a service control policy: p#DenyDeepSeek"),
        // [SCP] every level must allow: an OU whose SCPs do not allow denies.
        (ONLY_ANTHROPIC, FULL, Some(FULL), None, FM_NOVA, I, "because no service control policy allows the bedrock:InvokeModel action: SCPs at OU ou-b"),
        // [SCP] all levels allow and the identity policy allows: allowed.
        (ONLY_ANTHROPIC, FULL, Some(FULL), None, FM, A, ""),
        // [SCP] the account level is a level too.
        (FULL, ONLY_ANTHROPIC, Some(FULL), None, FM_NOVA, I, "SCPs at account 111122223333"),
        // [SCP] a Deny at the account level denies.
        (FULL, r#"{"Sid": "AcctDeny", "Effect": "Deny", "Action": "*", "Resource": "*"}, {"Effect": "Allow", "Action": "*", "Resource": "*"}"#, Some(FULL), None, FM, E, "service control policy: p#AcctDeny"),
        // [EVAL] SCPs allow, identity policies do not: implicit deny in the identity layer.
        (FULL, FULL, Some(ONLY_ANTHROPIC), None, FM_NOVA, I, "because no identity-based policy allows the bedrock:InvokeModel action"),
        // [EVAL] an identity-based Deny.
        (FULL, FULL, Some(r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Sid": "NoNova", "Effect": "Deny", "Action": "*", "Resource": "arn:aws:bedrock:*::foundation-model/amazon.*"}"#), None, FM_NOVA, E, "with an explicit deny in an identity-based policy: p#NoNova"),
        // [PB] a boundary that does not allow denies, whatever the identity policies allow.
        (FULL, FULL, Some(FULL), Some(ONLY_ANTHROPIC), FM_NOVA, I, "because no permissions boundary allows the bedrock:InvokeModel action"),
        // [PB] a boundary that allows lets the identity policies decide.
        (FULL, FULL, Some(FULL), Some(ONLY_ANTHROPIC), FM, A, ""),
        // [PB] a Deny in the boundary is an explicit deny.
        (FULL, FULL, Some(FULL), Some(r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Sid": "BDeny", "Effect": "Deny", "Action": "*", "Resource": "arn:aws:bedrock:*::foundation-model/amazon.*"}"#), FM_NOVA, E, "with an explicit deny in a permissions boundary: p#BDeny"),
        // [SCP] an identity `*` cannot grant what an SCP level does not (SCPs never grant).
        (ONLY_ANTHROPIC, FULL, Some(FULL), None, FM_NOVA, I, "service control policy"),
        // Sidecar (no identity layer, chosen in config): the SCPs alone decide.
        (ONLY_ANTHROPIC, FULL, None, None, FM, A, ""),
        // Sidecar: ... and they still deny.
        (ONLY_ANTHROPIC, FULL, None, None, FM_NOVA, I, "SCPs at OU ou-b"),
    ];
    for (i, &(ou_b, account, id, boundary, arn, want, fragment)) in cases.iter().enumerate() {
        let org = org(ou_b, account);
        let identity = id.map_or(Identity::Unrestricted, identity);
        let p = principal(&org, identity, boundary);
        let d = decide(&p, arn);
        assert_eq!(outcome(&d), want, "case {i}: {d}");
        let message = d.denial_message(p.arn(), INVOKE, true).unwrap_or_default();
        assert!(message.contains(fragment), "case {i}: {message}");
    }
}

#[test]
fn principal_keys_come_from_the_principal() {
    // [EVAL] aws:PrincipalAccount / aws:PrincipalOrgID / aws:PrincipalTag are request context keys.
    let org = org(FULL, FULL);
    let p = principal(
        &org,
        identity(
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {
                "StringEquals": {"aws:PrincipalAccount": "111122223333", "aws:PrincipalOrgID": "o-example",
                                 "aws:PrincipalTag/team": "ml"}}}"#,
        ),
        None,
    );
    assert_eq!(outcome(&decide(&p, FM)), I, "no team tag yet");
    let p = p.with_tags(vec![("team".into(), "ml".into())]);
    assert_eq!(outcome(&decide(&p, FM)), A);
}

#[test]
fn hidden_rule_names_keep_aws_wording() {
    let org = org(FULL, FULL);
    let p = principal(&org, identity(FULL), None);
    let d = decide(&p, FM_DEEPSEEK);
    let message = d.denial_message(p.arn(), INVOKE, false).unwrap();
    assert!(
        message.ends_with("with an explicit deny in a service control policy"),
        "{message}"
    );
    assert!(!message.contains("DenyDeepSeek"));
}

// --- properties over layers -----------------------------------------------------------------------------

mod layer_properties {
    use super::*;
    use proptest::prelude::*;

    fn statement() -> impl Strategy<Value = String> {
        let actions = prop::sample::select(vec![
            "*",
            "bedrock:*",
            "bedrock:Invoke*",
            "bedrock:InvokeModel",
            "s3:*",
        ]);
        let resources = prop::sample::select(vec![
            "*",
            "arn:aws:bedrock:*::foundation-model/*",
            "arn:aws:bedrock:*::foundation-model/anthropic.*",
            "arn:aws:bedrock:*::foundation-model/amazon.*",
            "arn:aws:bedrock:*:*:inference-profile/*.anthropic.*",
        ]);
        let conditions = prop::sample::select(vec![
            "",
            r#", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ml"}}"#,
            r#", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
        ]);
        (any::<bool>(), actions, any::<bool>(), resources, conditions).prop_map(
            |(deny, action, not_resource, resource, condition)| {
                format!(
                    r#"{{"Effect": "{}", "Action": "{action}", "{}": "{resource}"{condition}}}"#,
                    if deny { "Deny" } else { "Allow" },
                    if not_resource {
                        "NotResource"
                    } else {
                        "Resource"
                    },
                )
            },
        )
    }

    fn layer_of(statements: &[String]) -> Option<Arc<PolicySet>> {
        Some(Arc::new(set("2012-10-17", &statements.join(","))))
    }

    /// levels[0] at the root, levels[1] on an OU, levels[2] on the account (as many as given).
    fn build(
        levels: &[Vec<String>],
        identity: &[String],
        boundary: &Option<Vec<String>>,
    ) -> Principal {
        let mut org = Organization::new(None, layer_of(&levels[0]));
        let (ou, account) = match levels.len() {
            1 => (None, None),
            2 => (None, layer_of(&levels[1])),
            _ => (layer_of(&levels[1]), layer_of(&levels[2])),
        };
        org.add_ou("ou-x", None, ou).unwrap();
        org.add_account(ACCOUNT, Some("ou-x"), account).unwrap();
        Principal::new(
            "p",
            "arn:aws:iam::111122223333:role/p",
            Identity::Policies(layer_of(identity).unwrap()),
        )
        .with_account(Some(ACCOUNT), None, org.scp_layers(ACCOUNT).unwrap())
        .with_boundary(boundary.as_deref().and_then(layer_of))
    }

    fn run(p: &Principal, arns: &[&str], ip: &str) -> Want {
        let checks: Vec<ResourceCheck> = arns.iter().map(|a| ResourceCheck::new(*a)).collect();
        let mut context = context(&[("aws:SourceIp", ip), ("aws:PrincipalTag/team", "ml")]);
        context.set("aws:RequestedRegion", "us-east-1");
        outcome(&p.evaluate(&AuthzRequest {
            principal_arn: p.arn(),
            action: INVOKE,
            checks: &checks,
            context: &context,
        }))
    }

    fn layers() -> impl Strategy<Value = (Vec<Vec<String>>, Vec<String>, Option<Vec<String>>)> {
        let layer = || prop::collection::vec(statement(), 1..4);
        (
            prop::collection::vec(layer(), 1..4),
            layer(),
            prop::option::of(layer()),
        )
    }

    fn request() -> impl Strategy<Value = (Vec<&'static str>, &'static str)> {
        (
            prop::sample::select(vec![
                vec![FM],
                vec![FM_NOVA],
                vec![PROFILE, FM],
                vec![FM_DEEPSEEK],
            ]),
            prop::sample::select(vec!["10.1.2.3", "192.0.2.1"]),
        )
    }

    proptest! {
        // [EVAL] "the order of policies and statements does not matter".
        #[test]
        fn statement_order_never_changes_the_decision(
            (levels, identity, boundary) in layers(),
            (arns, ip) in request(),
        ) {
            let before = run(&build(&levels, &identity, &boundary), &arns, ip);
            let rev = |v: &Vec<String>| v.iter().rev().cloned().collect::<Vec<_>>();
            let levels2: Vec<Vec<String>> = levels.iter().map(rev).collect();
            let after = run(&build(&levels2, &rev(&identity), &boundary.as_ref().map(rev)), &arns, ip);
            prop_assert_eq!(before, after);
        }

        // [EVAL] an explicit Deny in any layer can only take permissions away.
        #[test]
        fn adding_a_deny_anywhere_never_allows_more(
            (mut levels, mut identity, mut boundary) in layers(),
            extra in statement(),
            at in 0usize..5,
            (arns, ip) in request(),
        ) {
            let before = run(&build(&levels, &identity, &boundary), &arns, ip);
            let deny = extra.replacen(r#""Effect": "Allow""#, r#""Effect": "Deny""#, 1);
            match at {
                0..=2 => { let i = at.min(levels.len() - 1); levels[i].push(deny) }
                3 => identity.push(deny),
                _ => match &mut boundary { Some(b) => b.push(deny), None => identity.push(deny) },
            }
            let after = run(&build(&levels, &identity, &boundary), &arns, ip);
            prop_assert!(before == A || after != A, "{:?} -> {:?}", before, after);
            prop_assert!(before != E || after == E, "an explicit deny stays explicit");
        }
    }
}

// --- what IAM accepts and refuses ------------------------------------------------------------------------

/// `Ok(())`: IAM stores the policy, and so does the guard. `Err(message)`: IAM refuses it with that
/// message, and the guard refuses it with the same message (plus where).
type Grammar = (&'static str, &'static str, Result<(), &'static str>);

fn statement(body: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": {{{body}}}}}"#)
}

#[test]
fn accepts_what_iam_accepts_and_refuses_what_it_refuses() {
    const A: &str = r#""Effect": "Allow", "Action": "bedrock:InvokeModel""#;
    let cases: &[Grammar] = &[
        // [RESW][IAMV] fewer than six ARN parts (IAM stores `arn:aws:fdsasf`).
        (
            "[RESW] short ARN, service only",
            r#""Resource": "arn:aws:bedrock""#,
            Ok(()),
        ),
        (
            "[RESW] short ARN ending in *",
            r#""Resource": "arn:aws:bedrock:*""#,
            Ok(()),
        ),
        (
            "[RESW] short ARN with region",
            r#""Resource": "arn:aws:bedrock:us-east-1:*""#,
            Ok(()),
        ),
        (
            "[RESW] partition wildcard",
            r#""Resource": "arn:*:bedrock:*:*:*""#,
            Ok(()),
        ),
        (
            "[IAMV] resource list with *",
            r#""Resource": ["arn:aws:bedrock:*:*:*", "*"]"#,
            Ok(()),
        ),
        // [GRAM][IAMV] empty condition blocks.
        (
            "[IAMV] Condition {}",
            r#""Resource": "*", "Condition": {}"#,
            Ok(()),
        ),
        (
            "[IAMV] empty operator block",
            r#""Resource": "*", "Condition": {"StringEquals": {}}"#,
            Ok(()),
        ),
        (
            "[IAMV] empty block, unknown operator",
            r#""Resource": "*", "Condition": {"x": {}, "y": {}}"#,
            Ok(()),
        ),
        (
            "[IAMV] empty list of values",
            r#""Resource": "*", "Condition": {"DateGreaterThan": {"a": []}}"#,
            Ok(()),
        ),
        (
            "[IAMV] condition key without vendor",
            r#""Resource": "*", "Condition": {"StringEqualsIfExists": {"a": "asf"}}"#,
            Ok(()),
        ),
        (
            "[IAMV] ForAnyValue with IfExists",
            r#""Resource": "*", "Condition": {"ForAnyValue:StringEqualsIfExists": {"a": "asf"}}"#,
            Ok(()),
        ),
        // [IAMV] the action name is free text after the one colon.
        (
            "[IAMV] free action name",
            r#""Effect": "Allow", "Action": "iam: asdf safdsf af ", "Resource": "*""#,
            Ok(()),
        ),
        (
            "[IAMV] vendor with - and .",
            r#""Effect": "Allow", "Action": ["s3-s:ListBucket", "s3.s:ListBucket"], "Resource": "*""#,
            Ok(()),
        ),
        (
            "[IAMV] NotAction with NotResource *",
            r#""Effect": "Allow", "NotAction": "s3:ListBucket", "NotResource": "*""#,
            Ok(()),
        ),
        // Refused, with IAM's wording.
        (
            "[IAMV] two colons",
            r#""Effect": "Allow", "Action": "bedrock:Invoke:Model", "Resource": "*""#,
            Err("Actions/Condition can contain only one colon."),
        ),
        (
            "[IAMV] no vendor",
            r#""Effect": "Allow", "Action": "InvokeModel", "Resource": "*""#,
            Err("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        ),
        (
            "[IAMV] empty action",
            r#""Effect": "Allow", "NotAction": "", "Resource": "*""#,
            Err("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        ),
        (
            "[IAMV] bad vendor",
            r#""Effect": "Allow", "Action": "a a:ListBucket", "Resource": "*""#,
            Err("Vendor a a is not valid"),
        ),
        (
            "[IAMV] not an ARN",
            r#""Resource": "invalid resource""#,
            Err(r#"Resource invalid resource must be in ARN format or "*"."#),
        ),
        (
            "[IAMV] empty resource",
            r#""Resource": """#,
            Err(r#"Resource  must be in ARN format or "*"."#),
        ),
        (
            "[IAMV] unknown partition",
            r#""Resource": "arn:error:s3:::example_bucket""#,
            Err(r#"Partition "error" is not valid for resource "arn:error:s3:::example_bucket"."#),
        ),
        (
            "[IAMV] short, unknown partition",
            r#""Resource": "a:b:cadfsdf""#,
            Err(r#"Partition "b" is not valid for resource "arn:b:cadfsdf:*:*:*"."#),
        ),
        (
            "[IAMV] no service",
            r#""Resource": "arn:aws""#,
            Err("Resource vendor must be fully qualified and cannot contain regexes."),
        ),
        (
            "[IAMV] short ARN with an empty part",
            r#""Resource": "arn:aws:s3::example_bucket""#,
            Err("The policy failed legacy parsing"),
        ),
        (
            "[IAMV] empty service",
            r#""Resource": "arn:aws::::example_bucket""#,
            Err("The policy failed legacy parsing"),
        ),
        (
            "[IAMV][GRAM] Effect in the wrong case",
            r#""Effect": "denY", "Action": "s3:ListBucket", "Resource": "*""#,
            Err("The policy failed legacy parsing"),
        ),
        (
            "[IAMV][GRAM] unknown Effect",
            r#""Effect": "invalid", "Action": "s3:ListBucket", "Resource": "*""#,
            Err("Syntax errors in policy."),
        ),
        (
            "[IAMV] unknown operator with keys",
            r#""Resource": "*", "Condition": {"x": {"a": "1"}}"#,
            Err("Syntax errors in policy."),
        ),
        (
            "[IAMV] operator block not an object",
            r#""Resource": "*", "Condition": {"DateGreaterThan": []}"#,
            Err("Syntax errors in policy."),
        ),
        (
            "[IAMV] Condition not an object",
            r#""Resource": "*", "Condition": []"#,
            Err("Syntax errors in policy."),
        ),
        (
            "[IAMV] double colon in qualifier",
            r#""Resource": "*", "Condition": {"ForAnyValue::StringEqualsIfExists": {"a": "asf"}}"#,
            Err("Syntax errors in policy."),
        ),
        (
            "[IAMV] no resources",
            r#""Effect": "Allow", "Action": "s3:ListBucket", "Resource": []"#,
            Err("Policy statement must contain resources."),
        ),
        (
            "[IAMV] no actions",
            r#""Effect": "Allow", "Action": [], "Resource": "*""#,
            Err("Policy statement must contain actions."),
        ),
    ];
    let mut failures = Vec::new();
    for &(rule, body, want) in cases {
        // Bodies without an Effect/Action get the Allow-InvokeModel prefix.
        let body = if body.contains("\"Effect\"") {
            body.to_owned()
        } else {
            format!("{A}, {body}")
        };
        let got = parse(&PolicySource {
            name: "p".into(),
            origin: "p.json".into(),
            text: statement(&body),
        });
        let got = got.as_ref().map(|_| ()).map_err(|e| e.message());
        if got != want {
            failures.push(format!("{rule}: want {want:?}, got {got:?} for {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// [RESW][IAMV] what a short ARN means: the parts not written read as `*`, so a `*` ending the last
/// written part reaches across the colons after it, while the written parts still match one part each.
#[test]
fn short_arns_match_as_iam_reads_them() {
    const PROFILE_EU: &str =
        "arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.amazon.nova-pro-v1:0";
    let allow = |resource: &str| {
        format!(
            r#"{{"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "{resource}"}}"#
        )
    };
    let cases: Vec<(String, &str, Want)> = vec![
        (allow("arn:aws:bedrock:*"), FM, A),
        (allow("arn:aws:bedrock:*"), PROFILE, A),
        (allow("arn:aws:bedrock:*"), "arn:aws:s3:::bucket", I),
        (allow("arn:aws:bedrock:us-east-1:*"), FM, A),
        (allow("arn:aws:bedrock:us-east-1:*"), PROFILE, A),
        (allow("arn:aws:bedrock:us-east-1:*"), PROFILE_EU, I),
        (allow("arn:aws:bedrock:us-*"), PROFILE_EU, I),
        (allow("arn:aws:bedrock:eu-*"), PROFILE_EU, A),
        (allow("arn:aws:bedrock:us-east-1:111122223333"), PROFILE, A),
        // The written account must match the account part: foundation models have none.
        (allow("arn:aws:bedrock:us-east-1:111122223333"), FM, I),
        // A Deny on a short ARN denies as widely.
        (
            format!(
                r#"{ALLOW_ALL}, {{"Effect": "Deny", "Action": "bedrock:*", "Resource": "arn:aws:bedrock:eu-*"}}"#
            ),
            PROFILE_EU,
            E,
        ),
    ];
    let mut failures = Vec::new();
    for (statements, arn, want) in cases {
        let set = set("2012-10-17", &statements);
        let checks = [ResourceCheck::new(arn)];
        let got = outcome(&set.evaluate(&AuthzRequest {
            principal_arn: "arn:aws:iam::111122223333:role/app",
            action: INVOKE,
            checks: &checks,
            context: &RequestContext::new(),
        }));
        if got != want {
            failures.push(format!("want {want:?}, got {got:?}: {statements} on {arn}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// [IAMV][GRAM] an empty operator block tests nothing (the statement applies), an empty list of values
/// matches no value (positive operators fail, negated ones hold).
#[test]
fn empty_condition_shapes_mean_what_they_say() {
    let cases: &[Case] = &[
        // [RESW] a short ARN as an Arn* condition value reads the same way as in Resource.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ArnLike": {"bedrock:InferenceProfileArn": "arn:aws:bedrock:us-east-1:*"}}}"#,
            INVOKE,
            &[FM],
            &[("bedrock:InferenceProfileArn", PROFILE)],
            A,
        ),
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ArnLike": {"bedrock:InferenceProfileArn": "arn:aws:bedrock:eu-*"}}}"#,
            INVOKE,
            &[FM],
            &[("bedrock:InferenceProfileArn", PROFILE)],
            I,
        ),
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {}}}"#,
            INVOKE,
            &[FM],
            &[],
            A,
        ),
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": []}}}"#,
            INVOKE,
            &[FM],
            &[("aws:RequestedRegion", "us-east-1")],
            I,
        ),
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringNotEquals": {"aws:RequestedRegion": []}}}"#,
            INVOKE,
            &[FM],
            &[("aws:RequestedRegion", "us-east-1")],
            A,
        ),
        // A key without a vendor is a key no request carries.
        (
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"RequestedRegion": "us-east-1"}}}"#,
            INVOKE,
            &[FM],
            &[("aws:RequestedRegion", "us-east-1")],
            I,
        ),
    ];
    check_cases("2012-10-17", cases);
}
