//! Built-in detectors: one byte-level pass over the words next to trigger bytes for structural
//! types, one filtered pass for keyword-anchored types. Validators only see a small window.

use std::cell::Cell;

use super::{Cand, EntityType};

// bit positions in the enabled mask (index in BUILTIN_TYPES)
const B_EMAIL: u32 = 0;
const B_IPV4: u32 = 1;
const B_IPV6: u32 = 2;
const B_MAC: u32 = 3;
const B_PHONE: u32 = 4;
const B_CARD: u32 = 5;
const B_IBAN: u32 = 6;
const B_SSN: u32 = 7;
const B_JWT: u32 = 8;
const B_AUTH: u32 = 9;
const B_AWS_AK: u32 = 10;
const B_AWS_SK: u32 = 11;
const B_API: u32 = 12;
const B_PEM: u32 = 13;
const B_PASSWORD: u32 = 14;
const B_USER: u32 = 15;
const B_HOME: u32 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kw {
    Secret,
    Bearer,
    Basic,
    AwsAk,
    Aws,
    Github,
    GithubPat,
    Gitlab,
    Slack,
    Stripe,
    OpenAi,
    Jwt,
    Pem,
    Url,
    User,
    Home,
}

const KEYWORDS: &[(&str, Kw)] = &[
    ("password", Kw::Secret),
    ("passwd", Kw::Secret),
    ("passphrase", Kw::Secret),
    ("pass", Kw::Secret),
    ("pwd", Kw::Secret),
    ("secret", Kw::Secret),
    ("token", Kw::Secret),
    ("api_key", Kw::Secret),
    ("apikey", Kw::Secret),
    ("api-key", Kw::Secret),
    ("credential", Kw::Secret),
    ("private_key", Kw::Secret),
    ("bearer", Kw::Bearer),
    ("basic", Kw::Basic),
    ("akia", Kw::AwsAk),
    ("asia", Kw::AwsAk),
    ("aws", Kw::Aws),
    ("ghp_", Kw::Github),
    ("gho_", Kw::Github),
    ("ghu_", Kw::Github),
    ("ghs_", Kw::Github),
    ("ghr_", Kw::Github),
    ("github_pat_", Kw::GithubPat),
    ("glpat-", Kw::Gitlab),
    ("xox", Kw::Slack),
    ("sk_live_", Kw::Stripe),
    ("rk_live_", Kw::Stripe),
    ("pk_live_", Kw::Stripe),
    ("sk_test_", Kw::Stripe),
    ("rk_test_", Kw::Stripe),
    ("pk_test_", Kw::Stripe),
    ("sk-", Kw::OpenAi),
    ("eyj", Kw::Jwt),
    ("-----begin", Kw::Pem),
    ("://", Kw::Url),
    ("user", Kw::User),
    ("login", Kw::User),
    ("/home/", Kw::Home),
    ("/users/", Kw::Home),
    ("\\users\\", Kw::Home),
    ("\\\\users\\\\", Kw::Home),
];

/// Finds the trigger [`KEYWORDS`] in a text: ASCII case-insensitive, leftmost-longest and
/// non-overlapping, the matches an Aho–Corasick automaton with those options reports (a test
/// compares the two).
///
/// Why not that automaton: it spends a table transition on every byte, about a third of the
/// redactor's time on Loghub lines. Here only every other position is looked at: a keyword
/// (three bytes or more) starting at `p` has its first two bytes at an even position when `p`
/// is even, and its second and third when `p` is odd. So the byte pairs at even positions,
/// four per 8-byte load, are tested against a bit filter holding both pairs of every keyword;
/// where one passes, the two positions it may start (`q - 1` and `q`) are tested against a
/// filter of the keywords' first three bytes, and only then compared with the keywords.
#[derive(Debug, Clone)]
pub(super) struct KeywordMatcher {
    /// Bit `folded pair` is set for the folded bytes 0–1 and 1–2 of every keyword.
    pairs: Box<[u64; 1024]>,
    /// Bit `slot(key)` is set for the folded first three bytes of every keyword.
    filter: Box<[u64; FILTER_WORDS]>,
    /// `(folded first three bytes, keyword bytes, index in KEYWORDS)`, sorted by the first,
    /// longest keyword first among equals.
    keywords: Vec<(u32, &'static [u8], usize)>,
}

const FILTER_BITS: u32 = 15;
const FILTER_WORDS: usize = 1 << (FILTER_BITS - 6);

/// A byte with bit 5 set: ASCII letters fold to lower case (other bytes may fold onto each
/// other, which only lets more positions through the filters).
#[inline]
fn fold(c: u8) -> u32 {
    u32::from(c | 0x20)
}

#[inline]
fn slot(key: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B1) >> (32 - FILTER_BITS)) as usize
}

impl KeywordMatcher {
    /// The matcher over [`KEYWORDS`].
    pub(super) fn new() -> Self {
        let mut pairs = Box::new([0u64; 1024]);
        let mut filter = Box::new([0u64; FILTER_WORDS]);
        let mut keywords: Vec<(u32, &'static [u8], usize)> = KEYWORDS
            .iter()
            .enumerate()
            .map(|(i, (k, _))| {
                let b = k.as_bytes();
                // every keyword has at least three bytes (the keys below need them)
                for pair in [fold(b[0]) | fold(b[1]) << 8, fold(b[1]) | fold(b[2]) << 8] {
                    pairs[pair as usize >> 6] |= 1 << (pair & 63);
                }
                let key = fold(b[0]) | fold(b[1]) << 8 | fold(b[2]) << 16;
                let s = slot(key);
                filter[s >> 6] |= 1 << (s & 63);
                (key, b, i)
            })
            .collect();
        // by first three bytes (binary search), longest first among those
        keywords.sort_by_key(|&(k, b, _)| (k, std::cmp::Reverse(b.len())));
        Self { pairs, filter, keywords }
    }

    /// Calls `f(index in KEYWORDS, start, end)` for each match, left to right.
    #[inline]
    pub(super) fn for_each(&self, text: &[u8], mut f: impl FnMut(usize, usize, usize)) {
        let n = text.len();
        // matches start at or after `next` (the end of the last one)
        let mut next = 0;
        let mut at = |q: usize, next: &mut usize| {
            for p in [q.wrapping_sub(1), q] {
                if p >= *next && p != usize::MAX && p + 3 <= n {
                    let k = fold(text[p]) | fold(text[p + 1]) << 8 | fold(text[p + 2]) << 16;
                    if self.passes(k) {
                        if let Some((kw, len)) = self.longest_at(text, p, k) {
                            f(kw, p, p + len);
                            *next = p + len;
                        }
                    }
                }
            }
        };
        let mut q = 0;
        while q + 8 <= n {
            let mut w = [0u8; 8];
            w.copy_from_slice(&text[q..q + 8]);
            let w = u64::from_le_bytes(w) | 0x2020_2020_2020_2020;
            let pair = |j: usize| (w >> (16 * j)) as u16;
            if (0..4).fold(false, |any, j| any | self.pair_passes(pair(j))) {
                for j in 0..4 {
                    if self.pair_passes(pair(j)) {
                        at(q + 2 * j, &mut next);
                    }
                }
            }
            q += 8;
        }
        while q + 2 <= n {
            if self.pair_passes((fold(text[q]) | fold(text[q + 1]) << 8) as u16) {
                at(q, &mut next);
            }
            q += 2;
        }
    }

    /// Whether some keyword may have the folded bytes `pair` at an even position.
    #[inline]
    fn pair_passes(&self, pair: u16) -> bool {
        self.pairs[usize::from(pair) >> 6] >> (pair & 63) & 1 != 0
    }

    /// Whether some keyword may start with the folded three bytes `key`.
    #[inline]
    fn passes(&self, key: u32) -> bool {
        let s = slot(key);
        self.filter[s >> 6] >> (s & 63) & 1 != 0
    }

    /// The longest keyword starting at `i` whose folded first three bytes are `key`.
    #[cold]
    fn longest_at(&self, text: &[u8], i: usize, key: u32) -> Option<(usize, usize)> {
        let rest = &text[i..];
        let from = self.keywords.partition_point(|&(k, _, _)| k < key);
        self.keywords[from..]
            .iter()
            .take_while(|&&(k, _, _)| k == key)
            .find(|(_, b, _)| rest.len() >= b.len() && rest[..b.len()].eq_ignore_ascii_case(b))
            .map(|&(_, b, idx)| (idx, b.len()))
    }
}

/// `WORD[c]`: `c` is ASCII alphanumeric or `_` (a table lookup is cheaper than the compares).
static WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'_';
        c += 1;
    }
    t
};

/// `TRIGGER[c]`: `c` can be part of, or next to, a structural finding. Every structural type
/// has one near its start: a digit (IPs, phones, cards, SSNs, IBANs, MACs and IPv6 addresses
/// with a digit in their first group), `:` or `-` after at most four hex digits (MAC, IPv6),
/// `@` (email), `+` or `(` (phone). Words with none of these are skipped.
static TRIGGER: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_digit() || matches!(b, b'@' | b'+' | b'(' | b':' | b'-');
        c += 1;
    }
    t
};

/// [`TRIGGER`] and [`WORD`] in one table, for the structural pass's skip loop.
static SKIP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = if TRIGGER[c] { S_TRIGGER } else { 0 } | if WORD[c] { S_WORD } else { 0 };
        c += 1;
    }
    t
};
const S_TRIGGER: u8 = 1;
const S_WORD: u8 = 2;

#[inline]
fn is_word(c: u8) -> bool {
    WORD[c as usize]
}
#[inline]
fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}
#[inline]
fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

/// `s` in ASCII lower case: on the stack when short, which keys and words next to a finding
/// nearly always are (this runs for every IP address and key of a line).
enum Lower {
    Stack([u8; 64], usize),
    Heap(Vec<u8>),
}

impl std::ops::Deref for Lower {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Lower::Stack(a, n) => &a[..*n],
            Lower::Heap(v) => v,
        }
    }
}

fn lower(s: &[u8]) -> Lower {
    if s.len() <= 64 {
        let mut a = [0u8; 64];
        a[..s.len()].copy_from_slice(s);
        a[..s.len()].make_ascii_lowercase();
        Lower::Stack(a, s.len())
    } else {
        Lower::Heap(s.to_ascii_lowercase())
    }
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

struct Ctx<'a> {
    b: &'a [u8],
    mask: u32,
    out: &'a mut Vec<Cand>,
    /// Per [`Run`] kind, the last forward run `(start, end)` (see [`Ctx::run_of`]).
    fwd: [Cell<(usize, usize)>; RUNS],
    /// Per [`Run`] kind, the last backward run `(from, start)` (see [`Ctx::back_of`]).
    back: [Cell<(usize, usize)>; RUNS],
    /// The last `@` of the last URL authority: `(authority end, scanned down to, position or
    /// usize::MAX)`.
    last_at: Cell<(usize, usize, usize)>,
    /// The last search for a PEM footer: `(searched from, found at or usize::MAX)`.
    pem_end: Cell<(usize, usize)>,
    /// Run every detector at every number (no quick rejection): what the tests compare the
    /// quick path against.
    exhaustive: bool,
}

/// Byte classes whose runs keyword handlers measure; their results are remembered so that many
/// keyword matches packed into one long run (`password=password=…`) cost linear time in all,
/// not quadratic (every match rescanning the rest of the line).
#[derive(Clone, Copy)]
enum Run {
    /// key characters of `key=value` pairs
    KeyIdent,
    /// user-name keys
    UserIdent,
    /// spaces and tabs
    Blank,
    /// an unquoted value
    Bare,
    /// a value quoted with `"`
    InDouble,
    /// a value quoted with `'`
    InSingle,
    /// a user name after "for user"
    UserValue,
    /// hex digits and colons (IPv6 / MAC candidates)
    HexColon,
    /// ASCII alphanumerics (GitHub tokens)
    Alnum,
    /// alphanumerics and `_` (GitHub fine-grained tokens)
    AlnumUnderscore,
    /// alphanumerics, `_` and `-` (GitLab, JWT segments, OpenAI keys)
    AlnumUnderscoreDash,
    /// alphanumerics and `-` (Slack tokens)
    AlnumDash,
    /// URL scheme characters
    Scheme,
    /// a URL's authority part
    Authority,
}
const RUNS: usize = Run::Authority as usize + 1;

/// Longest key of a `key=value` pair looked at: keys are names, and copying a run of keyword
/// matches glued together (`passwordpassword…`) once per match would be quadratic.
const MAX_KEY: usize = 128;

impl Run {
    #[inline]
    fn has(self, c: u8) -> bool {
        match self {
            Run::KeyIdent => is_word(c) || c == b'-' || c == b'.',
            Run::UserIdent => is_word(c) || c == b'-',
            Run::Blank => c == b' ' || c == b'\t',
            Run::Bare => !(c.is_ascii_whitespace() || matches!(c, b',' | b';' | b'&' | b'"' | b'\'' | b'}' | b']')),
            Run::InDouble => c != b'"' && c != b'\n',
            Run::InSingle => c != b'\'' && c != b'\n',
            Run::UserValue => !(c.is_ascii_whitespace() || matches!(c, b',' | b';' | b'"' | b'\'')),
            Run::HexColon => is_hex(c) || c == b':',
            Run::Alnum => c.is_ascii_alphanumeric(),
            Run::AlnumUnderscore => c.is_ascii_alphanumeric() || c == b'_',
            Run::AlnumUnderscoreDash => c.is_ascii_alphanumeric() || c == b'_' || c == b'-',
            Run::AlnumDash => c.is_ascii_alphanumeric() || c == b'-',
            Run::Scheme => c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-'),
            Run::Authority => !(c.is_ascii_whitespace() || matches!(c, b'/' | b'"' | b'\'' | b'<' | b'>')),
        }
    }
}
const NO_RUN: (usize, usize) = (usize::MAX, 0);

/// Runs all built-in detectors over `text`, appending candidates to `out`.
pub(super) fn scan(text: &str, mask: u32, keywords: &KeywordMatcher, out: &mut Vec<Cand>) {
    let mut cx = Ctx::new(text.as_bytes(), mask, out, false);
    cx.structural();
    keywords.for_each(text.as_bytes(), |k, start, end| cx.keyword(KEYWORDS[k].1, start, end));
}

/// A keyword match: `(index in KEYWORDS, start, end)`.
#[cfg(test)]
type KeywordMatch = (usize, usize, usize);

/// The keyword matches in `text`: from the
/// [`KeywordMatcher`] and from an Aho–Corasick automaton (the two must agree).
#[cfg(test)]
pub(super) fn keyword_matches_both(text: &str) -> (Vec<KeywordMatch>, Vec<KeywordMatch>) {
    use aho_corasick::{AhoCorasick, MatchKind};
    let mut ours = Vec::new();
    KeywordMatcher::new().for_each(text.as_bytes(), |k, s, e| ours.push((k, s, e)));
    let ac = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(KEYWORDS.iter().map(|(k, _)| k))
        .expect("static keyword set builds");
    let theirs = ac.find_iter(text).map(|m| (m.pattern().as_usize(), m.start(), m.end())).collect();
    (ours, theirs)
}

/// All trigger keywords (for tests that build texts out of them).
#[cfg(test)]
pub(super) fn keywords() -> impl Iterator<Item = &'static str> {
    KEYWORDS.iter().map(|(k, _)| *k)
}

/// The structural pass's candidates over `text`: with skipping and quick rejection of numbers,
/// and step by step with every detector at every number (the two must agree).
#[cfg(test)]
pub(super) fn structural_both(text: &str) -> (Vec<Cand>, Vec<Cand>) {
    let run = |every: bool| {
        let mut out = Vec::new();
        let mut cx = Ctx::new(text.as_bytes(), u32::MAX, &mut out, every);
        if every {
            cx.structural_every_step();
        } else {
            cx.structural();
        }
        out
    };
    (run(false), run(true))
}

impl<'a> Ctx<'a> {
    /// A fresh context over `b` (no runs remembered yet).
    fn new(b: &'a [u8], mask: u32, out: &'a mut Vec<Cand>, exhaustive: bool) -> Self {
        Ctx {
            b,
            mask,
            out,
            fwd: std::array::from_fn(|_| Cell::new(NO_RUN)),
            back: std::array::from_fn(|_| Cell::new(NO_RUN)),
            last_at: Cell::new((usize::MAX, 0, usize::MAX)),
            pem_end: Cell::new(NO_RUN),
            exhaustive,
        }
    }

    #[inline]
    fn on(&self, bit: u32) -> bool {
        self.mask & (1 << bit) != 0
    }

    fn push(&mut self, bit: u32, entity: EntityType, start: usize, end: usize) {
        if self.on(bit) && end > start {
            self.out.push(Cand { entity, start, end });
        }
    }

    #[inline]
    fn at(&self, i: usize) -> u8 {
        if i < self.b.len() {
            self.b[i]
        } else {
            0
        }
    }

    fn word_end(&self, mut i: usize) -> usize {
        while i < self.b.len() && is_word(self.b[i]) {
            i += 1;
        }
        i
    }

    fn run(&self, mut i: usize, f: impl Fn(u8) -> bool) -> usize {
        while i < self.b.len() && f(self.b[i]) {
            i += 1;
        }
        i
    }

    /// The bytes of `kind` from `i` on: where they stop. Remembered: a run starting inside the
    /// last run of the same kind ends where that one ended.
    fn run_of(&self, kind: Run, i: usize) -> usize {
        let memo = &self.fwd[kind as usize];
        let (s0, e0) = memo.get();
        if s0 <= i && i <= e0 {
            return e0;
        }
        let e = self.run(i, |c| kind.has(c));
        memo.set((i, e));
        e
    }

    /// The bytes of `kind` just before `i`: where they start. Remembered: walking back from a
    /// later point reaches the last starting point, whose answer then holds.
    fn back_of(&self, kind: Run, i: usize) -> usize {
        let memo = &self.back[kind as usize];
        let (p0, s0) = memo.get();
        let mut j = i;
        while j > 0 && kind.has(self.b[j - 1]) {
            if j == p0 {
                j = s0;
                break;
            }
            j -= 1;
        }
        memo.set((i, j));
        j
    }

    // ------------------------------------------------------------------ structural pass

    /// The structural pass. Only words next to a [`TRIGGER`] byte can hold a structural
    /// finding, so runs of other bytes are skipped in a tight loop; where a trigger byte is
    /// found the pass backs up to the start of the word it belongs to (or ends) and takes
    /// [`Ctx::step`]s from there, exactly as a step-by-step walk would
    /// ([`Ctx::structural_every_step`], which the tests compare against).
    fn structural(&mut self) {
        let b = self.b;
        let n = b.len();
        let mut i = 0;
        while i < n {
            // `ws`: where the word holding `p` starts (not before `i`), tracked on the way
            // rather than found by walking back from the trigger: a loop that stops at a
            // data-dependent point costs a mispredicted branch, and this one would run at
            // every trigger
            let (mut p, mut ws) = (i, i);
            while p < n {
                let c = SKIP[b[p] as usize];
                if c & S_TRIGGER != 0 {
                    break;
                }
                ws = if c & S_WORD != 0 { ws } else { p + 1 };
                p += 1;
            }
            if p == n {
                break;
            }
            i = self.step(ws);
        }
    }

    /// The structural pass without skipping: a step at every word start and every other byte.
    #[cfg(test)]
    fn structural_every_step(&mut self) {
        let mut i = 0;
        while i < self.b.len() {
            i = self.step(i);
        }
    }

    /// One step of the structural pass at `i` (a word start or a byte outside words): runs the
    /// detectors that start there and returns where the pass goes on.
    #[inline]
    fn step(&mut self, i: usize) -> usize {
        let b = self.b;
        let n = b.len();
        let c = b[i];
        if is_word(c) {
            let next = if c.is_ascii_digit() {
                self.numeric(i)
            } else {
                let mut e = i;
                if is_hex(c) {
                    if let Some(x) = self.ipv6_mac(i) {
                        e = x;
                    }
                }
                if e == i && c.is_ascii_uppercase() {
                    if let Some(x) = self.iban(i) {
                        e = x;
                    }
                }
                e
            };
            if next > i {
                next.max(self.word_end(next.min(n)))
            } else {
                self.word_end(i)
            }
        } else {
            match c {
                b'@' => {
                    if let Some(e) = self.email(i) {
                        return e.max(i + 1);
                    }
                }
                b'+' | b'(' if is_digit(self.at(i + 1)) && (i == 0 || !is_word(b[i - 1])) => {
                    self.phone(i);
                }
                b':' if self.at(i + 1) == b':' && (i == 0 || !is_word(b[i - 1])) => {
                    if let Some(e) = self.ipv6_mac(i) {
                        return e;
                    }
                }
                _ => {}
            }
            i + 1
        }
    }

    /// Key of a `key=value` / `key: value` / `"key":"value"` pair whose value starts at `i`.
    fn key_before(&self, i: usize) -> &[u8] {
        key_before(self.b, i)
    }

    fn phone_key(key: &[u8]) -> bool {
        [&b"phone"[..], b"tel", b"mobile", b"msisdn", b"sms", b"fax", b"cell"].iter().any(|w| contains_ci(key, w))
    }

    /// Phrase context right before `i`: "sms sent to 5551234567", "call 555...", "tel. 0...".
    fn phone_phrase(&self, i: usize) -> bool {
        const STRONG: &[&[u8]] = &[
            b"phone",
            b"sms",
            b"call",
            b"calling",
            b"tel",
            b"mobile",
            b"cell",
            b"fax",
            b"whatsapp",
            b"text",
            b"dial",
            b"dialed",
            b"dialing",
            b"telephone",
            b"contact",
        ];
        const LAST: &[&[u8]] = &[b"to", b"number", b"no", b"on", b"at", b"from"];
        let b = self.b;
        let mut j = i;
        let mut words = 0;
        let mut strong = false;
        let mut last_ok = false;
        while words < 3 {
            // skip separators (only spaces and light punctuation)
            let mut skipped = 0;
            while j > 0 && matches!(b[j - 1], b' ' | b':' | b'.' | b'#' | b'=') && skipped < 3 {
                j -= 1;
                skipped += 1;
            }
            let we = j;
            while j > 0 && b[j - 1].is_ascii_alphabetic() {
                j -= 1;
            }
            if j == we || (j > 0 && is_word(b[j - 1])) {
                break;
            }
            let w = lower(&b[j..we]);
            let is_strong = STRONG.contains(&&*w);
            if words == 0 {
                last_ok = is_strong || LAST.contains(&&*w);
                if !last_ok {
                    // the word right before decides: no need to look further back
                    return false;
                }
            }
            strong |= is_strong;
            words += 1;
        }
        last_ok && strong
    }

    /// Handles a digit at a word start. Returns where scanning continues.
    fn numeric(&mut self, i: usize) -> usize {
        let b = self.b;
        // Most numbers in logs are short and followed by a letter, a space and a word, or
        // punctuation no detector continues over: none of the detectors below can match then
        // (each needs 7+ digits, or a `.`/`-`/`:`/`/`/`(`, a hex letter, or a space and a
        // digit or `(` right after the digits).
        if !self.exhaustive {
            let dl = self.run(i, is_digit) - i;
            let c1 = self.at(i + dl);
            let c2 = self.at(i + dl + 1);
            let may_match = dl >= 7
                || matches!(c1, b'.' | b'-' | b':' | b'/' | b'(')
                || (c1 == b' ' && (is_digit(c2) || c2 == b'('))
                || c1.is_ascii_hexdigit();
            if !may_match {
                return self.word_end(i);
            }
        }
        // part of a larger dotted/dashed token (uuid tail, version, path)
        if i >= 2 && matches!(b[i - 1], b'.' | b'-') && is_word(b[i - 2]) {
            return self.word_end(i);
        }
        if i >= 1 && b[i - 1] == b'~' {
            return self.word_end(i);
        }
        // dates dddd-dd-dd / dddd.dd.dd / dddd/dd/dd: never PII, skip
        if i + 10 <= b.len()
            && b[i..i + 4].iter().all(|c| is_digit(*c))
            && matches!(b[i + 4], b'-' | b'.' | b'/')
            && b[i + 7] == b[i + 4]
            && is_digit(b[i + 5])
            && is_digit(b[i + 6])
            && is_digit(b[i + 8])
            && is_digit(b[i + 9])
        {
            return i + 10;
        }
        if let Some(e) = self.ipv6_mac(i) {
            return e;
        }
        if let Some(e) = self.ipv4(i) {
            return e;
        }
        // An SSN has 9 digits, a card 13 and a phone 7, among the bytes counted here: most
        // numbers have fewer and skip those detectors (whose code then stays cold).
        let digits = if self.exhaustive { usize::MAX } else { self.digits_ahead(i) };
        if digits >= 9 {
            if let Some(e) = self.ssn(i) {
                return e;
            }
        }
        if digits >= 13 {
            if let Some(e) = self.card(i) {
                return e;
            }
        }
        if digits >= 7 {
            self.phone(i);
        }
        self.word_end(i)
    }

    /// The digits (up to 13) among the next 40 bytes from `i` that are digits or the
    /// separators of phones, cards and SSNs (space, `-`, `.`, `(`, `)`), up to the first other
    /// byte. Each of those detectors matches bytes of that kind only, and its first 13 digits
    /// come within 40 bytes (at most 3 separator bytes between two groups).
    fn digits_ahead(&self, i: usize) -> usize {
        let b = &self.b[i..(i + 40).min(self.b.len())];
        let mut digits = 0;
        for &c in b {
            if is_digit(c) {
                digits += 1;
                if digits == 13 {
                    break;
                }
            } else if !matches!(c, b' ' | b'-' | b'.' | b'(' | b')') {
                break;
            }
        }
        digits
    }

    fn ipv4(&mut self, i: usize) -> Option<usize> {
        let b = self.b;
        let mut p = i;
        for k in 0..4 {
            let s = p;
            let mut v: u32 = 0;
            while p < b.len() && is_digit(b[p]) && p - s < 4 {
                v = v * 10 + (b[p] - b'0') as u32;
                p += 1;
            }
            let l = p - s;
            if l == 0 || l > 3 || v > 255 {
                return None;
            }
            if k < 3 {
                if self.at(p) != b'.' {
                    return None;
                }
                p += 1;
            }
        }
        let c = self.at(p);
        if is_word(c) || (c == b'.' && is_digit(self.at(p + 1))) || (c == b'-' && self.at(p + 1).is_ascii_alphabetic())
        {
            return None;
        }
        // version context: previous word
        let mut j = i;
        let mut skipped = 0;
        while j > 0 && matches!(b[j - 1], b'=' | b':' | b' ' | b'"' | b'\'') && skipped < 4 {
            j -= 1;
            skipped += 1;
        }
        let we = j;
        while j > 0 && (is_word(b[j - 1]) || b[j - 1] == b'-') {
            j -= 1;
        }
        let w = &b[j..we];
        const VER: &[&[u8]] = &[b"version", b"ver", b"release", b"build", b"firmware", b"kernel"];
        let wl: &[u8] = &lower(w);
        if VER.iter().any(|v| wl == *v || wl.ends_with(b"version") || wl.ends_with(b"_ver")) {
            return None;
        }
        self.push(B_IPV4, EntityType::Ipv4, i, p);
        Some(p)
    }

    fn ipv6_mac(&mut self, i: usize) -> Option<usize> {
        let b = self.b;
        // inside a longer colon/dash-separated token (e.g. a 12-group chip id)
        if i > 0 && b[i] != b':' && matches!(b[i - 1], b':' | b'-' | b'.') {
            return None;
        }
        // cheap pre-check: ':' within the first 5 bytes, or "hh-" for a dashed MAC
        let lim = (i + 5).min(b.len());
        // A loop, not `contains` (memchr): on 5 bytes the call costs more than it finds.
        #[allow(clippy::manual_contains)]
        let has_colon = b[i..lim].iter().any(|&c| c == b':');
        let dashed = self.at(i + 2) == b'-' && is_hex(self.at(i + 1));
        if !has_colon && !dashed {
            return None;
        }
        if dashed {
            // hh-hh-hh-hh-hh-hh
            if i + 17 <= b.len()
                && (0..6).all(|g| is_hex(b[i + 3 * g]) && is_hex(b[i + 3 * g + 1]))
                && (0..5).all(|g| b[i + 3 * g + 2] == b'-')
                && !is_word(self.at(i + 17))
                && !(self.at(i + 17) == b'-' && is_hex(self.at(i + 18)))
            {
                self.push(B_MAC, EntityType::Mac, i, i + 17);
                return Some(i + 17);
            }
            if !has_colon {
                return None;
            }
        }
        let mut e = self.run_of(Run::HexColon, i);
        // longer than any IPv6 text (39 bytes): not one, and not worth splitting into groups
        if is_word(self.at(e)) || e - i > 48 {
            return None;
        }
        // trailing single ':' (e.g. "addr: " or "]:443" handled by ']') is not part of it
        if e > i && b[e - 1] == b':' && !(e >= 2 && b[e - 2] == b':') {
            e -= 1;
        }
        let tok = &b[i..e];
        if tok.len() < 3 {
            return None;
        }
        let mut groups = 0usize;
        let mut empty = 0usize;
        let mut all2 = true;
        let mut has_digit = false;
        let mut dbl = 0;
        for g in tok.split(|c| *c == b':') {
            if g.len() > 4 {
                return None;
            }
            if g.is_empty() {
                empty += 1;
            } else {
                groups += 1;
                if g.len() != 2 {
                    all2 = false;
                }
                if g.iter().any(|c| c.is_ascii_digit()) {
                    has_digit = true;
                }
            }
        }
        if tok.windows(2).any(|w| w == b"::") {
            dbl = tok.windows(2).filter(|w| *w == b"::").count();
        }
        if tok.windows(3).any(|w| w == b":::") {
            return None;
        }
        if dbl == 0 && empty == 0 {
            if groups == 6 && all2 {
                self.push(B_MAC, EntityType::Mac, i, e);
                return Some(e);
            }
            if groups == 8 {
                self.push(B_IPV6, EntityType::Ipv6, i, e);
                return Some(e);
            }
            return None;
        }
        if dbl == 1 && (1..=7).contains(&groups) && has_digit {
            // "a::b" with only 1 group on each side needs a digit; leading/trailing "::"
            // produce one extra empty piece each, the "::" itself one.
            let max_empty = 1 + usize::from(tok.starts_with(b"::")) + usize::from(tok.ends_with(b"::"));
            if empty <= max_empty && (groups >= 2 || tok == b"::1") {
                self.push(B_IPV6, EntityType::Ipv6, i, e);
                return Some(e);
            }
        }
        None
    }

    #[inline(never)]
    fn ssn(&mut self, i: usize) -> Option<usize> {
        let b = self.b;
        if i + 11 <= b.len()
            && b[i + 3] == b'-'
            && b[i + 6] == b'-'
            && [0, 1, 2, 4, 5, 7, 8, 9, 10].iter().all(|&k| is_digit(b[i + k]))
        {
            let e = i + 11;
            if is_word(self.at(e)) || (self.at(e) == b'-' && is_digit(self.at(e + 1))) {
                return None;
            }
            let area = &b[i..i + 3];
            if area == b"000"
                || area == b"666"
                || area[0] == b'9'
                || &b[i + 4..i + 6] == b"00"
                || &b[i + 7..i + 11] == b"0000"
            {
                return None;
            }
            if id_like_key(self.key_before(i)) {
                return None;
            }
            self.push(B_SSN, EntityType::UsSsn, i, e);
            return Some(e);
        }
        // 9 bare digits after an ssn key
        let e = self.run(i, is_digit);
        if e - i == 9 && !is_word(self.at(e)) {
            let key = self.key_before(i);
            if contains_ci(key, b"ssn") || contains_ci(key, b"social") {
                self.push(B_SSN, EntityType::UsSsn, i, e);
                return Some(e);
            }
        }
        None
    }

    #[inline(never)]
    fn card(&mut self, i: usize) -> Option<usize> {
        let b = self.b;
        if !(b'2'..=b'6').contains(&b[i]) {
            return None;
        }
        let mut digits = [0u8; 19];
        let mut nd = 0usize;
        let mut ends: [(usize, usize, usize); 8] = [(0, 0, 0); 8]; // (end pos, digits so far, group len)
        let mut ng = 0usize;
        let mut p = i;
        let mut sep = 0u8;
        loop {
            let s = p;
            let mut overflow = false;
            while p < b.len() && is_digit(b[p]) {
                if nd == 19 {
                    overflow = true;
                    break;
                }
                digits[nd] = b[p] - b'0';
                nd += 1;
                p += 1;
            }
            if overflow {
                // A run of 20+ digits is no card; a later group that overflows is just the
                // next number (`4111111111111111 00000`): judge the groups before it.
                if ng == 0 {
                    return None;
                }
                break;
            }
            if p == s {
                return None;
            }
            ends[ng] = (p, nd, p - s);
            ng += 1;
            let c = self.at(p);
            if ng < 8 && (c == b' ' || c == b'-') && (sep == 0 || sep == c) && is_digit(self.at(p + 1)) {
                sep = c;
                p += 1;
            } else {
                break;
            }
        }
        if nd < 13 && ng == 1 {
            return None;
        }
        for k in (0..ng).rev() {
            let (e, d, _) = ends[k];
            if !(13..=19).contains(&d) {
                continue;
            }
            if is_word(self.at(e)) {
                continue;
            }
            if k == 0 && (self.at(e) == b'.' || self.at(e) == b'-') && is_digit(self.at(e + 1)) {
                continue;
            }
            if k > 0 {
                // grouped: first group 4 digits, middle groups 4-6, last 1-6
                let ok = ends[0].2 == 4 && (1..k).all(|g| (4..=6).contains(&ends[g].2)) && ends[k].2 <= 6;
                if !ok {
                    continue;
                }
            }
            let ds = &digits[..d];
            if !iin_ok(ds) || !luhn(ds) {
                continue;
            }
            let key = self.key_before(i);
            let kl: &[u8] = &lower(key);
            let cardish = contains_ci(key, b"card")
                || matches!(kl, b"pan" | b"cc" | b"ccn" | b"cc_number")
                || kl.ends_with(b"_pan")
                || kl.ends_with(b"_cc");
            if !cardish && id_like_key(key) {
                return None;
            }
            self.push(B_CARD, EntityType::CreditCard, i, e);
            return Some(e);
        }
        None
    }

    /// Phone numbers starting at `i` (a digit, `+` or `(`). Pushes a candidate if valid.
    fn phone(&mut self, i: usize) {
        let b = self.b;
        let plus = b[i] == b'+';
        let mut p = if plus { i + 1 } else { i };
        // groups: (start, end, digit count, paren, separator before)
        let mut groups: [(usize, usize, bool, u8); 8] = [(0, 0, false, 0); 8];
        let mut ng = 0;
        let mut nd = 0;
        let mut sep_before = 0u8;
        loop {
            if self.at(p) == b'(' {
                let s = p + 1;
                let e = self.run(s, is_digit);
                if e == s || e - s > 4 || self.at(e) != b')' {
                    break;
                }
                groups[ng] = (s, e + 1, true, sep_before);
                nd += e - s;
                ng += 1;
                p = e + 1;
            } else {
                let s = p;
                let e = self.run(s, is_digit);
                if e == s {
                    break;
                }
                groups[ng] = (s, e, false, sep_before);
                nd += e - s;
                ng += 1;
                p = e;
            }
            if ng == 8 || nd > 15 {
                break;
            }
            let c = self.at(p);
            let last_paren = groups[ng - 1].2;
            if matches!(c, b' ' | b'-' | b'.') && (is_digit(self.at(p + 1)) || self.at(p + 1) == b'(') {
                sep_before = c;
                p += 1;
            } else if (last_paren && is_digit(c)) || (c == b'(' && is_digit(self.at(p + 1))) {
                sep_before = 0;
            } else {
                break;
            }
        }
        if ng == 0 || nd < 7 {
            return;
        }
        let key = self.key_before(i);
        let keyed = Self::phone_key(key) || self.phone_phrase(i);
        if !keyed && id_like_key(key) {
            return;
        }
        let mut lens = [0usize; 8];
        for (l, g) in lens.iter_mut().zip(&groups[..ng]) {
            *l = g.1 - g.0 - usize::from(g.2);
        }
        for k in (0..ng).rev() {
            let end = groups[k].1;
            let d: usize = lens[..=k].iter().sum();
            let nxt = self.at(end);
            if is_word(nxt) && nxt != b'x' {
                continue;
            }
            if matches!(nxt, b'.' | b'-' | b':' | b'/') && is_word(self.at(end + 1)) && k + 1 == ng {
                // followed by more token (e.g. a date or version) – not a phone
                if nxt != b'.' || is_digit(self.at(end + 1)) {
                    continue;
                }
            }
            let mut sep_buf = [0u8; 8];
            for (sb, g) in sep_buf.iter_mut().zip(&groups[1..=k]) {
                *sb = g.3;
            }
            let seps = &sep_buf[..k];
            let first_paren = groups[0].2;
            let ok = if plus {
                (8..=15).contains(&d) && (lens[0] <= 5 || k == 0) && !first_paren
            } else if first_paren {
                (10..=11).contains(&d) && (3..=5).contains(&lens[0])
            } else if keyed {
                (7..=15).contains(&d)
            } else {
                let nanp = |ls: &[usize]| ls == [3, 3, 4];
                let uni_sep = seps.windows(2).all(|w| w[0] == w[1]);
                let nanp_ok = uni_sep
                    && seps.first().is_some_and(|s| matches!(s, b'-' | b'.' | b' '))
                    && (nanp(&lens[..=k])
                        || (k == 3
                            && nanp(&lens[1..=3])
                            && (&b[groups[0].0..groups[0].1] == b"1" || &b[groups[0].0..groups[0].1] == b"001")));
                let trunk = b[groups[0].0] == b'0'
                    && (10..=11).contains(&d)
                    && k <= 3
                    && seps.iter().all(|s| *s == b' ')
                    && (k == 0 || ((3..=5).contains(&lens[0]) && lens[1..=k].iter().all(|l| (3..=8).contains(l))));
                nanp_ok || trunk
            };
            if !ok {
                continue;
            }
            // extension
            let mut e = end;
            if k + 1 == ng && self.at(e) == b'x' && is_digit(self.at(e + 1)) {
                let x = self.run(e + 1, is_digit);
                if x - e - 1 <= 5 && !is_word(self.at(x)) {
                    e = x;
                }
            }
            if is_word(self.at(e)) {
                continue;
            }
            self.push(B_PHONE, EntityType::Phone, i, e);
            return;
        }
    }

    #[inline(never)]
    fn iban(&mut self, i: usize) -> Option<usize> {
        let b = self.b;
        if i + 15 > b.len() || !b[i + 1].is_ascii_uppercase() || !is_digit(b[i + 2]) || !is_digit(b[i + 3]) {
            return None;
        }
        let ibanc = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit();
        // collect chars, allowing single spaces between groups of 4
        let mut chars: Vec<u8> = Vec::with_capacity(34);
        let mut cut: Vec<(usize, usize)> = Vec::new(); // (end pos, char count) candidate ends
        let mut p = i;
        let compact_end = self.run(i, ibanc);
        if compact_end - i >= 15 {
            if compact_end - i > 34 || is_word(self.at(compact_end)) {
                return None;
            }
            chars.extend_from_slice(&b[i..compact_end]);
            cut.push((compact_end, chars.len()));
        } else if compact_end - i == 4 {
            // grouped form "GB82 WEST 1234 ..."
            loop {
                let e = self.run(p, ibanc);
                if e - p == 0 || e - p > 4 || chars.len() + (e - p) > 34 {
                    break;
                }
                chars.extend_from_slice(&b[p..e]);
                if chars.len() >= 15 && !is_word(self.at(e)) {
                    cut.push((e, chars.len()));
                }
                if e - p == 4 && self.at(e) == b' ' && ibanc(self.at(e + 1)) {
                    p = e + 1;
                } else {
                    break;
                }
            }
        } else {
            return None;
        }
        for &(e, l) in cut.iter().rev() {
            if mod97_ok(&chars[..l]) {
                self.push(B_IBAN, EntityType::Iban, i, e);
                return Some(e);
            }
        }
        None
    }

    #[inline(never)]
    fn email(&mut self, at: usize) -> Option<usize> {
        let b = self.b;
        let local = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-');
        let mut s = at;
        while s > 0 && local(b[s - 1]) {
            s -= 1;
        }
        while s < at && matches!(b[s], b'.' | b'-') {
            s += 1;
        }
        if s == at {
            return None;
        }
        let dom = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'.';
        let mut e = self.run(at + 1, dom);
        while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let valid = |d: &[u8]| {
            d.iter().rposition(|c| *c == b'.').is_some_and(|last_dot| {
                let tld = &d[last_dot + 1..];
                last_dot > 0
                    && tld.len() >= 2
                    && tld.iter().all(|c| c.is_ascii_alphabetic())
                    && !d.windows(2).any(|w| w == b"..")
            })
        };
        // The whole run, else its longest prefix that ends a domain before a `-` or `.`
        // (`bob@example.com-2`: the address is `bob@example.com`).
        let e = std::iter::once(e)
            .chain((at + 2..e).rev().filter(|i| matches!(b[*i], b'-' | b'.')))
            .find(|end| valid(&b[at + 1..*end]))?;
        self.push(B_EMAIL, EntityType::Email, s, e);
        Some(e)
    }

    // ------------------------------------------------------------------ keyword pass

    fn keyword(&mut self, kw: Kw, ms: usize, me: usize) {
        let b = self.b;
        let prev_word = ms > 0 && b[ms - 1].is_ascii_alphanumeric();
        match kw {
            Kw::Secret => self.secret_kv(ms, me),
            Kw::Bearer | Kw::Basic => {
                if prev_word || self.at(me) != b' ' {
                    return;
                }
                if kw == Kw::Basic {
                    let from = ms.saturating_sub(40);
                    if !contains_ci(&b[from..ms], b"authorization") {
                        return;
                    }
                }
                let s = self.run(me, |c| c == b' ');
                let tokc = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
                let mut e = self.run(s, tokc);
                e = self.run(e, |c| c == b'=');
                let v = &b[s..e];
                let has_digit = v.iter().any(|c| c.is_ascii_digit());
                let min = if kw == Kw::Basic { 4 } else { 8 };
                if v.len() >= min && (has_digit || v.len() >= 16 || kw == Kw::Basic) {
                    self.push(B_AUTH, EntityType::AuthHeader, s, e);
                }
            }
            Kw::AwsAk => {
                let e = ms + 20;
                if !prev_word
                    && e <= b.len()
                    && b[ms..me].iter().all(|c| c.is_ascii_uppercase())
                    && b[me..e].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                    && !is_word(self.at(e))
                {
                    self.push(B_AWS_AK, EntityType::AwsAccessKey, ms, e);
                }
            }
            Kw::Aws => {
                // a 40-char base64-ish value shortly after an "aws" mention
                let lim = (me + 64).min(b.len());
                let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'/' || c == b'+';
                let mut p = me;
                while p < lim {
                    if b64(b[p]) && (p == 0 || matches!(b[p - 1], b'=' | b':' | b' ' | b'"' | b'\'')) {
                        let e = self.run(p, b64);
                        if e - p == 40 && !is_word(self.at(e)) && mixed(&b[p..e]) {
                            self.push(B_AWS_SK, EntityType::AwsSecretKey, p, e);
                            return;
                        }
                        p = e;
                    } else {
                        p += 1;
                    }
                }
            }
            Kw::Github | Kw::GithubPat | Kw::Gitlab | Kw::Stripe => {
                if prev_word || !b[ms..me].iter().all(|c| !c.is_ascii_uppercase()) {
                    return;
                }
                let (min, chars) = match kw {
                    Kw::Github => (30, Run::Alnum),
                    Kw::GithubPat => (20, Run::AlnumUnderscore),
                    Kw::Gitlab => (20, Run::AlnumUnderscoreDash),
                    _ => (10, Run::Alnum),
                };
                let e = self.run_of(chars, me);
                if e - me >= min && !is_word(self.at(e)) {
                    self.push(B_API, EntityType::ApiToken, ms, e);
                }
            }
            Kw::Slack => {
                let t = self.at(me);
                if prev_word || &b[ms..me] != b"xox" || !b"abeprs".contains(&t) || self.at(me + 1) != b'-' {
                    return;
                }
                let e = self.run_of(Run::AlnumDash, me + 2);
                if e - me - 2 >= 10 {
                    self.push(B_API, EntityType::ApiToken, ms, e);
                }
            }
            Kw::OpenAi => {
                if &b[ms..me] != b"sk-" || (ms > 0 && (is_word(b[ms - 1]) || b[ms - 1] == b'-')) {
                    return;
                }
                let e = self.run_of(Run::AlnumUnderscoreDash, me);
                let v = &b[me..e];
                if v.len() >= 20 && v.iter().any(|c| c.is_ascii_digit()) && v.iter().any(|c| c.is_ascii_alphabetic()) {
                    self.push(B_API, EntityType::ApiToken, ms, e);
                }
            }
            Kw::Jwt => {
                if &b[ms..me] != b"eyJ" || (ms > 0 && (is_word(b[ms - 1]) || b[ms - 1] == b'-')) {
                    return;
                }
                let seg = Run::AlnumUnderscoreDash;
                let e1 = self.run_of(seg, me);
                if e1 - ms < 10 || self.at(e1) != b'.' {
                    return;
                }
                let e2 = self.run_of(seg, e1 + 1);
                if e2 - e1 - 1 < 2 || self.at(e2) != b'.' {
                    return;
                }
                let e3 = self.run_of(seg, e2 + 1);
                self.push(B_JWT, EntityType::Jwt, ms, e3);
            }
            Kw::Pem => {
                if &b[ms..ms + 10] != b"-----BEGIN" {
                    return;
                }
                let hdr_end = find(b, me, b"-----").unwrap_or(b.len());
                if !contains_ci(&b[me..hdr_end], b"PRIVATE KEY") {
                    return;
                }
                let end = match self.pem_footer(hdr_end + 5) {
                    Some(p) => find(b, p + 8, b"-----").map(|q| q + 5).unwrap_or(b.len()),
                    None => b.len(),
                };
                self.push(B_PEM, EntityType::PrivateKey, ms, end);
            }
            Kw::Url => {
                if self.back_of(Run::Scheme, ms) == ms {
                    return;
                }
                let auth_end = self.run_of(Run::Authority, me);
                let Some(at) = self.last_at_in(me, auth_end) else {
                    return;
                };
                let Some(colon) = b[me..at].iter().position(|c| *c == b':').map(|p| me + p) else {
                    return;
                };
                if at > colon + 1 {
                    self.push(B_PASSWORD, EntityType::Password, colon + 1, at);
                }
            }
            Kw::User => self.user(ms, me),
            Kw::Home => {
                let s = me;
                let e = self.run(s, |c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'$'));
                if e == s {
                    return;
                }
                let seg = &b[s..e];
                if [&b"shared"[..], b"public", b"default", b"all users"].iter().any(|w| seg.eq_ignore_ascii_case(w)) {
                    return;
                }
                if b[ms] == b'/' && &b[ms..me] != b"/home/" && &b[ms..me] != b"/Users/" {
                    return;
                }
                self.push(B_HOME, EntityType::HomePath, s, e);
            }
        }
    }

    /// `key=value` style secrets.
    fn secret_kv(&mut self, ms: usize, me: usize) {
        let b = self.b;
        let ks = self.back_of(Run::KeyIdent, ms);
        let ke = self.run_of(Run::KeyIdent, me);
        if ke - ks > MAX_KEY {
            return;
        }
        let key: &[u8] = &lower(&b[ks..ke]);
        // OpenSSH "Failed/Accepted password for X from ..."
        if key == b"password" && b[ke..].starts_with(b" for ") {
            let s = ke + 5;
            let e = self.run(s, |c| !c.is_ascii_whitespace());
            let v = &b[s..e];
            if !v.is_empty()
                && !v.eq_ignore_ascii_case(b"invalid")
                && !v.eq_ignore_ascii_case(b"illegal")
                && !v.eq_ignore_ascii_case(b"user")
                && b[e..].starts_with(b" from")
            {
                self.push(B_USER, EntityType::Username, s, e);
            }
            return;
        }
        if !secret_key(key) {
            return;
        }
        let Some((s, e)) = self.value_after(ke) else {
            return;
        };
        let v = &b[s..e];
        if trivial_value(v)
            || v.eq_ignore_ascii_case(b"bearer")
            || v.eq_ignore_ascii_case(b"basic")
            || v.eq_ignore_ascii_case(&b[ks..ke])
            || v.starts_with(b"{")
        {
            return;
        }
        let aws_secret = v.len() == 40
            && v.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'/' || *c == b'+')
            && mixed(v)
            && (contains_ci(key, b"aws") || contains_ci(key, b"secret"));
        if aws_secret {
            self.push(B_AWS_SK, EntityType::AwsSecretKey, s, e);
        } else {
            self.push(B_PASSWORD, EntityType::Password, s, e);
        }
    }

    /// The value of a `key=value` / `key: value` / `"key": "value"` pair whose key ends at `ke`.
    fn value_after(&self, ke: usize) -> Option<(usize, usize)> {
        let b = self.b;
        let mut p = ke;
        if matches!(self.at(p), b'"' | b'\'') {
            p += 1;
        }
        p = self.run_of(Run::Blank, p);
        match self.at(p) {
            b'=' => {
                p += 1;
                // "key= value" is an empty value followed by something else; "key = value" is not
                if b[p - 2] == b' ' {
                    p = self.run_of(Run::Blank, p);
                }
            }
            b':' => {
                p += 1;
                if self.at(p) == b'=' {
                    p += 1;
                }
                p = self.run_of(Run::Blank, p);
            }
            _ => return None,
        }
        let q = self.at(p);
        if q == b'"' || q == b'\'' {
            let s = p + 1;
            let e = self.run_of(if q == b'"' { Run::InDouble } else { Run::InSingle }, s);
            return (e > s).then_some((s, e));
        }
        let s = p;
        let e = self.run_of(Run::Bare, s);
        (e > s).then_some((s, e))
    }

    /// The last `@` in `from..end` (remembered per `end`: URL matches inside one authority ask
    /// about the same one, from later and later starts).
    fn last_at_in(&self, from: usize, end: usize) -> Option<usize> {
        // (end, low, at): the last `@` in `low..end` is `at` (usize::MAX: there is none)
        let (e0, low, at0) = self.last_at.get();
        let at = if e0 == end && (at0 != usize::MAX || from >= low) {
            at0
        } else {
            // only the part not yet searched: below `low` for the same end
            let top = if e0 == end { low } else { end };
            let at = self.b[from..top].iter().rposition(|c| *c == b'@').map_or(usize::MAX, |p| from + p);
            self.last_at.set((end, from, at));
            at
        };
        (at != usize::MAX && at >= from).then_some(at)
    }

    /// The first PEM footer (`-----END`) at or after `from` (remembered: a later search from
    /// before the last footer found, or after a failed search, has the same answer).
    fn pem_footer(&self, from: usize) -> Option<usize> {
        let (f0, at0) = self.pem_end.get();
        if f0 <= from && (at0 == usize::MAX || from <= at0) {
            return (at0 != usize::MAX).then_some(at0);
        }
        let at = find(self.b, from, b"-----END");
        self.pem_end.set((from, at.unwrap_or(usize::MAX)));
        at
    }

    fn user(&mut self, ms: usize, me: usize) {
        let b = self.b;
        let ks = self.back_of(Run::UserIdent, ms);
        let ke = self.run_of(Run::UserIdent, me);
        if ke - ks > MAX_KEY {
            return;
        }
        let key: &[u8] = &lower(&b[ks..ke]);
        const KEYS: &[&[u8]] =
            &[b"user", b"username", b"user_name", b"login", b"ruser", b"login_name", b"userid", b"user-name"];
        if KEYS.contains(&key) {
            if let Some((s, e)) = self.value_after(ke) {
                let v = &b[s..e];
                if !trivial_value(v) && !v.iter().all(|c| c.is_ascii_digit()) {
                    self.push(B_USER, EntityType::Username, s, e);
                }
                return;
            }
        }
        if key != b"user" || self.at(ke) != b' ' {
            return;
        }
        // previous word
        let mut j = ks;
        while j > 0 && b[j - 1] == b' ' {
            j -= 1;
        }
        let pe = j;
        while j > 0 && b[j - 1].is_ascii_alphabetic() {
            j -= 1;
        }
        let pw: &[u8] = &lower(&b[j..pe]);
        if !matches!(pw, b"for" | b"invalid" | b"illegal" | b"unknown") {
            return;
        }
        let s = ke + 1;
        let mut e = self.run_of(Run::UserValue, s);
        while e > s && matches!(b[e - 1], b'.' | b':') {
            e -= 1;
        }
        let v = &b[s..e];
        if v.is_empty() || v.eq_ignore_ascii_case(b"from") || trivial_value(v) {
            return;
        }
        self.push(B_USER, EntityType::Username, s, e);
    }
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

fn mixed(v: &[u8]) -> bool {
    v.iter().any(|c| c.is_ascii_lowercase())
        && v.iter().any(|c| c.is_ascii_uppercase())
        && v.iter().any(|c| c.is_ascii_digit())
}

fn secret_key(key: &[u8]) -> bool {
    const YES: &[&[u8]] = &[
        b"password",
        b"passwd",
        b"passphrase",
        b"pwd",
        b"secret",
        b"token",
        b"apikey",
        b"api_key",
        b"api-key",
        b"credential",
        b"private_key",
        b"privatekey",
    ];
    const NO: &[&[u8]] = &[
        b"count",
        b"type",
        b"expir",
        b"ttl",
        b"length",
        b"max",
        b"limit",
        b"usage",
        b"_id",
        b"file",
        b"path",
        b"url",
        b"uri",
        b"endpoint",
        b"policy",
        b"reset",
        b"hint",
        b"prompt",
        b"name",
        b"format",
        b"mode",
        b"enabled",
        b"required",
        b"changed",
        b"valid",
        b"status",
        b"tokens",
        b"tokeniz",
        b"_len",
        b"size",
        b"age",
    ];
    let yes = YES.iter().any(|w| contains_ci(key, w))
        || key == b"pass"
        || key.ends_with(b"_pass")
        || key.ends_with(b"-pass")
        || key.ends_with(b".pass");
    yes && !NO.iter().any(|w| contains_ci(key, w))
}

fn trivial_value(v: &[u8]) -> bool {
    if v.is_empty() || v.iter().all(|c| matches!(c, b'*' | b'x' | b'X' | b'-' | b'.' | b'#')) {
        return true;
    }
    if v.first() == Some(&b'<') && v.last() == Some(&b'>') {
        return true;
    }
    const T: &[&[u8]] = &[
        b"null",
        b"none",
        b"nil",
        b"true",
        b"false",
        b"redacted",
        b"[redacted]",
        b"(null)",
        b"undefined",
        b"empty",
        b"n/a",
    ];
    T.iter().any(|t| v.eq_ignore_ascii_case(t))
}

/// Luhn checksum over decimal digits.
pub(super) fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, &x) in d.iter().rev().enumerate() {
        let mut v = x as u32;
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Known card issuer prefixes (Visa, Mastercard incl. 2221–2720, Amex, Diners, Discover,
/// JCB, UnionPay, Maestro).
fn iin_ok(d: &[u8]) -> bool {
    let n2 = (d[0] as u32) * 10 + d[1] as u32;
    let n4 = n2 * 100 + (d[2] as u32) * 10 + d[3] as u32;
    let n3 = n4 / 10;
    let len = d.len();
    match d[0] {
        4 => matches!(len, 13 | 16 | 19),
        5 => ((51..=55).contains(&n2) && len == 16) || matches!(n2, 50 | 56..=58),
        2 => (2221..=2720).contains(&n4) && len == 16,
        3 => {
            (matches!(n2, 34 | 37) && len == 15)
                || ((300..=305).contains(&n3) || matches!(n2, 36 | 38 | 39)) && (14..=19).contains(&len)
                || (3528..=3589).contains(&n4) && (16..=19).contains(&len)
        }
        6 => (n4 == 6011 || n2 == 65 || (644..=649).contains(&n3) || n2 == 62 || n2 == 67) && (16..=19).contains(&len),
        _ => false,
    }
}

/// ISO 13616 mod-97 check over an IBAN without spaces.
pub(super) fn mod97_ok(s: &[u8]) -> bool {
    if s.len() < 15 || !s[..2].iter().all(|c| c.is_ascii_uppercase()) {
        return false;
    }
    let mut r: u32 = 0;
    for &c in s[4..].iter().chain(s[..4].iter()) {
        if c.is_ascii_digit() {
            r = (r * 10 + (c - b'0') as u32) % 97;
        } else if c.is_ascii_uppercase() {
            let v = (c - b'A') as u32 + 10;
            r = (r * 100 + v) % 97;
        } else {
            return false;
        }
    }
    r == 1
}

/// Key of a `key=value` / `key: value` / `"key":"value"` pair whose value starts at `i`.
pub(super) fn key_before(b: &[u8], i: usize) -> &[u8] {
    let mut j = i;
    if j > 0 && (b[j - 1] == b'"' || b[j - 1] == b'\'') {
        j -= 1;
    }
    while j > 0 && b[j - 1] == b' ' {
        j -= 1;
    }
    if j == 0 || !(b[j - 1] == b'=' || b[j - 1] == b':') {
        return &[];
    }
    j -= 1;
    while j > 0 && b[j - 1] == b' ' {
        j -= 1;
    }
    if j > 0 && (b[j - 1] == b'"' || b[j - 1] == b'\'') {
        j -= 1;
    }
    let e = j;
    while j > 0 && Run::KeyIdent.has(b[j - 1]) {
        j -= 1;
    }
    &b[j..e]
}

/// Whether numbers after this key are identifiers, never cards, phones or SSNs (unless the
/// key itself says card or phone).
pub(super) fn id_like_key(key: &[u8]) -> bool {
    const ID: &[&[u8]] = &[
        b"id",
        b"trace",
        b"span",
        b"uuid",
        b"track",
        b"ref",
        b"hash",
        b"seq",
        b"offset",
        b"count",
        b"size",
        b"byte",
        b"latency",
        b"duration",
        b"_ms",
        b"port",
        b"pid",
        b"len",
        b"time",
        b"epoch",
        b"version",
        b"block",
        b"nonce",
        b"checksum",
    ];
    ID.iter().any(|w| contains_ci(key, w))
}
