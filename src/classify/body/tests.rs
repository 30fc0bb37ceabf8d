use super::*;
use proptest::prelude::*;
use serde_json::{json, Value};

const BOTH: Want = Want {
    converse_keys: true,
    s3_locations: true,
    request_tags: false,
};

const TAGS: Want = Want {
    converse_keys: false,
    s3_locations: false,
    request_tags: true,
};

/// A field without its reason text, to compare against a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Absent,
    Value(String),
    Ambiguous,
}

fn seen(field: &Field) -> Seen {
    match field {
        Field::Absent => Seen::Absent,
        Field::Value(v) => Seen::Value(v.clone()),
        Field::Ambiguous(_) => Seen::Ambiguous,
    }
}

fn tier(body: &[u8]) -> Result<Seen, BodyError> {
    scan(body, BOTH).map(|k| seen(&k.service_tier))
}

fn v(s: &str) -> Seen {
    Seen::Value(s.to_owned())
}

#[test]
fn service_tier_table() {
    let deep_open = "[".repeat(900);
    let deep_close = "]".repeat(900);
    let deep = format!(r#"{{"x":{deep_open}{deep_close},"serviceTier":{{"type":"priority"}}}}"#);
    let cases: Vec<(&str, Vec<u8>, Result<Seen, ()>)> = vec![
        (
            "plain",
            br#"{"serviceTier":{"type":"priority"}}"#.to_vec(),
            Ok(v("priority")),
        ),
        ("absent", br#"{"messages":[]}"#.to_vec(), Ok(Seen::Absent)),
        (
            "null is unset",
            br#"{"serviceTier":null}"#.to_vec(),
            Ok(Seen::Absent),
        ),
        (
            "null type is unset",
            br#"{"serviceTier":{"type":null}}"#.to_vec(),
            Ok(Seen::Absent),
        ),
        (
            "BOM",
            b"\xEF\xBB\xBF{\"serviceTier\":{\"type\":\"priority\"}}".to_vec(),
            Ok(v("priority")),
        ),
        (
            "1e400 elsewhere",
            br#"{"n":1e400,"serviceTier":{"type":"priority"}}"#.to_vec(),
            Ok(v("priority")),
        ),
        (
            "lone surrogate elsewhere",
            br#"{"t":"\ud800","serviceTier":{"type":"priority"}}"#.to_vec(),
            Ok(v("priority")),
        ),
        (
            "raw control char elsewhere",
            b"{\"t\":\"a\x01b\",\"serviceTier\":{\"type\":\"priority\"}}".to_vec(),
            Ok(v("priority")),
        ),
        (
            "invalid UTF-8 elsewhere",
            b"{\"t\":\"\xff\",\"serviceTier\":{\"type\":\"priority\"}}".to_vec(),
            Ok(v("priority")),
        ),
        (
            "deep nesting elsewhere",
            deep.into_bytes(),
            Ok(v("priority")),
        ),
        (
            "escaped key",
            br#"{"service\u0054ier":{"\u0074ype":"priority"}}"#.to_vec(),
            Ok(v("priority")),
        ),
        (
            "escaped value",
            br#"{"serviceTier":{"type":"pri\u006Frity"}}"#.to_vec(),
            Ok(v("priority")),
        ),
        (
            "surrogate pair value",
            br#"{"serviceTier":{"type":"\ud83d\ude00"}}"#.to_vec(),
            Ok(v("\u{1F600}")),
        ),
        (
            "duplicate serviceTier",
            br#"{"serviceTier":{"type":"flex"},"serviceTier":{"type":"priority"}}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "duplicate after null",
            br#"{"serviceTier":null,"serviceTier":{"type":"priority"}}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "duplicate type",
            br#"{"serviceTier":{"type":"flex","type":"priority"}}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "duplicate via escape",
            br#"{"serviceTier":{"type":"flex"},"s\u0065rviceTier":{"type":"priority"}}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "other case",
            br#"{"ServiceTier":{"type":"priority"}}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "other case of type",
            br#"{"serviceTier":{"TYPE":"priority"}}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "lone surrogate in key",
            br#"{"serviceTier\udc00":{"type":"priority"}}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "lone surrogate in value",
            br#"{"serviceTier":{"type":"priority\ud800"}}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "invalid UTF-8 in value",
            b"{\"serviceTier\":{\"type\":\"priority\xc0\"}}".to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "string tier",
            br#"{"serviceTier":"priority"}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "array tier",
            br#"{"serviceTier":[{"type":"priority"}]}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "number type",
            br#"{"serviceTier":{"type":1}}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "object type",
            br#"{"serviceTier":{"type":{"v":"priority"}}}"#.to_vec(),
            Ok(Seen::Ambiguous),
        ),
        (
            "nested is not top level",
            br#"{"x":{"serviceTier":{"type":"priority"}}}"#.to_vec(),
            Ok(Seen::Absent),
        ),
        (
            "too deep",
            format!(
                "{{\"x\":{}{}}}",
                "[".repeat(MAX_DEPTH),
                "]".repeat(MAX_DEPTH)
            )
            .into_bytes(),
            Err(()),
        ),
        (
            "trailing data",
            br#"{"serviceTier":{"type":"priority"}} x"#.to_vec(),
            Err(()),
        ),
        (
            "two objects",
            br#"{}{"serviceTier":{"type":"priority"}}"#.to_vec(),
            Err(()),
        ),
        (
            "trailing comma",
            br#"{"serviceTier":{"type":"priority"},}"#.to_vec(),
            Err(()),
        ),
        (
            "comment",
            br#"{/*x*/"serviceTier":{"type":"priority"}}"#.to_vec(),
            Err(()),
        ),
        (
            "single quotes",
            br#"{'serviceTier':{'type':'priority'}}"#.to_vec(),
            Err(()),
        ),
        ("NaN", br#"{"n":NaN}"#.to_vec(), Err(())),
        ("bad escape", br#"{"t":"\x41"}"#.to_vec(), Err(())),
        ("short unicode escape", br#"{"t":"\u12"}"#.to_vec(), Err(())),
        (
            "unterminated",
            br#"{"serviceTier":{"type":"prio"#.to_vec(),
            Err(()),
        ),
        (
            "array root",
            br#"[{"serviceTier":{"type":"priority"}}]"#.to_vec(),
            Err(()),
        ),
        ("empty", b"".to_vec(), Err(())),
        (
            "missing colon",
            br#"{"serviceTier" {"type":"priority"}}"#.to_vec(),
            Err(()),
        ),
        (
            "missing comma",
            br#"{"a":1 "serviceTier":{"type":"priority"}}"#.to_vec(),
            Err(()),
        ),
        ("BOM twice", b"\xEF\xBB\xBF\xEF\xBB\xBF{}".to_vec(), Err(())),
    ];
    for (name, body, expected) in cases {
        let got = tier(&body).map_err(|_| ());
        assert_eq!(got, expected, "{name}");
    }
    // serde rejects several of the accepted bodies: that is why this reader exists.
    assert!(serde_json::from_slice::<Value>(br#"{"n":1e400}"#).is_err());
    assert!(serde_json::from_slice::<Value>(br#"{"t":"\ud800"}"#).is_err());
}

#[test]
fn guardrail_table() {
    let cases: Vec<(&str, &str, Seen, Seen)> = vec![
        (
            "both",
            r#"{"guardrailConfig":{"guardrailIdentifier":"g1","guardrailVersion":"2"}}"#,
            v("g1"),
            v("2"),
        ),
        (
            "id only",
            r#"{"guardrailConfig":{"guardrailIdentifier":"g1"}}"#,
            v("g1"),
            Seen::Absent,
        ),
        (
            "duplicate config",
            r#"{"guardrailConfig":{"guardrailIdentifier":"g1"},"guardrailConfig":{"guardrailIdentifier":"g2"}}"#,
            Seen::Ambiguous,
            Seen::Ambiguous,
        ),
        (
            "duplicate id",
            r#"{"guardrailConfig":{"guardrailIdentifier":"g1","guardrailIdentifier":"g2","guardrailVersion":"1"}}"#,
            Seen::Ambiguous,
            v("1"),
        ),
        (
            "config not an object",
            r#"{"guardrailConfig":"g1"}"#,
            Seen::Ambiguous,
            Seen::Ambiguous,
        ),
    ];
    for (name, body, id, version) in cases {
        let keys = scan(body.as_bytes(), BOTH).unwrap();
        assert_eq!(seen(&keys.guardrail_identifier), id, "{name}");
        assert_eq!(seen(&keys.guardrail_version), version, "{name}");
    }
}

#[test]
fn converse_keys_are_not_read_unless_wanted() {
    let body = br#"{"serviceTier":{"type":"flex"},"serviceTier":{"type":"priority"}}"#;
    let keys = scan(
        body,
        Want {
            converse_keys: false,
            s3_locations: true,
            request_tags: false,
        },
    )
    .unwrap();
    assert_eq!(keys.service_tier, Field::Absent);
}

fn uris(body: &str) -> Vec<S3Location> {
    scan(body.as_bytes(), BOTH).unwrap().s3_locations
}

fn uri(s: &str) -> S3Location {
    S3Location::Uri(s.to_owned())
}

#[test]
fn s3_locations_table() {
    let cases: Vec<(&str, &str, Vec<S3Location>)> = vec![
        (
            "converse document",
            r#"{"messages":[{"role":"user","content":[{"document":{"format":"pdf","name":"d","source":{"s3Location":{"uri":"s3://docs/a.pdf","bucketOwner":"123456789012"}}}}]}]}"#,
            vec![uri("s3://docs/a.pdf")],
        ),
        (
            "async output",
            r#"{"modelId":"m","modelInput":{},"outputDataConfig":{"s3OutputDataConfig":{"s3Uri":"s3://out/x/","kmsKeyId":"k"}}}"#,
            vec![uri("s3://out/x/")],
        ),
        (
            "model-native string anywhere",
            r#"{"taskType":"MULTI_SHOT","x":[{"image":"S3://Other/img.png"}],"t":"  s3://lead/blank"}"#,
            vec![uri("S3://Other/img.png"), uri("  s3://lead/blank")],
        ),
        (
            "escaped prefix",
            r#"{"x":"\u0073\u0033://hidden/k"}"#,
            vec![uri("s3://hidden/k")],
        ),
        (
            "uri that is not s3 is still an S3 location",
            r#"{"s3Location":{"uri":"https://bucket.s3.amazonaws.com/k"}}"#,
            vec![uri("https://bucket.s3.amazonaws.com/k")],
        ),
        (
            "duplicate uri: both",
            r#"{"s3Location":{"uri":"s3://a/1","uri":"s3://b/2"}}"#,
            vec![uri("s3://a/1"), uri("s3://b/2")],
        ),
        (
            "other-case keys",
            r#"{"S3LOCATION":{"URI":"x"},"S3uri":"y"}"#,
            vec![uri("x"), uri("y")],
        ),
        (
            "uri not a string",
            r#"{"s3Location":{"uri":5}}"#,
            vec![S3Location::Unreadable("is not a string")],
        ),
        (
            "undecodable s3 string",
            r#"{"x":"s3://b/\ud800"}"#,
            vec![S3Location::Unreadable("does not decode to text")],
        ),
        (
            "s3Location as a string",
            r#"{"s3Location":"s3://b/k"}"#,
            vec![uri("s3://b/k")],
        ),
        (
            "text that merely mentions s3",
            r#"{"text":"see s3://b/k","uri":"https://example.com"}"#,
            vec![],
        ),
    ];
    for (name, body, expected) in cases {
        assert_eq!(uris(body), expected, "{name}");
    }
}

#[test]
fn looks_like_s3_cases() {
    for yes in ["s3://b", "S3://b", " \t\ns3:b", "\u{0}s3://b", "s3:"] {
        assert!(looks_like_s3(yes), "{yes:?}");
    }
    for no in ["", "s3", "https://s3", "xs3://", "s 3://"] {
        assert!(!looks_like_s3(no), "{no:?}");
    }
}

// ---- property tests ----

/// What the scanner must find in a body serde can parse (no duplicate keys, exact-case names).
fn reference(body: &Value) -> (Seen, Seen, Seen, Vec<String>) {
    fn field(v: Option<&Value>) -> Seen {
        match v {
            None | Some(Value::Null) => Seen::Absent,
            Some(Value::String(s)) => Seen::Value(s.clone()),
            Some(_) => Seen::Ambiguous,
        }
    }
    fn container(v: Option<&Value>) -> Result<Option<&serde_json::Map<String, Value>>, ()> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(()),
        }
    }
    let root = body.as_object().unwrap();
    let tier = match container(root.get("serviceTier")) {
        Ok(Some(m)) => field(m.get("type")),
        Ok(None) => Seen::Absent,
        Err(()) => Seen::Ambiguous,
    };
    let (id, version) = match container(root.get("guardrailConfig")) {
        Ok(Some(m)) => (
            field(m.get("guardrailIdentifier")),
            field(m.get("guardrailVersion")),
        ),
        Ok(None) => (Seen::Absent, Seen::Absent),
        Err(()) => (Seen::Ambiguous, Seen::Ambiguous),
    };
    // S3: strings under `s3Uri` or `s3Location.uri` whatever they say, other strings by prefix;
    // the read members of serviceTier/guardrailConfig are policy keys, not S3 locations.
    const OTHER: u8 = 0;
    const LOCATION: u8 = 1;
    const URI: u8 = 2;
    fn walk(v: &Value, slot: u8, out: &mut Vec<String>) {
        let wrong = |out: &mut Vec<String>| match slot {
            LOCATION => out.push("<is not an object>".into()),
            URI => out.push("<is not a string>".into()),
            _ => {}
        };
        match v {
            Value::Null => {}
            Value::String(s) if slot != OTHER || looks_like_s3(s) => out.push(s.clone()),
            Value::String(_) => {}
            Value::Object(m) => {
                if slot == URI {
                    wrong(out);
                }
                for (k, child) in m {
                    let child_slot = match (slot, k.as_str()) {
                        (LOCATION, "uri") => URI,
                        (LOCATION, _) => OTHER,
                        (_, "s3Location") => LOCATION,
                        (_, "s3Uri") => URI,
                        _ => OTHER,
                    };
                    walk(child, child_slot, out);
                }
            }
            Value::Array(items) => {
                wrong(out);
                for item in items {
                    walk(item, OTHER, out);
                }
            }
            Value::Bool(_) | Value::Number(_) => wrong(out),
        }
    }
    let mut s3 = Vec::new();
    for (k, child) in root {
        match (k.as_str(), child) {
            ("serviceTier" | "guardrailConfig", Value::String(_)) => {}
            ("serviceTier" | "guardrailConfig", Value::Object(m)) => {
                for (name, grandchild) in m {
                    let read = match k.as_str() {
                        "serviceTier" => name == "type",
                        _ => matches!(name.as_str(), "guardrailIdentifier" | "guardrailVersion"),
                    };
                    if !(read && grandchild.is_string()) {
                        walk(grandchild, OTHER, &mut s3);
                    }
                }
            }
            ("s3Location", _) => walk(child, LOCATION, &mut s3),
            ("s3Uri", _) => walk(child, URI, &mut s3),
            _ => walk(child, OTHER, &mut s3),
        }
    }
    (tier, id, version, s3)
}

const NAMES: [&str; 8] = [
    "serviceTier",
    "type",
    "guardrailConfig",
    "guardrailIdentifier",
    "guardrailVersion",
    "s3Location",
    "uri",
    "s3Uri",
];

/// Other-case spellings of the read names are a separate (ambiguous) case, tested in the tables.
fn other_key(pattern: &'static str) -> impl Strategy<Value = String> {
    pattern.prop_filter("not a read name in another case", |k: &String| {
        !NAMES.iter().any(|n| n.eq_ignore_ascii_case(k))
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("serviceTier".to_owned()),
        Just("type".to_owned()),
        Just("guardrailConfig".to_owned()),
        Just("guardrailIdentifier".to_owned()),
        Just("guardrailVersion".to_owned()),
        Just("s3Location".to_owned()),
        Just("uri".to_owned()),
        Just("s3Uri".to_owned()),
        other_key("[a-zA-Z]{0,6}"),
        other_key("\\PC{0,4}"),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        Just(json!("priority")),
        Just(json!("s3://bucket/key")),
        Just(json!(" S3://Bucket")),
        "\\PC{0,8}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), json_value(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// Escapes every character of every string (keys included) as `\uXXXX`, which every JSON parser
/// reads as the same document.
fn escape_everything(v: &Value) -> String {
    fn s(text: &str) -> String {
        let mut out = String::from("\"");
        for unit in text.encode_utf16() {
            out.push_str(&format!("\\u{unit:04x}"));
        }
        out.push('"');
        out
    }
    match v {
        Value::String(text) => s(text),
        Value::Array(items) => format!(
            "[ {} ]",
            items
                .iter()
                .map(escape_everything)
                .collect::<Vec<_>>()
                .join(" ,\n")
        ),
        Value::Object(m) => format!(
            "{{\t{}\r}}",
            m.iter()
                .map(|(k, v)| format!("{} : {}", s(k), escape_everything(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

fn found(keys: &BodyKeys) -> (Seen, Seen, Seen, Vec<String>) {
    (
        seen(&keys.service_tier),
        seen(&keys.guardrail_identifier),
        seen(&keys.guardrail_version),
        keys.s3_locations
            .iter()
            .map(|l| match l {
                S3Location::Uri(u) => u.clone(),
                S3Location::Unreadable(why) => format!("<{why}>"),
            })
            .collect(),
    )
}

fn cases() -> u32 {
    // CI sets BEDROCK_GUARD_FUZZ_CASES for a longer, bounded run (see .ci/run); generating JSON
    // documents costs about twenty byte-level fuzz cases, hence the scale.
    std::env::var("BEDROCK_GUARD_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .map_or(256, |n| (n / 20).max(256))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// On every body serde reads, the scanner reads the same values.
    #[test]
    fn agrees_with_serde_on_what_serde_reads(body in json_object()) {
        let text = serde_json::to_vec(&body).unwrap();
        let keys = scan(&text, BOTH).unwrap();
        prop_assert_eq!(found(&keys), reference(&body));
    }

    /// Escapes and whitespace do not change what is read.
    #[test]
    fn escapes_and_whitespace_do_not_matter(body in json_object()) {
        let plain = scan(&serde_json::to_vec(&body).unwrap(), BOTH).unwrap();
        let escaped = scan(escape_everything(&body).as_bytes(), BOTH).unwrap();
        prop_assert_eq!(found(&plain), found(&escaped));
    }

    /// A second copy of a read key makes the value ambiguous, wherever it is placed.
    #[test]
    fn a_duplicate_is_never_last_wins(body in json_object(), tier in "[a-z]{1,8}", before in any::<bool>()) {
        let mut map = body.as_object().unwrap().clone();
        map.insert("serviceTier".into(), json!({"type": "priority"}));
        let text = serde_json::to_string(&Value::Object(map)).unwrap();
        let extra = format!(r#""serviceTier":{{"type":"{tier}"}}"#);
        let text = if before {
            format!("{{{extra},{}", &text[1..])
        } else {
            format!("{},{extra}}}", &text[..text.len() - 1])
        };
        let keys = scan(text.as_bytes(), BOTH).unwrap();
        prop_assert_eq!(seen(&keys.service_tier), Seen::Ambiguous);
    }

    /// Arbitrary bytes never panic; the outcome is a value, ambiguity or an error.
    #[test]
    fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = scan(&bytes, BOTH);
    }

    /// Mutations of a valid body never panic, and never turn a read value into a different value
    /// without the scanner either erroring or flagging ambiguity ... unless the mutation rewrote it.
    #[test]
    fn mutated_bodies_never_panic(body in json_object(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut text = serde_json::to_vec(&body).unwrap();
        let i = at.index(text.len());
        text[i] = byte;
        let _ = scan(&text, BOTH);
    }
}

#[test]
fn request_tags_are_read_per_entry_and_fail_closed() {
    let keys = scan(
        br#"{"tags":[{"key":"team","value":"ml"},{"value":"42","key":"cc"}],"modelId":"m"}"#,
        TAGS,
    )
    .unwrap();
    assert_eq!(
        keys.tags,
        vec![
            (Field::Value("team".into()), Field::Value("ml".into())),
            (Field::Value("cc".into()), Field::Value("42".into())),
        ]
    );
    assert_eq!(keys.tags_ambiguous, None);
    // Each shape Bedrock could read differently is ambiguous, never a value picked.
    let ambiguous: &[&[u8]] = &[
        br#"{"tags":[{"key":"team","value":"ml"}],"tags":[]}"#,
        br#"{"tags":{"key":"team","value":"ml"}}"#,
        br#"{"tags":["team"]}"#,
        br#"{"tags":[{"key":["team"],"value":"ml"}]}"#,
        br#"{"Tags":[{"key":"team","value":"ml"}]}"#,
    ];
    for body in ambiguous {
        let keys = scan(body, TAGS).unwrap();
        assert!(
            keys.tags_ambiguous.is_some(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // A key repeated inside one entry makes that field ambiguous.
    let keys = scan(br#"{"tags":[{"key":"a","key":"b","value":"v"}]}"#, TAGS).unwrap();
    assert_eq!(keys.tags_ambiguous, Some("appears more than once"));
    // Not wanted: not read.
    let keys = scan(br#"{"tags":[{"key":"a","value":"b"}]}"#, BOTH).unwrap();
    assert!(keys.tags.is_empty());
}
