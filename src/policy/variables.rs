//! Policy variables (Version 2012-10-17 only): `${aws:PrincipalTag/team}`, with a default
//! `${aws:PrincipalTag/team, 'shared'}`, and the escapes `${*}`, `${?}`, `${$}` for the literal characters.
//!
//! A [`Template`] is a pattern or value as written in a policy, compiled once. Texts without variables
//! (the common case) stay [`Template::Any`], [`Template::Literal`] or [`Template::Plain`] and match with no allocation; a text with variables is
//! resolved per request. A substituted value is always literal: a tag value `a*` does not become a
//! wildcard, which would let whoever sets tags widen a grant.

use std::borrow::Cow;

use super::glob::{bytes_equal, glob_match, glob_match_tokens, Case, Tok};

/// Where variables get their value: a single-valued key of the request (multi-valued keys cannot be
/// used as variables in IAM; they resolve to nothing here).
pub trait Vars {
    fn single(&self, key: &str) -> Option<&str>;
}

/// No variable has a value (lints, and texts that cannot hold variables).
#[derive(Debug, Clone, Copy)]
pub struct NoVars;

impl Vars for NoVars {
    fn single(&self, _key: &str) -> Option<&str> {
        None
    }
}

/// A pattern or value as written in a policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Template {
    /// `*` alone: matches anything (the common ARN part `*`, decided without looking at the text).
    Any,
    /// No wildcard, no variable: a plain comparison.
    Literal(Box<str>),
    /// `*` wildcards only (no `?`, no variables): matched as a prefix, a suffix and the pieces between
    /// found left to right, which is exact for star-only patterns and uses the fast substring search.
    Stars {
        text: Box<str>,
        parts: Box<[Box<str>]>,
    },
    /// Wildcards including `?`, no variables.
    Plain(Box<str>),
    WithVars {
        text: Box<str>,
        pieces: Box<[Piece]>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Piece {
    /// Policy text (its `*` and `?` are wildcards where the operator has wildcards).
    Text(Box<str>),
    /// `${*}`, `${?}`, `${$}`: the literal character.
    Char(u8),
    Var {
        key: Box<str>,
        default: Option<Box<str>>,
    },
}

impl Template {
    /// Compiles `text`. With `variables` false (Version 2008-10-17) `${...}` is literal text, as in IAM.
    /// The error is a detail for "Syntax errors in policy.".
    pub fn parse(text: &str, variables: bool) -> Result<Self, String> {
        if !variables || !text.contains("${") {
            return Ok(match text {
                "*" => Self::Any,
                _ if !text.contains(['*', '?']) => Self::Literal(text.into()),
                _ if !text.contains('?') => Self::Stars {
                    text: text.into(),
                    parts: text.split('*').map(Box::from).collect(),
                },
                _ => Self::Plain(text.into()),
            });
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start..].find('}') else {
                return Err(format!("policy variable in {text:?} has no closing '}}'"));
            };
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].into()));
            }
            let inner = rest[start + 2..start + len].trim();
            pieces.push(
                parse_variable(inner)
                    .ok_or_else(|| format!("invalid policy variable ${{{inner}}} in {text:?}"))?,
            );
            rest = &rest[start + len + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.into()));
        }
        Ok(Self::WithVars {
            text: text.into(),
            pieces: pieces.into(),
        })
    }

    /// Whether [`Template::parse`] accepts `text`, without building the template.
    pub fn check(text: &str, variables: bool) -> Result<(), String> {
        if !variables || !text.contains("${") {
            return Ok(());
        }
        Self::parse(text, variables).map(drop)
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Any => "*",
            Self::Literal(text)
            | Self::Stars { text, .. }
            | Self::Plain(text)
            | Self::WithVars { text, .. } => text,
        }
    }

    pub fn has_variables(&self) -> bool {
        matches!(self, Self::WithVars { .. })
    }

    /// The condition keys the template's variables read.
    pub fn variable_keys(&self) -> impl Iterator<Item = &str> {
        let pieces: &[Piece] = match self {
            Self::WithVars { pieces, .. } => pieces,
            _ => &[],
        };
        pieces.iter().filter_map(|p| match p {
            Piece::Var { key, .. } => Some(&**key),
            _ => None,
        })
    }

    /// The literal text before the first wildcard or variable: what an index can key on.
    pub fn literal_prefix(&self) -> &str {
        let text = match self {
            Self::Any => return "",
            Self::Literal(text) | Self::Stars { text, .. } | Self::Plain(text) => text,
            Self::WithVars { pieces, .. } => match pieces.first() {
                Some(Piece::Text(text)) => text,
                _ => return "",
            },
        };
        let end = text.find(['*', '?']).unwrap_or(text.len());
        &text[..end]
    }

    /// The longest run of literal text between wildcards (and variables): any text the template matches
    /// contains it, whatever the variables resolve to.
    pub fn longest_literal(&self) -> &str {
        let texts: &mut dyn Iterator<Item = &str> = match self {
            Self::Any => return "",
            Self::Literal(text) | Self::Stars { text, .. } | Self::Plain(text) => {
                &mut std::iter::once(&**text)
            }
            Self::WithVars { pieces, .. } => &mut pieces.iter().filter_map(|p| match p {
                Piece::Text(text) => Some(&**text),
                _ => None,
            }),
        };
        texts
            .flat_map(|t| t.split(['*', '?']))
            .max_by_key(|run| run.len())
            .unwrap_or("")
    }

    /// Wildcard match (`*`, `?` in the policy text). A variable without a value and without a default
    /// makes the template match nothing.
    pub fn glob(&self, value: &str, case: Case, vars: &dyn Vars) -> bool {
        match self {
            Self::Any => true,
            Self::Literal(literal) => match case {
                Case::Sensitive => bytes_equal(literal.as_bytes(), value.as_bytes()),
                Case::AsciiInsensitive => literal.eq_ignore_ascii_case(value),
            },
            Self::Stars { parts, .. } => stars_match(parts, value, case),
            Self::Plain(text) => glob_match(text, value, case),
            Self::WithVars { pieces, .. } => {
                let mut tokens = Vec::new();
                for piece in pieces.iter() {
                    match piece {
                        Piece::Text(text) => tokens.extend(text.bytes().map(|b| match b {
                            b'*' => Tok::Star,
                            b'?' => Tok::One,
                            b => Tok::Byte(b),
                        })),
                        Piece::Char(c) => tokens.push(Tok::Byte(*c)),
                        Piece::Var { key, default } => {
                            let Some(v) = resolve(key, default.as_deref(), vars) else {
                                return false;
                            };
                            tokens.extend(v.bytes().map(Tok::Byte));
                        }
                    }
                }
                glob_match_tokens(&tokens, value, case)
            }
        }
    }

    /// The text with variables substituted (for exact comparisons); `None` when a variable has no value.
    pub fn resolve<'a>(&'a self, vars: &'a dyn Vars) -> Option<Cow<'a, str>> {
        match self {
            Self::Any => Some(Cow::Borrowed("*")),
            Self::Literal(text) | Self::Stars { text, .. } | Self::Plain(text) => {
                Some(Cow::Borrowed(text))
            }
            Self::WithVars { pieces, .. } => {
                let mut out = String::new();
                for piece in pieces.iter() {
                    match piece {
                        Piece::Text(text) => out.push_str(text),
                        Piece::Char(c) => out.push(char::from(*c)),
                        Piece::Var { key, default } => {
                            out.push_str(resolve(key, default.as_deref(), vars)?)
                        }
                    }
                }
                Some(Cow::Owned(out))
            }
        }
    }
}

/// `parts` is the pattern split at its `*`s (at least two parts). Leftmost matching of each middle part
/// is exact when the only wildcard is `*`: a later match could only leave less room for the rest.
/// Star-only patterns: the first part must start the text, the last must end it, and the parts between
/// must occur in order in what is left. Exact for patterns without `?`, and much cheaper than the
/// general matcher. Bytes throughout: `*` is ASCII and the parts are whole UTF-8 strings, so every
/// offset found is a character boundary.
fn stars_match(parts: &[Box<str>], text: &str, case: Case) -> bool {
    let (Some((first, rest)), Some(last)) = (parts.split_first(), parts.last()) else {
        return false;
    };
    let (first, last, text) = (first.as_bytes(), last.as_bytes(), text.as_bytes());
    if text.len() < first.len() + last.len()
        || !same(&text[..first.len()], first, case)
        || !same(&text[text.len() - last.len()..], last, case)
    {
        return false;
    }
    let mut remaining = &text[first.len()..text.len() - last.len()];
    for part in &rest[..rest.len().saturating_sub(1)] {
        match find(remaining, part.as_bytes(), case) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn same(a: &[u8], b: &[u8], case: Case) -> bool {
    match case {
        Case::Sensitive => bytes_equal(a, b),
        Case::AsciiInsensitive => a.eq_ignore_ascii_case(b),
    }
}

/// The first occurrence of `needle` in `haystack`. A plain scan: haystacks are ARNs and action names
/// (short), where setting up a substring searcher cost more than the search; O(haystack × needle) at
/// worst, the same bound as the general glob matcher.
fn find(haystack: &[u8], needle: &[u8], case: Case) -> Option<usize> {
    let last_start = haystack.len().checked_sub(needle.len())?;
    (0..=last_start).find(|&at| same(&haystack[at..at + needle.len()], needle, case))
}

fn resolve<'a>(key: &str, default: Option<&'a str>, vars: &'a dyn Vars) -> Option<&'a str> {
    vars.single(key).or(default)
}

/// `*`, `?`, `$`, `key` or `key, 'default'`.
fn parse_variable(inner: &str) -> Option<Piece> {
    match inner {
        "*" => return Some(Piece::Char(b'*')),
        "?" => return Some(Piece::Char(b'?')),
        "$" => return Some(Piece::Char(b'$')),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        Some((key, default)) => {
            let default = default.trim();
            let quoted = default.strip_prefix('\'')?.strip_suffix('\'')?;
            (key.trim(), Some(quoted.into()))
        }
        None => (inner, None),
    };
    let (vendor, name) = key.split_once(':')?;
    if vendor.is_empty()
        || name.is_empty()
        || key.contains(|c: char| c.is_whitespace() || c == '$' || c == '{')
    {
        return None;
    }
    Some(Piece::Var {
        key: key.into(),
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Map(&'static [(&'static str, &'static str)]);
    impl Vars for Map {
        fn single(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| *v)
        }
    }

    fn t(text: &str) -> Template {
        match Template::parse(text, true) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn plain_and_2008_texts_have_no_variables() {
        assert!(matches!(t("abc*"), Template::Stars { .. }));
        assert_eq!(t("a?c*"), Template::Plain("a?c*".into()));
        assert_eq!(t("abc"), Template::Literal("abc".into()));
        assert_eq!(t("*"), Template::Any);
        assert_eq!(
            Template::parse("${aws:username}", false),
            Ok(Template::Literal("${aws:username}".into()))
        );
    }

    #[test]
    fn substitution_escapes_and_defaults() {
        let vars = Map(&[("aws:PrincipalTag/team", "ml"), ("aws:username", "a*")]);
        let tpl = t("foundation-model/${aws:PrincipalTag/team}.*");
        assert!(tpl.glob("foundation-model/ml.x", Case::Sensitive, &vars));
        assert!(!tpl.glob("foundation-model/ops.x", Case::Sensitive, &vars));
        // A substituted value is literal: `a*` does not match `abc`.
        assert!(!t("${aws:username}").glob("abc", Case::Sensitive, &vars));
        assert!(t("${aws:username}").glob("a*", Case::Sensitive, &vars));
        // Escapes are literal characters.
        assert!(t("x${*}").glob("x*", Case::Sensitive, &NoVars));
        assert!(!t("x${*}").glob("xy", Case::Sensitive, &NoVars));
        assert!(t("${?}${$}").glob("?$", Case::Sensitive, &NoVars));
        // Missing variable: matches nothing, unless a default is given.
        assert!(!t("${aws:PrincipalTag/cost}").glob("", Case::Sensitive, &vars));
        let with_default = t("${aws:PrincipalTag/cost, 'shared'}");
        assert!(with_default.glob("shared", Case::Sensitive, &vars));
        assert_eq!(with_default.resolve(&vars).as_deref(), Some("shared"));
        assert_eq!(
            t("${aws:PrincipalTag/team}-x").resolve(&vars).as_deref(),
            Some("ml-x")
        );
        assert_eq!(t("${aws:nope}").resolve(&vars), None);
    }

    proptest::proptest! {
        /// The star-only fast path agrees with the general glob.
        #[test]
        fn stars_agree_with_glob(pattern in "[abB*]{0,8}", text in "[abAB]{0,10}") {
            if let Template::Stars { parts, .. } = t(&pattern) {
                for case in [Case::Sensitive, Case::AsciiInsensitive] {
                    proptest::prop_assert_eq!(
                        stars_match(&parts, &text, case),
                        glob_match(&pattern, &text, case),
                        "{:?}", case
                    );
                }
            }
        }
    }

    #[test]
    fn invalid_variables_are_errors() {
        for bad in ["${", "${}", "${nokey}", "${aws:x, shared}", "${aws:x, 'a}"] {
            assert!(Template::parse(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn literal_prefix_stops_at_wildcards_and_variables() {
        assert_eq!(
            t("foundation-model/anthropic.*").literal_prefix(),
            "foundation-model/anthropic."
        );
        assert_eq!(t("a?b").literal_prefix(), "a");
        assert_eq!(t("pre/${aws:x}").literal_prefix(), "pre/");
        assert_eq!(t("${aws:x}").literal_prefix(), "");
    }
}
