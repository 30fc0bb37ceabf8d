//! IAM wildcards: `*` matches any run of characters (possibly empty), `?` exactly one; the whole string must
//! match. Everything else is literal: there is no regex, so no metacharacter can leak through.
//!
//! The matcher is the classic two-pointer scan that remembers only the last `*`: when a literal fails it
//! retries from one character further into that star's run. Earlier stars never need revisiting (the last
//! star can absorb anything they could), so the worst case is O(pattern × text) with no recursion and no
//! allocation, whatever the number of stars.

/// How literal characters compare. Case folding is ASCII only: action names and ARNs are ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Sensitive,
    AsciiInsensitive,
}

/// One element of a compiled pattern: a literal byte, `*` or `?`. Patterns built from policy variables
/// use this form, so that a substituted value (or `${*}`) is matched literally, never as a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Byte(u8),
    Star,
    One,
}

/// Whether `text` matches `pattern` as a whole.
pub fn glob_match(pattern: &str, text: &str, case: Case) -> bool {
    let p = pattern.as_bytes();
    glob_core(
        p.len(),
        |i| match p[i] {
            b'*' => Tok::Star,
            b'?' => Tok::One,
            b => Tok::Byte(b),
        },
        text,
        case,
    )
}

/// [`glob_match`] over an already tokenized pattern.
pub fn glob_match_tokens(pattern: &[Tok], text: &str, case: Case) -> bool {
    glob_core(pattern.len(), |i| pattern[i], text, case)
}

fn glob_core(len: usize, tok: impl Fn(usize) -> Tok, text: &str, case: Case) -> bool {
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    // (pattern index just after the last `*`, text index where that star's run currently ends)
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        // Comparing UTF-8 byte by byte is exact for literals (equal lead bytes mean equal lengths), and
        // `*`/`?` are ASCII so they never occur inside a multi-byte character.
        let step = if pi < len {
            match tok(pi) {
                Tok::Star => {
                    star = Some((pi + 1, ti));
                    pi += 1;
                    continue;
                }
                Tok::One => Some(char_len(t, ti)),
                Tok::Byte(c) if bytes_eq(c, t[ti], case) => Some(1),
                Tok::Byte(_) => None,
            }
        } else {
            None
        };
        match (step, star) {
            (Some(n), _) => {
                pi += 1;
                ti += n;
            }
            (None, Some((after_star, run_end))) => {
                // Let the last star swallow one more character and retry the rest from there.
                let run_end = run_end + char_len(t, run_end);
                star = Some((after_star, run_end));
                pi = after_star;
                ti = run_end;
            }
            (None, None) => return false,
        }
    }
    (pi..len).all(|i| tok(i) == Tok::Star)
}

/// Whether two byte strings are equal, compared inline eight bytes at a time. The strings compared
/// while matching are ARN parts of a few to a few dozen bytes: a call into libc's `memcmp` for each
/// (what `==` on slices compiles to) was 35% of a decision's time in the policy benchmark.
#[inline]
pub fn bytes_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a_words, mut b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut a_words).zip(&mut b_words) {
        let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(x), <[u8; 8]>::try_from(y)) else {
            return false;
        };
        if u64::from_ne_bytes(x) != u64::from_ne_bytes(y) {
            return false;
        }
    }
    let (a_rest, b_rest) = (a_words.remainder(), b_words.remainder());
    (0..a_rest.len()).all(|i| a_rest[i] == b_rest[i])
}

fn bytes_eq(p: u8, t: u8, case: Case) -> bool {
    match case {
        Case::Sensitive => p == t,
        Case::AsciiInsensitive => p.eq_ignore_ascii_case(&t),
    }
}

/// Length of the UTF-8 character starting at `i` (`i` is always a character boundary here).
fn char_len(t: &[u8], i: usize) -> usize {
    let len = match t.get(i) {
        Some(&b) if b < 0x80 => 1,
        Some(&b) if b >= 0xF0 => 4,
        Some(&b) if b >= 0xE0 => 3,
        Some(_) => 2,
        None => 1,
    };
    len.min(t.len().saturating_sub(i)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        use Case::*;
        let cases: &[(&str, &str, Case, bool)] = &[
            ("", "", Sensitive, true),
            ("", "a", Sensitive, false),
            ("a", "", Sensitive, false),
            ("*", "", Sensitive, true),
            ("*", "anything:at/all", Sensitive, true),
            ("**", "", Sensitive, true),
            ("?", "", Sensitive, false),
            ("?", "a", Sensitive, true),
            ("?", "ab", Sensitive, false),
            ("??", "ab", Sensitive, true),
            ("a*", "a", Sensitive, true),
            ("*a", "a", Sensitive, true),
            ("a*b", "ab", Sensitive, true),
            ("a*b", "axxb", Sensitive, true),
            ("a*b", "axxbc", Sensitive, false),
            ("a*b*c", "abbbc", Sensitive, true),
            ("a*?", "a", Sensitive, false),
            ("a*?", "ab", Sensitive, true),
            ("*.claude-*", "us.anthropic.claude-x", Sensitive, true),
            ("abc", "ABC", Sensitive, false),
            ("abc", "ABC", AsciiInsensitive, true),
            ("a?c", "AbC", AsciiInsensitive, true),
            (
                "bedrock:invoke*",
                "bedrock:InvokeModel",
                AsciiInsensitive,
                true,
            ),
            ("?", "é", Sensitive, true),
            ("??", "é", Sensitive, false),
            ("a?c", "aéc", Sensitive, true),
            ("*é", "xxé", Sensitive, true),
            ("*é?", "éé€", Sensitive, true),
            ("*.*", "nodot", Sensitive, false),
        ];
        for &(pattern, text, case, want) in cases {
            assert_eq!(
                glob_match(pattern, text, case),
                want,
                "{pattern:?} vs {text:?} ({case:?})"
            );
        }
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = "*a".repeat(30) + "b";
        let text = "a".repeat(5000);
        assert!(!glob_match(&pattern, &text, Case::Sensitive));
    }

    /// The obvious recursive definition, exponential but fine for short strings.
    fn oracle(p: &[char], t: &[char], insensitive: bool) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| oracle(rest, &t[i..], insensitive)),
            Some(('?', rest)) => !t.is_empty() && oracle(rest, &t[1..], insensitive),
            Some((c, rest)) => match t.split_first() {
                Some((d, t_rest)) => {
                    let same = if insensitive {
                        c.eq_ignore_ascii_case(d)
                    } else {
                        c == d
                    };
                    same && oracle(rest, t_rest, insensitive)
                }
                None => false,
            },
        }
    }

    proptest! {
        #[test]
        fn agrees_with_recursive_oracle(
            pattern in "[abA:é*?]{0,9}",
            text in "[abA:é]{0,9}",
            insensitive in any::<bool>(),
        ) {
            let case = if insensitive { Case::AsciiInsensitive } else { Case::Sensitive };
            let p: Vec<char> = pattern.chars().collect();
            let t: Vec<char> = text.chars().collect();
            prop_assert_eq!(glob_match(&pattern, &text, case), oracle(&p, &t, insensitive));
        }
    }
}
