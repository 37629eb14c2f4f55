//! Generic variable masking: the first, rule-based stage of template mining.
//!
//! A line's content is split on ASCII whitespace and every token is rewritten so that
//! obviously-variable parts become the placeholder `<*>`. The rules are generic (no per-source
//! regexes) and purely local to one token (plus its neighbours for units and dates), so the
//! masked form of a line does not depend on what was seen before — which is what makes
//! templates stable from the very first line:
//!
//! 1. **Whole-token variables** (after peeling wrapping brackets/quotes and trailing
//!    punctuation, which are kept): URLs (`scheme://…`), absolute paths (`/a/b`, `C:\…`),
//!    `host:port` / dotted IPs (`10.0.0.1:50010`, `qq.com:80`), clock times (`12:03:44`,
//!    `00:01`), pure numbers.
//! 2. **Partial masking** otherwise: a token is cut at "strong" delimiters
//!    (`= : , ( ) [ ] { } @ " ' ; |` and runs of two or more dots); every piece that contains a
//!    digit becomes `<*>`, so `uid=0` → `uid=<*>`, `(1902)` → `(<*>)`,
//!    `audit(1122:33)` → `audit(<*>:<*>)`, `instruction......0` → `instruction......<*>`, while
//!    ids such as `blk_-42`, `0x1f`, `appattempt_1_2` are masked as a whole piece. A piece
//!    `word-…digits…` keeps its alphabetic prefix (`node-D3` → `node-<*>`).
//! 3. **Word-like exemptions**: a piece with exactly one digit that follows at least two
//!    letters (`ssh2`, `SOCKS5`, `log4j`, `Slf4jLogger`, `metrics2.properties`) is a word, not a
//!    variable.
//! 4. **Value words**: `true`, `false`, `null` (any case) are variables wherever they appear as
//!    a piece (`isOverlap:false` → `isOverlap:<*>`).
//! 5. **Quantities**: a number followed by a size unit (`B`, `KB`, `MB`, `GB`, `TB`, `KiB` …)
//!    is one variable (`17.7 GB,` → `<*>,`), also inside brackets (`(0.14 KB)` → `(<*>)`).
//! 6. **Date runs**: a run of consecutive tokens made of capitalised weekday/month names,
//!    numbers and clock times that contains a name and at least one number
//!    (`Sun Jul 10 04:30:30 2005`) collapses into a single `<*>`.
//!
//! Non-numeric variables (user names, host names without digits) are left to the similarity
//! stage of the miner.

/// The placeholder written for a variable part.
pub const WILDCARD: &str = "<*>";

const HASH_K: u64 = 0x517c_c1b7_2722_0a95;

/// FxHash-like multiply-rotate hash over 8-byte words, the last one zero-padded (fixed,
/// platform- and process-independent; the length, mixed in first, tells the padding apart).
#[inline]
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(HASH_K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let w = rest.iter().rev().fold(0u64, |w, &b| w << 8 | u64::from(b));
        h = (h.rotate_left(5) ^ w).wrapping_mul(HASH_K);
    }
    avalanche(h)
}

/// [`hash_bytes`] of `buf[s..e]`, reading one whole 8-byte word when the token is that short
/// and the buffer goes on far enough (most tokens: one load, a mask and one multiply).
#[inline]
fn hash_span(buf: &[u8], s: usize, e: usize) -> u64 {
    let len = e - s;
    if (1..=8).contains(&len) && s + 8 <= buf.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[s..s + 8]);
        let w = u64::from_le_bytes(w) & (u64::MAX >> (64 - 8 * len));
        avalanche(((len as u64).rotate_left(5) ^ w).wrapping_mul(HASH_K))
    } else {
        hash_bytes(&buf[s..e])
    }
}

/// One step of the sequence hash: folds `x` into `h`.
#[inline]
fn seq_step(h: u64, x: u64) -> u64 {
    (h.rotate_left(23) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Final avalanche, so that low bits are usable for hash maps.
#[inline]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// A masked line: the masked tokens, stored in one buffer, with their hashes.
#[derive(Debug, Default, Clone)]
pub struct Masked {
    buf: String,
    /// Per token: where it is in `buf`, and its hash.
    spans: Vec<(u32, u32, u64)>,
    /// The token hashes folded in order, as they are pushed ([`Masked::seq_hash`] finishes
    /// it): the fold overlaps the masking instead of running as a loop after it.
    seq: u64,
    // scratch: per token flags used by the date-run pass (up to the last token with one)
    flags: Vec<u8>,
}

const F_NAME: u8 = 1; // weekday / month name
const F_NUM: u8 = 2; // pure number or clock time
const F_SAME: u8 = 0x80; // returned by `mask_token`: the token stays as it is, nothing written

impl Masked {
    /// Creates an empty buffer (reuse it across lines to avoid allocations).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when the line had no tokens.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`-th masked token.
    pub fn token(&self, i: usize) -> &str {
        let (s, e, _) = self.spans[i];
        &self.buf[s as usize..e as usize]
    }

    /// Hash of the `i`-th masked token (see [`hash_token`]).
    pub fn hash(&self, i: usize) -> u64 {
        self.spans[i].2
    }

    /// Hash of the whole masked token sequence.
    pub fn seq_hash(&self) -> u64 {
        seq_step(self.seq, self.spans.len() as u64)
    }

    /// Iterates over the masked tokens.
    pub fn tokens(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(move |i| self.token(i))
    }

    /// The masked line, tokens joined by one space.
    pub fn joined(&self) -> String {
        let mut s = String::with_capacity(self.buf.len() + self.len());
        for (i, t) in self.tokens().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(t);
        }
        s
    }

    /// Masks `content` into this buffer (previous contents are discarded).
    pub fn mask(&mut self, content: &str) {
        self.buf.clear();
        self.spans.clear();
        self.seq = 0;
        self.flags.clear();
        // Tokens that need no rewriting are referenced in this copy of the content; rewritten
        // ones are appended after it.
        self.buf.push_str(content);
        let bytes = content.as_bytes();
        let mut any_name = false;
        let mut pos = 0;
        while let Some((st, en, classes)) = next_token(bytes, pos) {
            pos = en;
            if is_plain(classes, &bytes[st..en]) {
                self.push_token(st, en);
                continue;
            }
            let start = self.buf.len();
            let flag = if classes == C_DIGIT {
                // pure number (the most common variable)
                self.buf.push_str(WILDCARD);
                F_NUM
            } else {
                mask_token(&content[st..en], classes, &mut self.buf)
            };
            if flag & F_SAME != 0 {
                // kept as it is: refer to the copy of the content (never a quantity: that
                // needs a `<*>` written)
                let flag = flag & !F_SAME;
                any_name |= flag == F_NAME;
                self.note_flag(flag);
                self.push_token(st, en);
                continue;
            }
            // a number, possibly opened by brackets (`(0.14` → `(<*>`), may take a unit
            let quantity = flag == F_NUM || {
                let emitted = &self.buf.as_bytes()[start..];
                emitted.len() > WILDCARD.len()
                    && emitted.ends_with(WILDCARD.as_bytes())
                    && emitted[..emitted.len() - WILDCARD.len()].iter().all(|&c| is_open_wrap(c))
                    && content.as_bytes()[st..en].iter().all(|&c| c.is_ascii_digit() || c == b'.' || is_open_wrap(c))
            };
            if quantity {
                if let Some((ust, uen, _)) = next_token(bytes, pos) {
                    let u = &content[ust..uen];
                    let unit = u.trim_end_matches(|c: char| c.is_ascii() && is_close_wrap(c as u8));
                    if is_size_unit(unit) {
                        // `17.7 GB,` is one quantity: `<*>,`; `(0.14 KB)` → `(<*>)`
                        self.buf.push_str(&u[unit.len()..]);
                        pos = uen;
                    }
                }
            }
            any_name |= flag == F_NAME;
            self.note_flag(flag);
            self.push_token(start, self.buf.len());
        }
        if any_name {
            self.flags.resize(self.spans.len(), 0);
            self.collapse_date_runs();
        }
    }

    /// Appends the token at `buf[s..e]` with its hash.
    #[inline]
    fn push_token(&mut self, s: usize, e: usize) {
        let h = hash_span(self.buf.as_bytes(), s, e);
        self.seq = seq_step(self.seq, h);
        self.spans.push((s as u32, e as u32, h));
    }

    /// Records the date-run flag of the token about to be pushed. Flags are only kept from
    /// the first token that has one (most lines have none); zeros fill the gaps.
    #[inline]
    fn note_flag(&mut self, flag: u8) {
        if flag != 0 {
            self.flags.resize(self.spans.len(), 0);
            self.flags.push(flag);
        }
    }

    fn collapse_date_runs(&mut self) {
        let n = self.spans.len();
        let mut i = 0;
        let mut new_spans: Vec<(u32, u32, u64)> = Vec::with_capacity(n);
        let mut changed = false;
        while i < n {
            if self.flags[i] == 0 {
                new_spans.push(self.spans[i]);
                i += 1;
                continue;
            }
            let mut j = i;
            let (mut names, mut nums) = (0, 0);
            while j < n && self.flags[j] != 0 {
                if self.flags[j] == F_NAME {
                    names += 1;
                } else {
                    nums += 1;
                }
                j += 1;
            }
            if names >= 1 && nums >= 1 && j - i >= 2 {
                // collapse into one wildcard appended to the buffer
                let s = self.buf.len();
                self.buf.push_str(WILDCARD);
                let e = self.buf.len();
                new_spans.push((s as u32, e as u32, hash_span(self.buf.as_bytes(), s, e)));
                changed = true;
            } else {
                new_spans.extend_from_slice(&self.spans[i..j]);
            }
            i = j;
        }
        if changed {
            self.spans = new_spans;
            self.seq = self.spans.iter().fold(0, |h, &(_, _, x)| seq_step(h, x));
        }
    }
}

/// Hash of a masked token, as used by the miner.
pub fn hash_token(token: &str) -> u64 {
    hash_bytes(token.as_bytes())
}

/// Masks one line and returns its tokens joined by single spaces (convenience for tests and
/// tools; the miner uses a reusable [`Masked`] buffer).
pub fn mask_line(content: &str) -> String {
    let mut m = Masked::new();
    m.mask(content);
    m.joined()
}

/// Whether `b` is a strong delimiter (a table lookup: this runs for every byte of a token that
/// is partially masked).
#[inline]
fn is_strong(b: u8) -> bool {
    BYTE_FLAGS[b as usize] & STRONG != 0
}

#[inline]
const fn strong_delimiter(b: u8) -> bool {
    matches!(b, b'=' | b':' | b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'@' | b'"' | b'\'' | b';' | b'|')
}

/// Next whitespace-separated token at or after `pos`: `(start, end, byte classes)`.
#[inline]
fn next_token(b: &[u8], mut pos: usize) -> Option<(usize, usize, u8)> {
    while pos < b.len() && CLASS[b[pos] as usize] & C_WS != 0 {
        pos += 1;
    }
    if pos == b.len() {
        return None;
    }
    let st = pos;
    let mut classes = 0u8;
    while pos < b.len() {
        let c = CLASS[b[pos] as usize];
        if c & C_WS != 0 {
            break;
        }
        classes |= c;
        pos += 1;
    }
    Some((st, pos, classes))
}

/// A token that no rule can change: no digit, delimiter or slash, and neither a possible date
/// name (3 letters, capitalised) nor a possible boolean/null (`t…`, `f…`, `n…` of length 4–5).
#[inline]
fn is_plain(classes: u8, tok: &[u8]) -> bool {
    if classes & (C_DIGIT | C_STRONG | C_SLASH) != 0 {
        return false;
    }
    match tok.len() {
        3 => !tok[0].is_ascii_uppercase(),
        4 | 5 => !matches!(tok[0] | 0x20, b't' | b'f' | b'n'),
        _ => true,
    }
}

const C_WS: u8 = 8;
const C_OTHER: u8 = 16; // anything else (letters, `-`, `_`, non-ASCII …)
const C_DIGIT: u8 = 1;
const C_STRONG: u8 = 2; // strong delimiter or '.'
const C_SLASH: u8 = 4; // '/' or '\\'
const C_COLON: u8 = 32; // ':' (also C_STRONG)
const C_DOT: u8 = 64; // '.' (also C_STRONG)
const C_TFN: u8 = 128; // `t`, `f`, `n` in either case (also C_OTHER): how booleans and null start

/// Byte classes for the single-pass scan of [`mask_token`].
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if b.is_ascii_whitespace() {
            C_WS
        } else if b.is_ascii_digit() {
            C_DIGIT
        } else if b == b'/' || b == b'\\' {
            C_SLASH
        } else if b == b':' {
            C_STRONG | C_COLON
        } else if b == b'.' {
            C_STRONG | C_DOT
        } else if strong_delimiter(b) {
            C_STRONG
        } else if matches!(b | 0x20, b't' | b'f' | b'n') {
            C_OTHER | C_TFN
        } else {
            C_OTHER
        };
        i += 1;
    }
    t
};

const STRONG: u8 = 1;
const OPEN_WRAP: u8 = 2;
const CLOSE_WRAP: u8 = 4;

/// Per byte: [`STRONG`], [`OPEN_WRAP`], [`CLOSE_WRAP`].
static BYTE_FLAGS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut f = 0;
        if strong_delimiter(b) {
            f |= STRONG;
        }
        if matches!(b, b'(' | b'[' | b'{' | b'<' | b'"' | b'\'') {
            f |= OPEN_WRAP;
        }
        if matches!(b, b')' | b']' | b'}' | b'>' | b'"' | b'\'' | b',' | b';' | b':' | b'.' | b'!' | b'?') {
            f |= CLOSE_WRAP;
        }
        t[i] = f;
        i += 1;
    }
    t
};

#[inline]
fn is_open_wrap(b: u8) -> bool {
    BYTE_FLAGS[b as usize] & OPEN_WRAP != 0
}

#[inline]
fn is_close_wrap(b: u8) -> bool {
    BYTE_FLAGS[b as usize] & CLOSE_WRAP != 0
}

const NAMES: [&[u8]; 19] = [
    b"mon", b"tue", b"wed", b"thu", b"fri", b"sat", b"sun", b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul",
    b"aug", b"sep", b"oct", b"nov", b"dec",
];

fn is_date_name(t: &[u8]) -> bool {
    if t.len() != 3 {
        return false;
    }
    if !t[0].is_ascii_uppercase() {
        return false;
    }
    let l = [t[0].to_ascii_lowercase(), t[1].to_ascii_lowercase(), t[2].to_ascii_lowercase()];
    NAMES.iter().any(|n| **n == l)
}

/// `\d+(:\d+)+([.,]\d+)?` — a clock time.
fn is_clock(t: &[u8]) -> bool {
    let mut colons = 0;
    let mut i = 0;
    let mut digits_in_group = 0;
    while i < t.len() {
        let b = t[i];
        if b.is_ascii_digit() {
            digits_in_group += 1;
        } else if b == b':' {
            if digits_in_group == 0 {
                return false;
            }
            colons += 1;
            digits_in_group = 0;
        } else if (b == b'.' || b == b',') && colons > 0 && digits_in_group > 0 {
            // fractional seconds: rest must be digits
            return i + 1 < t.len() && t[i + 1..].iter().all(u8::is_ascii_digit);
        } else {
            return false;
        }
        i += 1;
    }
    colons > 0 && digits_in_group > 0
}

/// `host:port` where host is a dotted name/IP, or a bare dotted-quad IP.
fn is_host_port_or_ip(t: &[u8]) -> bool {
    let (host, port) = match t.iter().rposition(|&b| b == b':') {
        Some(p) => (&t[..p], &t[p + 1..]),
        None => (t, &t[..0]),
    };
    if !port.is_empty() && !port.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if host.is_empty() || !host.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_') {
        return false;
    }
    let dots = host.iter().filter(|&&b| b == b'.').count();
    if port.is_empty() {
        // bare IPv4
        dots == 3 && host.iter().all(|&b| b.is_ascii_digit() || b == b'.')
    } else {
        // a dotted name (all lower case, e.g. `qq.com`), a longer dotted name, or a name with
        // digits (`node-07`); `state.clipTopAmount:10` stays a key:value pair
        dots >= 2 || host.iter().any(u8::is_ascii_digit) || (dots == 1 && !host.iter().any(u8::is_ascii_uppercase))
    }
}

fn is_path_or_url(core: &[u8]) -> bool {
    (core.len() > 1 && core[0] == b'/')
        || core.windows(3).any(|w| w == b"://")
        || (core.len() > 2 && core[0].is_ascii_alphabetic() && core[1] == b':' && core[2] == b'\\')
}

/// Masks one whitespace-free token, appending the result to `out`.
/// Returns a date-run flag (`F_NAME`, `F_NUM` or 0), with `F_SAME` added when the token stays
/// as it is (then nothing is appended).
fn mask_token(tok: &str, classes: u8, out: &mut String) -> u8 {
    let b = tok.as_bytes();
    // no digit, path, boolean or date name possible (most `word,` / `key:` tokens)
    if classes & (C_DIGIT | C_SLASH | C_TFN) == 0 && !b.first().is_some_and(u8::is_ascii_uppercase) {
        return F_SAME;
    }
    let has_digit = classes & C_DIGIT != 0;
    // peel wrapping
    let mut s = 0;
    while s < b.len() && is_open_wrap(b[s]) {
        s += 1;
    }
    let mut e = b.len();
    while e > s && is_close_wrap(b[e - 1]) {
        e -= 1;
    }
    let core = &b[s..e];
    if !has_digit {
        if s == 0 && is_date_name(core) {
            return F_NAME | F_SAME;
        }
        if classes & C_SLASH != 0 && is_path_or_url(core) {
            out.push_str(&tok[..s]);
            out.push_str(WILDCARD);
            out.push_str(&tok[e..]);
            return 0;
        }
        // (a boolean or null needs a `t`, `f` or `n`)
        if classes & C_TFN == 0 || !(is_bool(core) || (classes & C_STRONG != 0 && has_bool_piece(b))) {
            return F_SAME;
        }
    }
    if core.is_empty() {
        return F_SAME;
    }
    // (each test needs a byte class the token has: skip the scans that cannot match)
    if has_digit
        && ((classes & C_COLON != 0 && is_clock(core))
            || (classes & C_SLASH != 0 && is_path_or_url(core))
            || (classes & (C_COLON | C_DOT) != 0 && is_host_port_or_ip(core)))
    {
        out.push_str(&tok[..s]);
        out.push_str(WILDCARD);
        out.push_str(&tok[e..]);
        let numeric = s == 0 && e == b.len() && is_clock(core);
        return if numeric { F_NUM } else { 0 };
    }
    let pure_number =
        s == 0 && e == b.len() && core[0].is_ascii_digit() && core.iter().all(|&c| c.is_ascii_digit() || c == b'.');
    // partial masking on strong delimiters: without any, the token is one piece
    if classes & C_STRONG == 0 {
        emit_piece(tok, out);
        return if pure_number { F_NUM } else { 0 };
    }
    let mut i = 0;
    let mut piece_start = 0;
    while i <= b.len() {
        let at_end = i == b.len();
        let delim_len = if at_end {
            0
        } else if is_strong(b[i]) {
            1
        } else if b[i] == b'.' && i + 1 < b.len() && b[i + 1] == b'.' {
            let mut j = i;
            while j < b.len() && b[j] == b'.' {
                j += 1;
            }
            j - i
        } else {
            0
        };
        if !at_end && b[i] == b':' && host_like(&b[piece_start..i]) {
            // `host:port` inside a longer token: keep it as one piece
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > i + 1 && (j == b.len() || is_strong(b[j]) || b[j] == b'.') {
                i = j;
                continue;
            }
        }
        if at_end || delim_len > 0 {
            emit_piece(&tok[piece_start..i], out);
            if delim_len == 1 {
                // strong delimiters are ASCII: one byte, no copy call
                out.push(char::from(b[i]));
            } else if !at_end {
                out.push_str(&tok[i..i + delim_len]);
            }
            i += delim_len.max(1);
            piece_start = i;
        } else {
            i += 1;
        }
    }
    if pure_number {
        F_NUM
    } else {
        0
    }
}

/// A dotted host name or IP (at least two dots, only host characters).
fn host_like(p: &[u8]) -> bool {
    p.iter().filter(|&&b| b == b'.').count() >= 2
        && p.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

/// `true` / `false` / `null` (any case): value words that are variables wherever they appear.
fn is_bool(p: &[u8]) -> bool {
    p.eq_ignore_ascii_case(b"true") || p.eq_ignore_ascii_case(b"false") || p.eq_ignore_ascii_case(b"null")
}

/// Does a digit-free token contain a boolean/null piece between strong delimiters?
fn has_bool_piece(b: &[u8]) -> bool {
    if b.len() < 4 {
        return false;
    }
    // pieces between strong delimiters (and dots); only 4- and 5-byte ones can be booleans
    let mut start = 0;
    for i in 0..=b.len() {
        if i == b.len() || is_strong(b[i]) || b[i] == b'.' {
            if matches!(i - start, 4 | 5) && is_bool(&b[start..i]) {
                return true;
            }
            start = i + 1;
        }
    }
    false
}

/// Size units that belong to the number before them.
fn is_size_unit(u: &str) -> bool {
    matches!(u, "B" | "KB" | "kB" | "MB" | "GB" | "TB" | "PB" | "KiB" | "MiB" | "GiB" | "TiB")
}

#[inline]
fn emit_piece(piece: &str, out: &mut String) {
    let p = piece.as_bytes();
    match p.first() {
        None => return,
        // starts with a digit: neither a `word-` prefix nor a word-like name, so a variable
        Some(c) if c.is_ascii_digit() => {
            out.push_str(WILDCARD);
            return;
        }
        _ => {}
    }
    let mut digits = 0;
    let mut first_digit = usize::MAX;
    for (i, &c) in p.iter().enumerate() {
        if c.is_ascii_digit() {
            digits += 1;
            if first_digit == usize::MAX {
                first_digit = i;
            }
        }
    }
    if digits == 0 {
        out.push_str(if is_bool(p) { WILDCARD } else { piece });
        return;
    }
    // `node-D3`, `part-00590`: keep an alphabetic `word-` prefix
    if let Some(k) = p.iter().position(|&c| c == b'-') {
        if k >= 2 && p[..k].iter().all(u8::is_ascii_alphabetic) && first_digit > k {
            out.push_str(&piece[..=k]);
            out.push_str(WILDCARD);
            return;
        }
    }
    if digits == 1
        && first_digit >= 2
        && p[first_digit - 1].is_ascii_alphabetic()
        && p[first_digit - 2].is_ascii_alphabetic()
    {
        // word-like: ssh2, SOCKS5, log4j
        out.push_str(piece);
        return;
    }
    out.push_str(WILDCARD);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_generic_variables() {
        let cases = [
            ("PacketResponder 1 for block blk_-3886 terminating", "PacketResponder <*> for block <*> terminating"),
            ("session opened for user cyrus by (uid=0)", "session opened for user cyrus by (uid=<*>)"),
            (
                "Failed password for root from 5.36.59.76 port 42393 ssh2",
                "Failed password for root from <*> port <*> ssh2",
            ),
            (
                "10.251.30.85:50010:Got exception while serving x to /10.251.90.64:",
                "<*>:Got exception while serving x to <*>:",
            ),
            ("connection from 1.2.3.4 () at Sun Jul 10 04:30:30 2005", "connection from <*> () at <*>"),
            ("program interrupt: illegal instruction......0", "program interrupt: illegal instruction......<*>"),
            ("Default file system [hdfs://msra-sa-41:9000]", "Default file system [<*>]"),
            ("ciod: Error loading /bgl/apps/x: invalid", "ciod: Error loading <*>: invalid"),
            ("audit(1122475266.4:2): initialized", "audit(<*>:<*>): initialized"),
            ("Slf4jLogger started via SOCKS5 at 0x1f", "Slf4jLogger started via SOCKS5 at <*>"),
            ("lifetime 00:01", "lifetime <*>"),
            ("0 bytes (0.14 KB) sent", "<*> bytes (<*>) sent"),
            ("freed [17 MB],", "freed [<*>],"),
        ];
        for (input, want) in cases {
            assert_eq!(mask_line(input), want, "input {input:?}");
        }
    }

    #[test]
    fn span_hash_is_the_token_hash() {
        let buf = b"a ab abcdefg abcdefgh abcdefghi x";
        for s in 0..buf.len() {
            for e in s..=buf.len() {
                assert_eq!(hash_span(buf, s, e), hash_bytes(&buf[s..e]), "{s}..{e}");
            }
        }
    }

    #[test]
    fn sequence_hash_folds_the_final_tokens() {
        // the fold runs as tokens are pushed; a collapsed date run replaces some of them
        let mut m = Masked::new();
        for line in [
            "",
            "a b 12",
            "Sun Jul 10 04:30:30 2005 session opened for user x",
            "at Mon Dec 5 then Tue",
            "uid=0 (0.14 KB) 17.7 GB, done",
        ] {
            m.mask(line);
            let tokens: Vec<String> = m.tokens().map(str::to_owned).collect();
            let fold = tokens.iter().fold(0, |h, t| seq_step(h, hash_token(t)));
            assert_eq!(m.seq_hash(), seq_step(fold, tokens.len() as u64), "{line}");
        }
        m.mask("Sun Jul 10 04:30:30 2005 x");
        assert_eq!(m.len(), 2, "the date run collapsed");
        let collapsed = m.seq_hash();
        m.mask("<*> x");
        assert_eq!(m.seq_hash(), collapsed, "same masked tokens, same sequence hash");
    }

    #[test]
    fn hashes_are_stable() {
        let mut m = Masked::new();
        m.mask("a b 12");
        assert_eq!(m.hash(2), hash_token(WILDCARD));
        assert_eq!(m.hash(0), hash_token("a"));
        assert_ne!(m.hash(0), m.hash(1));
    }
}
