//! The online template miner: generic masking ([`super::mask`]) followed by a Drain-like
//! similarity search.
//!
//! # Algorithm
//!
//! 1. The content is masked token by token (see [`super::mask`]); the result is a sequence of
//!    tokens where numeric / id-like parts are already `<*>`.
//! 2. **Memo** (fast path and stability): a masked line seen before goes straight back to the
//!    cluster it was assigned to ([`MinerConfig::memo_capacity`] entries, cleared when full), so
//!    a line never "falls out" of a template that generalised after it joined.
//! 3. Otherwise, candidate clusters live in *leaves* keyed by `(token count, first token)`
//!    (Drain's fixed-depth prefix tree with depth 1; a masked first token is the key `<*>`).
//!    Each candidate template is compared with the line position by position:
//!    * a *hard mismatch* is a literal template token facing a different line token (or a
//!      partial pattern such as `uid=<*>` that does not match it);
//!    * positions where both sides are `<*>` are ignored;
//!    * a template `<*>` facing a literal counts [`MinerConfig::wildcard_credit`] (0.5) of a
//!      match.
//!
//!    The similarity is `matches / compared positions`; a template with no hard mismatch covers
//!    the line and has similarity 1. The most similar cluster (ties: the oldest) is taken when
//!    its similarity reaches [`MinerConfig::similarity_threshold`] (0.92). The comparison stops
//!    as soon as the hard mismatches rule the threshold out.
//! 4. **Sibling merge**: when no cluster qualifies but at least
//!    `sibling_merge - 1` (2) clusters of the leaf differ from the line in exactly one and the
//!    same position, that position holds a variable (≥ 3 distinct values): those clusters are
//!    merged into the oldest with `<*>` there, the others become aliases of it. This catches
//!    short lines whose only variable is a word (`session closed for user cyrus` / `news` /
//!    `test`) without lowering the threshold for everything.
//! 5. Otherwise a new cluster is created from the masked line. **Variable-length grouping**
//!    ([`MinerConfig::variable_length`]): if its *skeleton* (its literal tokens in order,
//!    tokens made only of `<*>` and punctuation left out) equals an existing cluster's — or
//!    equals it with one word right after a variable dropped on one side, for skeletons of 5+
//!    words — the new cluster joins that cluster's group. Grouped clusters are still matched
//!    position by position, but report the group's template (a token alignment of the members'
//!    templates, unaligned tokens and runs of `<*>` written as one `<*>`) and its fingerprint:
//!    `<*> bytes sent` and `<*> bytes (<*>) sent` are one event.
//!
//! Joining a cluster generalises the template where tokens differ: the common delimiter
//! prefix/suffix is kept (`(uid)` + `()` → `(<*>)`, `user=root` + `user=guest` →
//! `user=<*>`), the rest becomes `<*>`.
//!
//! The [`Fingerprint`] of a cluster is the SHA-256 of its current template text; it is cached
//! and only recomputed when the template changes. Templates can still generalise as lines
//! arrive (a literal becoming `<*>`); because most variables are masked up front, that happens
//! early and rarely.
//!
//! # Bounded memory
//!
//! At most [`MinerConfig::max_templates`] clusters are kept. When an insertion exceeds the cap,
//! the least-recently-used clusters are evicted in one batch (down to `cap - cap/64`), so the
//! eviction cost is amortised; [`TemplateMiner::evictions`] counts evicted clusters. Leaves are
//! scanned up to [`MinerConfig::max_leaf_scan`] most recent clusters so a leaf that fills with
//! unmergeable lines cannot slow mining down. The memo and the alias table are bounded too
//! (cleared when they exceed their capacity).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use super::mask::{hash_token, Masked, WILDCARD};
use super::{fingerprint_of, Fingerprint};

/// Identifier of a cluster inside one miner (assigned in creation order, starting at 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClusterId(pub u64);

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "C{}", self.0)
    }
}

/// Configuration of a [`TemplateMiner`]. One generic configuration is meant to serve every log
/// source; the defaults are the values benchmarked in `docs/bench/template-mining.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinerConfig {
    /// Maximum number of clusters kept (default 10 000); least-recently-used ones are evicted.
    pub max_templates: usize,
    /// Minimum similarity (share of matching positions, 0..=1) to join a cluster (default 0.92:
    /// a line of up to 12 tokens joins only a template with no differing word; word variables
    /// in short lines come from the sibling merge).
    pub similarity_threshold: f64,
    /// How many of a leaf's most recent clusters are compared with a line (default 64).
    pub max_leaf_scan: usize,
    /// Credit (0..=1) given to a template `<*>` facing a literal token when computing the
    /// similarity (default 0.5): 0 is Drain's original rule, 1 lets a generalised position
    /// absorb anything.
    pub wildcard_credit: f64,
    /// Sibling merge (default 3; 0 disables): when a line would open a new cluster and at least
    /// `sibling_merge - 1` clusters of its leaf differ from it in exactly one and the same
    /// position, that position is a variable with at least `sibling_merge` values — the
    /// clusters are merged into the oldest one with `<*>` there (the others become aliases).
    /// Only lines of three or more tokens take part.
    pub sibling_merge: usize,
    /// Capacity of the memo that sends an already-seen masked line straight back to its
    /// cluster (default 65 536 entries, 16 bytes each; cleared when full; 0 disables). It keeps
    /// assignments stable while templates generalise and is the miner's fast path.
    pub memo_capacity: usize,
    /// Variable-length grouping (default 3; 0 disables): a new cluster whose *skeleton* — its
    /// literal tokens in order, tokens that are only variables such as `<*>`, `(<*>)`, `<*>,`
    /// left out — has at least this many tokens joins the group of an existing cluster with the
    /// same skeleton, whatever the token counts (`<*> bytes sent` / `<*> bytes (<*>) sent`).
    /// With at least 5 skeleton tokens left, a word right after a variable may also be missing
    /// on one side (`lifetime <*>` / `lifetime <*> sec`). The clusters stay separate for
    /// matching; they report the group's template, a token alignment of their templates in
    /// which unaligned tokens and runs of `<*>` become one `<*>`.
    pub variable_length: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            max_templates: 10_000,
            similarity_threshold: 0.92,
            max_leaf_scan: 64,
            wildcard_credit: 0.5,
            sibling_merge: 3,
            memo_capacity: 65_536,
            variable_length: 3,
        }
    }
}

/// Result of mining one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MineResult {
    /// The cluster the line was assigned to.
    pub cluster: ClusterId,
    /// The cluster's template after this line (variables written as `<*>`).
    pub template: String,
    /// SHA-256 of `template`.
    pub fingerprint: Fingerprint,
    /// True when the line created a new cluster.
    pub is_new: bool,
}

/// One cluster in a [`MinerState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Cluster id.
    pub id: ClusterId,
    /// Current template (tokens joined by single spaces).
    pub template: String,
    /// Number of lines assigned so far.
    pub count: u64,
    /// Logical time (mine-call counter) of the last assignment; drives LRU eviction.
    pub last_used: u64,
    /// Variable-length group the cluster belongs to (see [`MinerConfig::variable_length`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<ClusterId>,
}

/// Serialisable state of a [`TemplateMiner`] (see [`TemplateMiner::snapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinerState {
    /// The configuration in force.
    pub config: MinerConfig,
    /// Next cluster id to assign.
    pub next_id: u64,
    /// Logical clock (number of lines mined).
    pub tick: u64,
    /// Clusters evicted so far.
    pub evictions: u64,
    /// Clusters, sorted by id.
    pub clusters: Vec<ClusterState>,
    /// Clusters absorbed by a sibling merge: `(absorbed, survivor)`, sorted.
    #[serde(default)]
    pub aliases: Vec<(ClusterId, ClusterId)>,
    /// Memo entries `(masked-line hash, cluster)`, sorted.
    #[serde(default)]
    pub memo: Vec<(u64, ClusterId)>,
    /// Version of the hash that keys `memo` ([`MEMO_HASH_VERSION`]; 0 in snapshots from before
    /// versions were recorded). A memo keyed by another version is dropped on restore: its keys
    /// would never match, and lines would no longer go back to their remembered clusters.
    #[serde(default)]
    pub memo_hash: u32,
}

/// Version of the masked-line hash that keys the memo. 1 (recorded as 0): token tails mixed
/// byte by byte; 2: token tails mixed as one zero-padded word (2026-12-04); 3: the token
/// count folded in last, not first (the fold runs as tokens are pushed, 2026-12-05).
pub const MEMO_HASH_VERSION: u32 = 3;

/// Kind of a template token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Literal,
    Wild,
    /// contains `<*>` plus literal text, e.g. `uid=<*>`
    Pattern,
}

#[derive(Debug, Clone)]
struct Cluster {
    tokens: Vec<String>,
    hashes: Vec<u64>,
    kinds: Vec<Kind>,
    template: String,
    fingerprint: Fingerprint,
    count: u64,
    last_used: u64,
    leaf: u64,
    /// variable-length group id (0: none)
    group: u64,
    /// skeleton keys registered in the index: full skeleton, then one-word-dropped variants
    skel: Option<(u64, Vec<u64>)>,
}

/// A variable-length group of clusters (see [`MinerConfig::variable_length`]).
#[derive(Debug, Clone)]
struct Group {
    members: Vec<u64>,
    template: String,
    fingerprint: Fingerprint,
}

/// Maximum number of clusters in one variable-length group.
const MAX_GROUP: usize = 32;
/// Minimum skeleton length left after dropping a word next to a variable.
const MIN_DROP_SKELETON: usize = 5;
/// Longer templates are not grouped (bounds the alignment cost).
const MAX_GROUP_TOKENS: usize = 256;

/// A token that is only variables and punctuation (`<*>`, `(<*>)`, `<*>:<*>,`).
fn is_wild_only(t: &str) -> bool {
    t.contains(WILDCARD) && t.split(WILDCARD).all(|p| !p.bytes().any(|b| b.is_ascii_alphanumeric() || b >= 0x80))
}

/// Polynomial base (odd, so it has an inverse modulo 2^64) for skeleton keys.
const SKEL_P: u64 = 0x9E37_79B9_7F4A_7C15;

const fn inverse_odd(a: u64) -> u64 {
    // Newton iteration: x = x * (2 - a x), doubling the correct low bits each step
    let mut x = a;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        i += 1;
    }
    x
}

const SKEL_P_INV: u64 = inverse_odd(SKEL_P);
const _: () = assert!(SKEL_P.wrapping_mul(SKEL_P_INV) == 1);

/// Final mix of a skeleton polynomial hash with its length.
fn skel_key(h: u64, len: usize) -> u64 {
    let mut h = h ^ (len as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Skeleton keys of a token sequence: the hash of its literal tokens (variable-only tokens left
/// out) and the hashes with one literal that follows a variable-only token left out. The hash
/// is polynomial (`Σ x_i P^i`), so each one-dropped variant costs O(1).
fn skeleton_keys(tokens: &[String], hashes: &[u64], min: usize) -> Option<(u64, Vec<u64>)> {
    if tokens.len() > MAX_GROUP_TOKENS {
        return None;
    }
    let mut lit: Vec<(u64, bool)> = Vec::with_capacity(tokens.len());
    let mut prev_wild = false;
    for (t, &h) in tokens.iter().zip(hashes) {
        if is_wild_only(t) {
            prev_wild = true;
        } else {
            lit.push((h, prev_wild));
            prev_wild = false;
        }
    }
    let n = lit.len();
    if n < min {
        return None;
    }
    // prefix sums: pre[k] = Σ_{i<k} x_i P^i
    let mut pre = Vec::with_capacity(n + 1);
    let (mut acc, mut pw) = (0u64, 1u64);
    pre.push(0u64);
    for &(x, _) in &lit {
        acc = acc.wrapping_add(x.wrapping_mul(pw));
        pw = pw.wrapping_mul(SKEL_P);
        pre.push(acc);
    }
    let total = acc;
    let full = skel_key(total, n);
    let mut drops = Vec::new();
    if n > min.max(MIN_DROP_SKELETON) {
        for k in 0..n {
            if lit[k].1 {
                // terms after k shift down one power
                let suffix = total.wrapping_sub(pre[k + 1]);
                let h = pre[k].wrapping_add(suffix.wrapping_mul(SKEL_P_INV));
                drops.push(skel_key(h, n - 1));
            }
        }
    }
    Some((full, drops))
}

/// Aligns two templates token by token (longest common subsequence); unaligned tokens become
/// `<*>` and runs of `<*>` collapse into one.
fn align_templates(a: &[String], b: &[String]) -> Vec<String> {
    let (n, m) = (a.len(), b.len());
    // l[i][j]: LCS length of a[i..], b[j..]
    let w = m + 1;
    let mut l = vec![0u32; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            l[i * w + j] =
                if a[i] == b[j] { l[(i + 1) * w + j + 1] + 1 } else { l[(i + 1) * w + j].max(l[i * w + j + 1]) };
        }
    }
    let mut out: Vec<String> = Vec::with_capacity(n.max(m));
    let push = |out: &mut Vec<String>, t: &str| {
        if !(t == WILDCARD && out.last().is_some_and(|x| x == WILDCARD)) {
            out.push(t.to_owned());
        }
    };
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            push(&mut out, &a[i]);
            i += 1;
            j += 1;
        } else {
            push(&mut out, WILDCARD);
            if j == m || (i < n && l[(i + 1) * w + j] >= l[i * w + j + 1]) {
                i += 1;
            } else {
                j += 1;
            }
        }
    }
    out
}

impl Cluster {
    fn from_tokens(tokens: Vec<String>, leaf: u64) -> Self {
        let hashes = tokens.iter().map(|t| hash_token(t)).collect();
        let kinds = tokens.iter().map(|t| kind_of(t)).collect();
        let template = tokens.join(" ");
        let fingerprint = fingerprint_of(&template);
        Cluster { tokens, hashes, kinds, template, fingerprint, count: 0, last_used: 0, leaf, group: 0, skel: None }
    }

    fn refresh(&mut self) {
        self.template = self.tokens.join(" ");
        self.fingerprint = fingerprint_of(&self.template);
    }
}

fn kind_of(t: &str) -> Kind {
    if t == WILDCARD {
        Kind::Wild
    } else if t.contains(WILDCARD) {
        Kind::Pattern
    } else {
        Kind::Literal
    }
}

/// Does `s` match pattern `p` in which every `<*>` stands for any (possibly empty) text?
fn pattern_matches(p: &str, s: &str) -> bool {
    let mut parts = p.split(WILDCARD);
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.len() >= part.len() && rest.ends_with(part);
        }
        match rest.find(part) {
            Some(pos) => rest = &rest[pos + part.len()..],
            None => return false,
        }
    }
    true
}

#[inline]
fn is_delim(b: u8) -> bool {
    // ASCII only, so that a cut after a delimiter is always a char boundary
    b.is_ascii_punctuation() && !matches!(b, b'<' | b'*' | b'>' | b'_' | b'-' | b'.')
}

/// Generalises two different tokens: keeps the common prefix up to (and including) its last
/// delimiter and the common suffix from its first delimiter; the middle becomes `<*>`.
fn generalise(t: &str, s: &str) -> String {
    let (a, b) = (t.as_bytes(), s.as_bytes());
    let max = a.len().min(b.len());
    let mut p = 0;
    while p < max && a[p] == b[p] {
        p += 1;
    }
    // cut the prefix back to a delimiter boundary
    while p > 0 && !is_delim(a[p - 1]) {
        p -= 1;
    }
    let mut q = 0;
    while q < max - p && a[a.len() - 1 - q] == b[b.len() - 1 - q] {
        q += 1;
    }
    while q > 0 && !is_delim(a[a.len() - q]) {
        q -= 1;
    }
    let mut out = String::with_capacity(p + q + 3);
    out.push_str(&t[..p]);
    out.push_str(WILDCARD);
    out.push_str(&t[t.len() - q..]);
    out
}

/// Fixed-key hasher for the internal maps (keys are already good 64-bit hashes).
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (n >> 29);
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

fn leaf_key(len: usize, first: u64) -> u64 {
    first ^ (len as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

/// Streaming template miner (see the [module docs](crate::fingerprint::miner)).
#[derive(Debug, Clone)]
pub struct TemplateMiner {
    cfg: MinerConfig,
    clusters: IdMap<u64, Cluster>,
    leaves: IdMap<u64, Vec<u64>>,
    next_id: u64,
    tick: u64,
    evictions: u64,
    aliases: IdMap<u64, u64>,
    memo: IdMap<u64, u64>,
    scratch: Masked,
    groups: IdMap<u64, Group>,
    /// full skeleton key -> clusters
    skel_full: IdMap<u64, Vec<u64>>,
    /// skeleton key with one word dropped -> clusters
    skel_drop: IdMap<u64, Vec<u64>>,
}

impl TemplateMiner {
    /// Creates an empty miner.
    pub fn new(cfg: MinerConfig) -> Self {
        TemplateMiner {
            cfg,
            clusters: IdMap::default(),
            leaves: IdMap::default(),
            next_id: 1,
            tick: 0,
            evictions: 0,
            aliases: IdMap::default(),
            memo: IdMap::default(),
            scratch: Masked::new(),
            groups: IdMap::default(),
            skel_full: IdMap::default(),
            skel_drop: IdMap::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &MinerConfig {
        &self.cfg
    }

    /// Mines one line's content and returns its cluster and current template.
    pub fn mine(&mut self, content: &str) -> MineResult {
        let (id, is_new) = self.mine_id(content);
        let (template, fingerprint) = self.effective(&self.clusters[&id.0]);
        MineResult { cluster: id, template: template.to_owned(), fingerprint, is_new }
    }

    /// Like [`TemplateMiner::mine`] but without cloning the template: returns the cluster id,
    /// whether it is new, and the current fingerprint.
    pub fn mine_fingerprint(&mut self, content: &str) -> (ClusterId, Fingerprint, bool) {
        let (id, is_new) = self.mine_id(content);
        (id, self.effective(&self.clusters[&id.0]).1, is_new)
    }

    /// The template and fingerprint a cluster reports: its group's when it has one.
    #[inline]
    fn effective<'a>(&'a self, c: &'a Cluster) -> (&'a str, Fingerprint) {
        if c.group != 0 {
            if let Some(g) = self.groups.get(&c.group) {
                return (g.template.as_str(), g.fingerprint);
            }
        }
        (c.template.as_str(), c.fingerprint)
    }

    /// Registers a cluster's skeleton keys in the index (after creation or a template change).
    fn register(&mut self, id: u64) {
        let min = self.cfg.variable_length;
        if min == 0 {
            return;
        }
        self.unregister(id);
        let Some(c) = self.clusters.get_mut(&id) else {
            return;
        };
        let keys = skeleton_keys(&c.tokens, &c.hashes, min);
        if let Some((full, drops)) = &keys {
            self.skel_full.entry(*full).or_default().push(id);
            for d in drops {
                self.skel_drop.entry(*d).or_default().push(id);
            }
        }
        c.skel = keys;
    }

    fn unregister(&mut self, id: u64) {
        let Some(c) = self.clusters.get_mut(&id) else {
            return;
        };
        let Some((full, drops)) = c.skel.take() else {
            return;
        };
        fn take(map: &mut IdMap<u64, Vec<u64>>, key: u64, id: u64) {
            if let Some(v) = map.get_mut(&key) {
                v.retain(|&x| x != id);
                if v.is_empty() {
                    map.remove(&key);
                }
            }
        }
        take(&mut self.skel_full, full, id);
        for d in drops {
            take(&mut self.skel_drop, d, id);
        }
    }

    /// Clusters whose skeleton matches `id`'s (same skeleton, or one word dropped on one side).
    fn skeleton_partners(&self, id: u64) -> Vec<u64> {
        let Some((full, drops)) = self.clusters.get(&id).and_then(|c| c.skel.as_ref()) else {
            return Vec::new();
        };
        let mut out: Vec<u64> = Vec::new();
        for v in [self.skel_full.get(full), self.skel_drop.get(full)].into_iter().flatten() {
            out.extend(v.iter().copied());
        }
        for d in drops {
            if let Some(v) = self.skel_full.get(d) {
                out.extend(v.iter().copied());
            }
        }
        out.retain(|&x| x != id);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Puts `id` into the group of `partner` (creating the group if needed).
    fn join_group(&mut self, id: u64, partner: u64) -> bool {
        let gid = match self.clusters.get(&partner) {
            Some(c) if c.group != 0 => c.group,
            Some(_) => partner,
            None => return false,
        };
        let g = self.groups.entry(gid).or_insert_with(|| Group {
            members: vec![partner],
            template: String::new(),
            fingerprint: fingerprint_of(""),
        });
        if g.members.len() >= MAX_GROUP || g.members.contains(&id) {
            return false;
        }
        g.members.push(id);
        self.clusters.get_mut(&partner).expect("live").group = gid;
        self.clusters.get_mut(&id).expect("live").group = gid;
        self.refresh_group(gid);
        true
    }

    /// Recomputes a group's template from its members' templates (folded in template order, so
    /// the result does not depend on cluster ids).
    fn refresh_group(&mut self, gid: u64) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let mut ts: Vec<&Cluster> = g.members.iter().filter_map(|m| self.clusters.get(m)).collect();
        ts.sort_by(|a, b| a.template.cmp(&b.template));
        let mut acc: Vec<String> = ts.first().map(|c| c.tokens.clone()).unwrap_or_default();
        for c in ts.iter().skip(1) {
            acc = align_templates(&acc, &c.tokens);
        }
        let template = acc.join(" ");
        let g = self.groups.get_mut(&gid).expect("live group");
        g.fingerprint = fingerprint_of(&template);
        g.template = template;
    }

    /// Takes a cluster out of its group (dissolving a group left with one member).
    fn leave_group(&mut self, id: u64, gid: u64) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        g.members.retain(|&x| x != id);
        if g.members.len() <= 1 {
            let g = self.groups.remove(&gid).expect("live group");
            for m in g.members {
                if let Some(c) = self.clusters.get_mut(&m) {
                    c.group = 0;
                }
            }
        } else {
            self.refresh_group(gid);
        }
    }

    /// After a cluster's template changed: re-index it and refresh its group.
    fn template_changed(&mut self, id: u64) {
        if self.cfg.variable_length == 0 {
            return;
        }
        self.register(id);
        let gid = self.clusters.get(&id).map_or(0, |c| c.group);
        if gid != 0 {
            self.refresh_group(gid);
        }
    }

    fn mine_id(&mut self, content: &str) -> (ClusterId, bool) {
        self.tick += 1;
        let mut m = std::mem::take(&mut self.scratch);
        m.mask(content);
        let n = m.len();
        let first = if n == 0 { 0 } else { m.hash(0) };
        let key = leaf_key(n, first);
        let mut best: Option<(u64, usize)> = None;
        // memo: a masked line seen before goes back to its cluster (stability + fast path)
        let seq = m.seq_hash();
        if let Some(&mid) = self.memo.get(&seq) {
            let tick = self.tick;
            if let Some(c) = self.clusters.get_mut(&mid) {
                // A live cluster is no alias (absorbed clusters leave `clusters`, and ids are
                // never reused). A direct hit (the common case) already fits its cluster
                // (templates only widen): nothing to generalise, nothing to remember.
                if c.tokens.len() == n {
                    c.count += 1;
                    c.last_used = tick;
                    self.scratch = m;
                    return (ClusterId(mid), false);
                }
            } else {
                // after a sibling merge the template is re-checked
                let cid = self.resolve(mid);
                if self.clusters.get(&cid).is_some_and(|c| c.tokens.len() == n) {
                    best = Some((cid, 0));
                }
            }
        }
        if let (None, Some(leaf)) = (best, self.leaves.get(&key)) {
            let wild = hash_token(WILDCARD);
            let mut best_sim = -1.0f64;
            // a hard mismatch (different literal) can never score; more than this many of them
            // rule a cluster out, so the comparison stops early
            let max_hard = ((1.0 - self.cfg.similarity_threshold) * n as f64).floor() as usize;
            for &cid in leaf.iter().rev().take(self.cfg.max_leaf_scan) {
                let c = &self.clusters[&cid];
                // score: equal positions; both_wild: positions where both sides are `<*>`
                let (mut score, mut both_wild, mut wild_lit) = (0usize, 0usize, 0usize);
                let mut hard = 0usize;
                for i in 0..n {
                    let h = m.hash(i);
                    let ok = match c.kinds[i] {
                        Kind::Literal => c.hashes[i] == h,
                        Kind::Wild => {
                            both_wild += usize::from(h == wild);
                            wild_lit += usize::from(h != wild);
                            h == wild
                        }
                        Kind::Pattern => c.hashes[i] == h || pattern_matches(&c.tokens[i], m.token(i)),
                    };
                    score += usize::from(ok);
                    hard += usize::from(!ok && c.kinds[i] != Kind::Wild);
                    if hard > max_hard {
                        break;
                    }
                }
                if hard > max_hard {
                    continue;
                }
                let lit = n - both_wild;
                let matched = (score - both_wild) as f64 + self.cfg.wildcard_credit * wild_lit as f64;
                // a template that covers the line (no hard mismatch) always takes it
                let sim = if lit == 0 || hard == 0 { 1.0 } else { matched / lit as f64 };
                if sim >= self.cfg.similarity_threshold && sim >= best_sim {
                    // iterating newest first: `>=` keeps the oldest among equals
                    best = Some((cid, score));
                    best_sim = sim;
                }
            }
        }
        let tick = self.tick;
        if best.is_none() && self.cfg.sibling_merge >= 2 && n >= 3 {
            if let Some(id) = self.try_sibling_merge(&m, key, tick) {
                self.scratch = m;
                self.remember(seq, id);
                return (ClusterId(id), false);
            }
        }
        let result = match best {
            Some((cid, score)) => {
                let c = self.clusters.get_mut(&cid).expect("leaf ids are live");
                c.count += 1;
                c.last_used = tick;
                if score < n {
                    let mut changed = false;
                    for i in 0..n {
                        let tok = m.token(i);
                        let same = match c.kinds[i] {
                            Kind::Wild => true,
                            Kind::Literal => c.hashes[i] == m.hash(i),
                            Kind::Pattern => c.hashes[i] == m.hash(i) || pattern_matches(&c.tokens[i], tok),
                        };
                        if !same {
                            let g = generalise(&c.tokens[i], tok);
                            c.hashes[i] = hash_token(&g);
                            c.kinds[i] = kind_of(&g);
                            c.tokens[i] = g;
                            changed = true;
                        }
                    }
                    if changed {
                        c.refresh();
                        self.template_changed(cid);
                    }
                }
                (ClusterId(cid), false)
            }
            None => {
                let id = self.next_id;
                self.next_id += 1;
                let mut c = Cluster::from_tokens(m.tokens().map(str::to_owned).collect(), key);
                c.count = 1;
                c.last_used = tick;
                self.clusters.insert(id, c);
                self.leaves.entry(key).or_default().push(id);
                if self.cfg.variable_length > 0 {
                    self.register(id);
                    for p in self.skeleton_partners(id) {
                        if self.join_group(id, p) {
                            break;
                        }
                    }
                }
                if self.clusters.len() > self.cfg.max_templates {
                    self.evict(id);
                }
                (ClusterId(id), true)
            }
        };
        self.scratch = m;
        self.remember(seq, result.0 .0);
        result
    }

    fn remember(&mut self, seq: u64, id: u64) {
        if self.memo.len() >= self.cfg.memo_capacity {
            self.memo.clear();
        }
        if self.cfg.memo_capacity > 0 {
            self.memo.insert(seq, id);
        }
    }

    /// See [`MinerConfig::sibling_merge`]. Returns the surviving cluster when a merge happened.
    fn try_sibling_merge(&mut self, m: &Masked, key: u64, tick: u64) -> Option<u64> {
        let leaf = self.leaves.get(&key)?;
        let n = m.len();
        // (position, cluster) for clusters differing from the line in exactly one position
        let mut cands: Vec<(usize, u64)> = Vec::new();
        for &cid in leaf.iter().rev().take(self.cfg.max_leaf_scan) {
            let c = &self.clusters[&cid];
            let mut diff = None;
            let mut ok = true;
            for i in 0..n {
                if c.kinds[i] == Kind::Wild || c.hashes[i] == m.hash(i) {
                    continue;
                }
                if diff.is_some() {
                    ok = false;
                    break;
                }
                diff = Some(i);
            }
            if let (true, Some(p)) = (ok, diff) {
                cands.push((p, cid));
            }
        }
        if cands.len() + 1 < self.cfg.sibling_merge {
            return None;
        }
        cands.sort_unstable();
        // the position with the most siblings (ties: the first position)
        let mut best: Option<(usize, usize, usize)> = None; // (count, start, end)
        let mut i = 0;
        while i < cands.len() {
            let mut j = i;
            while j < cands.len() && cands[j].0 == cands[i].0 {
                j += 1;
            }
            if best.is_none_or(|(cnt, _, _)| j - i > cnt) {
                best = Some((j - i, i, j));
            }
            i = j;
        }
        let (cnt, a, b) = best?;
        if cnt + 1 < self.cfg.sibling_merge {
            return None;
        }
        let pos = cands[a].0;
        let survivor = cands[a..b].iter().map(|x| x.1).min()?;
        let absorbed: Vec<u64> = cands[a..b].iter().map(|x| x.1).filter(|&x| x != survivor).collect();
        let (mut count, mut last) = (1u64, tick);
        for &id in &absorbed {
            if let Some(c) = self.clusters.get(&id) {
                count += c.count;
                last = last.max(c.last_used);
            }
            self.remove(id);
            self.aliases.insert(id, survivor);
        }
        if self.aliases.len() > 4 * self.cfg.max_templates.max(1) {
            self.aliases.clear();
        }
        let c = self.clusters.get_mut(&survivor).expect("live id");
        c.count += count;
        c.last_used = last;
        let g = generalise(&c.tokens[pos], m.token(pos));
        c.hashes[pos] = hash_token(&g);
        c.kinds[pos] = kind_of(&g);
        c.tokens[pos] = g;
        c.refresh();
        self.template_changed(survivor);
        Some(survivor)
    }

    /// Follows sibling-merge aliases to the live cluster.
    fn resolve(&self, id: u64) -> u64 {
        if self.aliases.is_empty() {
            return id;
        }
        let mut id = id;
        for _ in 0..64 {
            match self.aliases.get(&id) {
                Some(&next) => id = next,
                None => break,
            }
        }
        id
    }

    /// Evicts least-recently-used clusters down to `cap - cap/64` (never `keep`).
    fn evict(&mut self, keep: u64) {
        let cap = self.cfg.max_templates.max(1);
        let target = cap - cap / 64;
        let excess = self.clusters.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut order: Vec<(u64, u64)> =
            self.clusters.iter().filter(|(&id, _)| id != keep).map(|(&id, c)| (c.last_used, id)).collect();
        let excess = excess.min(order.len());
        if excess < order.len() {
            order.select_nth_unstable(excess);
        }
        for &(_, id) in &order[..excess] {
            self.remove(id);
        }
        self.evictions += excess as u64;
    }

    fn remove(&mut self, id: u64) {
        self.unregister(id);
        if let Some(gid) = self.clusters.get(&id).map(|c| c.group).filter(|&g| g != 0) {
            self.leave_group(id, gid);
        }
        if let Some(c) = self.clusters.remove(&id) {
            if let Some(leaf) = self.leaves.get_mut(&c.leaf) {
                leaf.retain(|&x| x != id);
                if leaf.is_empty() {
                    self.leaves.remove(&c.leaf);
                }
            }
        }
    }

    /// The cluster's current template (`None` if unknown or evicted). A cluster absorbed by a
    /// sibling merge answers with the template of the cluster that absorbed it.
    pub fn template_of(&self, cluster: ClusterId) -> Option<&str> {
        self.clusters.get(&self.resolve(cluster.0)).map(|c| self.effective(c).0)
    }

    /// The cluster's current fingerprint (`None` if unknown or evicted); follows aliases like
    /// [`TemplateMiner::template_of`].
    pub fn fingerprint_of_cluster(&self, cluster: ClusterId) -> Option<Fingerprint> {
        self.clusters.get(&self.resolve(cluster.0)).map(|c| self.effective(c).1)
    }

    /// The live cluster a (possibly absorbed) cluster id now maps to.
    pub fn canonical(&self, cluster: ClusterId) -> ClusterId {
        ClusterId(self.resolve(cluster.0))
    }

    /// Number of clusters currently held.
    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    /// True when no cluster is held.
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// Number of clusters evicted so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Number of lines mined so far.
    pub fn lines(&self) -> u64 {
        self.tick
    }

    /// Serialisable state; [`TemplateMiner::restore`] rebuilds an equivalent miner.
    pub fn snapshot(&self) -> MinerState {
        let mut clusters: Vec<ClusterState> = self
            .clusters
            .iter()
            .map(|(&id, c)| ClusterState {
                id: ClusterId(id),
                template: c.template.clone(),
                count: c.count,
                last_used: c.last_used,
                group: (c.group != 0).then_some(ClusterId(c.group)),
            })
            .collect();
        clusters.sort_by_key(|c| c.id);
        MinerState {
            config: self.cfg.clone(),
            next_id: self.next_id,
            tick: self.tick,
            evictions: self.evictions,
            clusters,
            aliases: {
                let mut a: Vec<(ClusterId, ClusterId)> =
                    self.aliases.iter().map(|(&k, &v)| (ClusterId(k), ClusterId(v))).collect();
                a.sort_unstable();
                a
            },
            memo: {
                let mut v: Vec<(u64, ClusterId)> = self.memo.iter().map(|(&k, &v)| (k, ClusterId(v))).collect();
                v.sort_unstable();
                v
            },
            memo_hash: MEMO_HASH_VERSION,
        }
    }

    /// Rebuilds a miner from a [`MinerState`]; templates (hence fingerprints) are identical.
    pub fn restore(state: MinerState) -> Self {
        let mut miner = TemplateMiner::new(state.config);
        miner.next_id = state.next_id;
        miner.tick = state.tick;
        miner.evictions = state.evictions;
        miner.aliases = state.aliases.iter().map(|(k, v)| (k.0, v.0)).collect();
        if state.memo_hash == MEMO_HASH_VERSION {
            miner.memo = state.memo.iter().map(|(k, v)| (*k, v.0)).collect();
        }
        let mut clusters = state.clusters;
        clusters.sort_by_key(|c| c.id);
        for cs in &clusters {
            miner.next_id = miner.next_id.max(cs.id.0 + 1);
            miner.insert_state(cs.id.0, &cs.template, cs.count, cs.last_used);
        }
        for cs in &clusters {
            if let Some(g) = cs.group {
                let grp = miner.groups.entry(g.0).or_insert_with(|| Group {
                    members: Vec::new(),
                    template: String::new(),
                    fingerprint: fingerprint_of(""),
                });
                grp.members.push(cs.id.0);
                miner.clusters.get_mut(&cs.id.0).expect("inserted").group = g.0;
            }
        }
        let gids: Vec<u64> = miner.groups.keys().copied().collect();
        for gid in gids {
            miner.refresh_group(gid);
        }
        miner
    }

    fn insert_state(&mut self, id: u64, template: &str, count: u64, last_used: u64) {
        let tokens: Vec<String> = template.split(' ').filter(|t| !t.is_empty()).map(str::to_owned).collect();
        let first = tokens.first().map_or(0, |t| hash_token(t));
        let key = leaf_key(tokens.len(), first);
        let mut c = Cluster::from_tokens(tokens, key);
        c.count = count;
        c.last_used = last_used;
        self.clusters.insert(id, c);
        self.leaves.entry(key).or_default().push(id);
        self.register(id);
    }

    /// Rebuilds the variable-length groups from scratch, independent of cluster ids: clusters
    /// are visited in template order and join the group of the earliest visited partner.
    fn regroup(&mut self) {
        self.groups.clear();
        for c in self.clusters.values_mut() {
            c.group = 0;
        }
        if self.cfg.variable_length == 0 {
            return;
        }
        let mut order: Vec<(&str, u64)> = self.clusters.iter().map(|(&id, c)| (c.template.as_str(), id)).collect();
        order.sort_unstable();
        let order: Vec<u64> = order.into_iter().map(|x| x.1).collect();
        let rank: IdMap<u64, usize> = order.iter().enumerate().map(|(r, &id)| (id, r)).collect();
        for (r, &id) in order.iter().enumerate() {
            let mut partners: Vec<(usize, u64)> = self
                .skeleton_partners(id)
                .into_iter()
                .filter_map(|p| rank.get(&p).map(|&pr| (pr, p)))
                .filter(|&(pr, _)| pr < r)
                .collect();
            partners.sort_unstable();
            for (_, p) in partners {
                if self.join_group(id, p) {
                    break;
                }
            }
        }
    }

    /// Merges another miner's state (e.g. from another worker) into this one.
    ///
    /// Clusters are matched by exact template text: a template present on both sides keeps this
    /// side's id and gets the summed count and the later `last_used`; other templates are added
    /// with fresh ids, in template order. If the cap is exceeded, clusters are evicted by
    /// (`last_used`, `count`, template) — all symmetric quantities — so merging A into B and B
    /// into A yield the same template set.
    pub fn merge(&mut self, other: &MinerState) {
        // first fold this side's clusters that share a template (lowest id survives), so both
        // merge orders see one cluster per template
        let mut ids: Vec<u64> = self.clusters.keys().copied().collect();
        ids.sort_unstable();
        let mut by_template: HashMap<String, u64> = HashMap::with_capacity(ids.len());
        for id in ids {
            let t = self.clusters[&id].template.clone();
            match by_template.get(&t) {
                Some(&keep) => {
                    let (count, last) = (self.clusters[&id].count, self.clusters[&id].last_used);
                    self.remove(id);
                    self.aliases.insert(id, keep);
                    let c = self.clusters.get_mut(&keep).expect("live id");
                    c.count += count;
                    c.last_used = c.last_used.max(last);
                }
                None => {
                    by_template.insert(t, id);
                }
            }
        }
        let mut incoming: Vec<&ClusterState> = other.clusters.iter().collect();
        incoming.sort_by(|a, b| a.template.cmp(&b.template));
        for cs in incoming {
            match by_template.get(&cs.template) {
                Some(&id) => {
                    let c = self.clusters.get_mut(&id).expect("live id");
                    c.count += cs.count;
                    c.last_used = c.last_used.max(cs.last_used);
                }
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.insert_state(id, &cs.template, cs.count, cs.last_used);
                    by_template.insert(cs.template.clone(), id);
                }
            }
        }
        self.tick = self.tick.max(other.tick);
        self.evictions += other.evictions;
        let cap = self.cfg.max_templates.max(1);
        if self.clusters.len() > cap {
            let mut order: Vec<(u64, u64, &str, u64)> =
                self.clusters.iter().map(|(&id, c)| (c.last_used, c.count, c.template.as_str(), id)).collect();
            order.sort_unstable();
            let excess = self.clusters.len() - cap;
            let victims: Vec<u64> = order[..excess].iter().map(|v| v.3).collect();
            for id in victims {
                self.remove(id);
            }
            self.evictions += excess as u64;
        }
        self.regroup();
    }

    /// All current templates with their ids, sorted by id.
    pub fn templates(&self) -> Vec<(ClusterId, &str)> {
        let mut v: Vec<(ClusterId, &str)> =
            self.clusters.iter().map(|(&id, c)| (ClusterId(id), self.effective(c).0)).collect();
        v.sort_unstable_by_key(|x| x.0);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalise_keeps_delimiters() {
        assert_eq!(generalise("(host)", "()"), "(<*>)");
        assert_eq!(generalise("user=root", "user=guest"), "user=<*>");
        assert_eq!(generalise("root", "admin"), "<*>");
        assert_eq!(generalise("[a]", "b"), "<*>");
        assert!(pattern_matches("user=<*>", "user=x"));
        assert!(pattern_matches("(<*>)", "()"));
        assert!(!pattern_matches("user=<*>", "uid=x"));
        assert!(pattern_matches("<*>:<*>", "a:b"));
        // multi-byte characters around the differing part must not split a char
        assert_eq!(generalise("é(ü)", "é(ö)"), "é(<*>)");
        assert_eq!(generalise("éü", "éö"), "<*>");
        assert_eq!(generalise("(ü)", "(ö)"), "(<*>)");
    }
}
