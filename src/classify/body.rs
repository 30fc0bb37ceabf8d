//! What a request body says that authorization depends on: `bedrock:ServiceTier` and
//! `bedrock:GuardrailIdentifier` in Converse bodies, and every S3 location Bedrock would read or write
//! with the proxy's identity.
//!
//! A purpose-built, single-pass JSON scanner rather than `serde_json::Value`, because a policy input
//! must never be silently "unset" where Bedrock sees a value:
//! - it accepts what lenient parsers accept and serde refuses (a UTF-8 BOM, lone surrogate escapes,
//!   numbers out of `f64` range, raw control characters in strings, deep nesting up to
//!   [`MAX_DEPTH`], iteratively, so no stack overflow);
//! - on the paths it reads, a duplicated key, a key spelled in another case, a value of the wrong type
//!   or a string that does not decode to text makes the field [`Field::Ambiguous`], never last-wins;
//! - anything else it cannot parse is a [`BodyError`]; the caller refuses the request when a policy
//!   (or the S3 allowlist) depends on the body.
//!
//! S3 locations: the service model's `S3Location.uri` (Converse image, document, video and audio
//! sources, also inside tool results) and `s3OutputDataConfig.s3Uri` (StartAsyncInvoke), plus, for
//! model-native bodies (InvokeModel, `modelInput`) whose shape is not modeled, every string value that
//! starts with `s3:` in any case after leading blanks.

use std::borrow::Cow;

/// Deepest nesting accepted (Jackson's default limit); deeper bodies are a [`BodyError::TooDeep`].
pub const MAX_DEPTH: usize = 1000;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Which facts to extract; scanning for nothing is not needed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// `serviceTier.type`, `guardrailConfig.guardrailIdentifier` and `.guardrailVersion` at the top
    /// level (Converse, ConverseStream).
    pub converse_keys: bool,
    /// Every S3 location.
    pub s3_locations: bool,
    /// The top-level `tags` list of `{"key", "value"}` (StartAsyncInvoke: `aws:RequestTag/<key>`,
    /// `aws:TagKeys`).
    pub request_tags: bool,
}

/// One body field a policy may read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Field {
    #[default]
    Absent,
    Value(String),
    /// Present, but what Bedrock would read is uncertain; the reason completes "serviceTier.type ...".
    Ambiguous(&'static str),
}

impl Field {
    fn set(&mut self, value: Field) {
        // Once ambiguous, always ambiguous: a later copy must not hide an earlier conflict.
        if !matches!(self, Field::Ambiguous(_)) {
            *self = value;
        }
    }
}

/// An S3 location named in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Location {
    Uri(String),
    /// Something in an S3 position that is not a readable string (a lone surrogate, a number, ...).
    Unreadable(&'static str),
}

/// The facts of one body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyKeys {
    /// `serviceTier.type`.
    pub service_tier: Field,
    /// `guardrailConfig.guardrailIdentifier`.
    pub guardrail_identifier: Field,
    /// `guardrailConfig.guardrailVersion`.
    pub guardrail_version: Field,
    pub s3_locations: Vec<S3Location>,
    /// `tags`: each entry's `key` and `value`.
    pub tags: Vec<(Field, Field)>,
    /// Set when `tags` (or an entry) is not a list of `{"key": string, "value": string}` objects;
    /// completes "tags ...".
    pub tags_ambiguous: Option<&'static str>,
}

/// Why a body could not be scanned at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is not valid JSON ({what} at byte {at})")]
    Syntax { at: usize, what: &'static str },
    #[error("the request body nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the request body must be a JSON object")]
    NotObject,
}

/// What a container or value means on the paths the scanner reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Root,
    ServiceTier,
    ServiceTierType,
    Guardrail,
    GuardrailId,
    GuardrailVersion,
    /// An `s3Location` object (holds `uri`).
    S3Location,
    /// `uri` in an `s3Location`, or `s3Uri`.
    S3Uri,
    /// The top-level `tags` list, one of its entries, an entry's `key` and `value`.
    Tags,
    Tag,
    TagKey,
    TagValue,
    Other,
}

struct Frame {
    object: bool,
    /// For objects: what the object is; for arrays: the slot of every element.
    slot: Slot,
    /// Which of this object's read keys were seen (bit per key), for duplicate detection.
    seen: u8,
}

/// Scans `body` for what `want` asks. Errors only for bodies that are not one JSON object.
pub fn scan(body: &[u8], want: Want) -> Result<BodyKeys, BodyError> {
    let mut p = Parser {
        b: body,
        i: if body.starts_with(BOM) { BOM.len() } else { 0 },
    };
    let mut out = BodyKeys::default();
    let mut stack: Vec<Frame> = Vec::new();
    p.ws();
    if p.peek() != Some(b'{') {
        return Err(BodyError::NotObject);
    }
    let mut slot = Slot::Root;
    'value: loop {
        p.ws();
        match p.peek() {
            Some(open @ (b'{' | b'[')) => {
                p.i += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(BodyError::TooDeep);
                }
                let object = open == b'{';
                let inner = if object {
                    object_slot(slot, &mut out)
                } else {
                    array_element_slot(slot, &mut out)
                };
                stack.push(Frame {
                    object,
                    slot: inner,
                    seen: 0,
                });
                p.ws();
                let close = if object { b'}' } else { b']' };
                if p.peek() == Some(close) {
                    p.i += 1;
                    stack.pop();
                } else {
                    slot = if object {
                        read_key(&mut p, &mut stack, want, &mut out)?
                    } else {
                        inner
                    };
                    continue 'value;
                }
            }
            Some(b'"') => {
                let raw = p.string()?;
                string_value(slot, raw, want, &mut out);
            }
            Some(b'-' | b'0'..=b'9') => {
                p.number()?;
                scalar_value(slot, &mut out);
            }
            Some(b't') => {
                p.literal(b"true")?;
                scalar_value(slot, &mut out);
            }
            Some(b'f') => {
                p.literal(b"false")?;
                scalar_value(slot, &mut out);
            }
            Some(b'n') => {
                // null is "not set" in restJson1; the key still counted as seen for duplicates.
                p.literal(b"null")?;
            }
            _ => return Err(p.error("expected a value")),
        }
        // After a value: separators and closing brackets until the next value or the end.
        loop {
            p.ws();
            let Some(top) = stack.last() else {
                if p.i != p.b.len() {
                    return Err(p.error("unexpected data after the body"));
                }
                return Ok(out);
            };
            let object = top.object;
            let element = top.slot;
            match p.bump() {
                Some(b',') if object => {
                    slot = read_key(&mut p, &mut stack, want, &mut out)?;
                    continue 'value;
                }
                Some(b',') => {
                    slot = element;
                    continue 'value;
                }
                Some(b'}') if object => {
                    stack.pop();
                }
                Some(b']') if !object => {
                    stack.pop();
                }
                _ => return Err(p.error("expected ',' or a closing bracket")),
            }
        }
    }
}

/// The slot of an object's members, given the object's own slot.
fn object_slot(slot: Slot, out: &mut BodyKeys) -> Slot {
    match slot {
        Slot::Root | Slot::ServiceTier | Slot::Guardrail | Slot::S3Location => slot,
        Slot::Other => Slot::Other,
        Slot::Tag => {
            out.tags.push((Field::Absent, Field::Absent));
            Slot::Tag
        }
        Slot::Tags => {
            wrong_type(slot, out, "is not a list");
            Slot::Other
        }
        Slot::ServiceTierType
        | Slot::GuardrailId
        | Slot::GuardrailVersion
        | Slot::S3Uri
        | Slot::TagKey
        | Slot::TagValue => {
            wrong_type(slot, out, "is not a string");
            Slot::Other
        }
    }
}

fn array_element_slot(slot: Slot, out: &mut BodyKeys) -> Slot {
    match slot {
        Slot::Other | Slot::Root => Slot::Other,
        Slot::Tags => Slot::Tag,
        Slot::ServiceTier | Slot::Guardrail | Slot::S3Location | Slot::Tag => {
            wrong_type(slot, out, "is not an object");
            Slot::Other
        }
        _ => {
            wrong_type(slot, out, "is not a string");
            Slot::Other
        }
    }
}

fn scalar_value(slot: Slot, out: &mut BodyKeys) {
    match slot {
        Slot::Other | Slot::Root => {}
        Slot::ServiceTier | Slot::Guardrail | Slot::S3Location | Slot::Tag => {
            wrong_type(slot, out, "is not an object")
        }
        Slot::Tags => wrong_type(slot, out, "is not a list"),
        _ => wrong_type(slot, out, "is not a string"),
    }
}

fn wrong_type(slot: Slot, out: &mut BodyKeys, why: &'static str) {
    match slot {
        Slot::ServiceTier | Slot::ServiceTierType => out.service_tier.set(Field::Ambiguous(why)),
        Slot::Guardrail => {
            out.guardrail_identifier.set(Field::Ambiguous(why));
            out.guardrail_version.set(Field::Ambiguous(why));
        }
        Slot::GuardrailId => out.guardrail_identifier.set(Field::Ambiguous(why)),
        Slot::GuardrailVersion => out.guardrail_version.set(Field::Ambiguous(why)),
        Slot::S3Location | Slot::S3Uri => out.s3_locations.push(S3Location::Unreadable(why)),
        Slot::Tags | Slot::Tag | Slot::TagKey | Slot::TagValue => {
            // The first reason stands: a later one must not hide it.
            out.tags_ambiguous.get_or_insert(why);
        }
        Slot::Root | Slot::Other => {}
    }
}

fn string_value(slot: Slot, raw: &[u8], want: Want, out: &mut BodyKeys) {
    match slot {
        Slot::ServiceTierType | Slot::GuardrailId | Slot::GuardrailVersion => {
            let value = match decode(raw) {
                Decoded::Text(text) => Field::Value(text.into_owned()),
                Decoded::Lossy(_) => Field::Ambiguous("does not decode to text"),
            };
            let field = match slot {
                Slot::ServiceTierType => &mut out.service_tier,
                Slot::GuardrailId => &mut out.guardrail_identifier,
                _ => &mut out.guardrail_version,
            };
            field.set(value);
        }
        Slot::TagKey | Slot::TagValue => {
            let value = match decode(raw) {
                Decoded::Text(text) => Field::Value(text.into_owned()),
                Decoded::Lossy(_) => Field::Ambiguous("does not decode to text"),
            };
            // Entries are objects holding only strings, so the entry being read is the last one.
            if let Some((key, tag_value)) = out.tags.last_mut() {
                if slot == Slot::TagKey {
                    key.set(value);
                } else {
                    tag_value.set(value);
                }
            }
        }
        Slot::ServiceTier | Slot::Guardrail | Slot::Tag => {
            wrong_type(slot, out, "is not an object")
        }
        Slot::Tags => wrong_type(slot, out, "is not a list"),
        // A string where an S3 location object belongs: Bedrock refuses it, but it is checked anyway.
        Slot::S3Uri | Slot::S3Location => out.s3_locations.push(match decode(raw) {
            Decoded::Text(text) => S3Location::Uri(text.into_owned()),
            Decoded::Lossy(_) => S3Location::Unreadable("does not decode to text"),
        }),
        Slot::Root | Slot::Other => {
            if want.s3_locations {
                match decode(raw) {
                    Decoded::Text(text) if looks_like_s3(&text) => {
                        out.s3_locations.push(S3Location::Uri(text.into_owned()))
                    }
                    Decoded::Lossy(text) if looks_like_s3(&text) => out
                        .s3_locations
                        .push(S3Location::Unreadable("does not decode to text")),
                    _ => {}
                }
            }
        }
    }
}

/// Whether a string value names an S3 location: `s3:` in any case after leading blanks and controls.
pub fn looks_like_s3(text: &str) -> bool {
    let rest = text.trim_start_matches(|c: char| c.is_whitespace() || c.is_control());
    rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("s3:"))
}

/// Reads `"key":` in the object on top of the stack and returns the slot of its value.
fn read_key(
    p: &mut Parser<'_>,
    stack: &mut [Frame],
    want: Want,
    out: &mut BodyKeys,
) -> Result<Slot, BodyError> {
    p.ws();
    if p.peek() != Some(b'"') {
        return Err(p.error("expected a key"));
    }
    let raw = p.string()?;
    p.ws();
    if p.bump() != Some(b':') {
        return Err(p.error("expected ':'"));
    }
    let Some(frame) = stack.last_mut() else {
        return Ok(Slot::Other);
    };
    // Every name a frame can hold, in a fixed order (the `seen` bits index it); names not wanted
    // this time are skipped below.
    let names: &[(&str, Slot)] = match frame.slot {
        Slot::Root => &[
            ("serviceTier", Slot::ServiceTier),
            ("guardrailConfig", Slot::Guardrail),
            ("tags", Slot::Tags),
            ("s3Location", Slot::S3Location),
            ("s3Uri", Slot::S3Uri),
        ],
        Slot::ServiceTier => &[("type", Slot::ServiceTierType)],
        Slot::Guardrail => &[
            ("guardrailIdentifier", Slot::GuardrailId),
            ("guardrailVersion", Slot::GuardrailVersion),
        ],
        Slot::S3Location => &[("uri", Slot::S3Uri)],
        Slot::Tag => &[("key", Slot::TagKey), ("value", Slot::TagValue)],
        Slot::Other => &[("s3Location", Slot::S3Location), ("s3Uri", Slot::S3Uri)],
        _ => &[],
    };
    let wanted = |slot: Slot| match slot {
        Slot::ServiceTier | Slot::Guardrail => want.converse_keys,
        Slot::Tags => want.request_tags,
        Slot::S3Location | Slot::S3Uri => want.s3_locations,
        _ => true,
    };
    if !names.iter().any(|&(_, slot)| wanted(slot)) {
        return Ok(Slot::Other);
    }
    let (key, lossy) = match decode(raw) {
        Decoded::Text(key) => (key, false),
        // A parser that drops what it cannot decode could read this key as one of ours.
        Decoded::Lossy(key) => (Cow::Owned(key), true),
    };
    for (bit, &(name, slot)) in names.iter().enumerate() {
        if !wanted(slot) || !key.eq_ignore_ascii_case(name) {
            continue;
        }
        let mask = 1u8 << bit;
        let duplicate = frame.seen & mask != 0;
        frame.seen |= mask;
        let why = if duplicate {
            Some("appears more than once")
        } else if lossy {
            Some("has a key that does not decode to text")
        } else if key != name {
            Some("has a key spelled in another case")
        } else {
            None
        };
        if let Some(why) = why {
            // S3 positions are checked whatever their spelling, duplicates included: each copy is
            // checked, so a duplicate cannot hide one.
            if matches!(slot, Slot::S3Location | Slot::S3Uri) {
                return Ok(slot);
            }
            wrong_type(slot, out, why);
            return Ok(Slot::Other);
        }
        return Ok(slot);
    }
    Ok(Slot::Other)
}

enum Decoded<'a> {
    Text(Cow<'a, str>),
    /// What decoded, with every undecodable part (lone surrogate, invalid UTF-8) dropped.
    Lossy(String),
}

/// Decodes a raw JSON string body (between the quotes, escapes validated by the scanner).
fn decode(raw: &[u8]) -> Decoded<'_> {
    if !raw.contains(&b'\\') {
        return match std::str::from_utf8(raw) {
            Ok(text) => Decoded::Text(Cow::Borrowed(text)),
            Err(_) => Decoded::Lossy(
                String::from_utf8_lossy(raw)
                    .chars()
                    .filter(|&c| c != char::REPLACEMENT_CHARACTER)
                    .collect(),
            ),
        };
    }
    let mut out = String::with_capacity(raw.len());
    let mut lossy = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' {
            // Copy the run of plain bytes up to the next escape.
            let end = raw[i..]
                .iter()
                .position(|&c| c == b'\\')
                .map_or(raw.len(), |n| i + n);
            match std::str::from_utf8(&raw[i..end]) {
                Ok(text) => out.push_str(text),
                Err(_) => {
                    lossy = true;
                    out.extend(
                        String::from_utf8_lossy(&raw[i..end])
                            .chars()
                            .filter(|&c| c != char::REPLACEMENT_CHARACTER),
                    );
                }
            }
            i = end;
            continue;
        }
        let Some(&e) = raw.get(i + 1) else {
            lossy = true;
            break;
        };
        i += 2;
        let c = match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let Some(high) = hex4(raw, i) else {
                    lossy = true;
                    break;
                };
                i += 4;
                let code = if (0xD800..0xDC00).contains(&high) {
                    let low = (raw.get(i) == Some(&b'\\') && raw.get(i + 1) == Some(&b'u'))
                        .then(|| hex4(raw, i + 2))
                        .flatten()
                        .filter(|low| (0xDC00..0xE000).contains(low));
                    match low {
                        Some(low) => {
                            i += 6;
                            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                        }
                        None => {
                            lossy = true;
                            continue;
                        }
                    }
                } else {
                    high
                };
                match char::from_u32(code) {
                    Some(c) => c,
                    None => {
                        // A lone low surrogate.
                        lossy = true;
                        continue;
                    }
                }
            }
            _ => {
                lossy = true;
                continue;
            }
        };
        out.push(c);
    }
    if lossy {
        Decoded::Lossy(out)
    } else {
        Decoded::Text(Cow::Owned(out))
    }
}

fn hex4(raw: &[u8], at: usize) -> Option<u32> {
    let digits = raw.get(at..at + 4)?;
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = (d as char).to_digit(16)?;
        Some(acc * 16 + v)
    })
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn error(&self, what: &'static str) -> BodyError {
        BodyError::Syntax { at: self.i, what }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), BodyError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error("unknown literal"))
        }
    }

    /// JSON number syntax; the value is never converted, so no magnitude is out of range.
    fn number(&mut self) -> Result<(), BodyError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        if self.digits() == 0 {
            return Err(self.error("malformed number"));
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.error("malformed number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("malformed number"));
            }
        }
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    /// A string at the cursor (on its opening quote); returns the raw bytes between the quotes.
    /// Escapes must be well-formed (`\uXXXX` with four hex digits); raw control characters and invalid
    /// UTF-8 are tolerated here and make the string undecodable only where it is read.
    fn string(&mut self) -> Result<&'a [u8], BodyError> {
        self.i += 1;
        let start = self.i;
        loop {
            let rest = &self.b[self.i..];
            let Some(n) = rest.iter().position(|&c| c == b'"' || c == b'\\') else {
                self.i = self.b.len();
                return Err(self.error("unterminated string"));
            };
            self.i += n;
            if self.b[self.i] == b'"' {
                let raw = &self.b[start..self.i];
                self.i += 1;
                return Ok(raw);
            }
            match self.b.get(self.i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
                Some(b'u') if hex4(self.b, self.i + 2).is_some() => self.i += 6,
                _ => return Err(self.error("invalid escape")),
            }
        }
    }
}

#[cfg(test)]
mod tests;
