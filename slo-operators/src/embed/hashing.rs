//! Deterministic feature-hashing embedder (no model files).

use super::{l2_normalize, EmbedError, Embedder};

/// Weight of a whole-token feature.
const TOKEN_WEIGHT: f32 = 1.0;
/// Weight of a token-bigram feature.
const BIGRAM_WEIGHT: f32 = 0.5;
/// Weight of a character-trigram feature.
const TRIGRAM_WEIGHT: f32 = 0.35;

/// Deterministic feature-hashing embedder.
///
/// The text is lower-cased and split into tokens (alphanumeric runs; placeholders such as `<*>` or
/// `<EMAIL>` are kept as single tokens; other punctuation is dropped). Each token, each pair of
/// adjacent tokens and each character trigram of `^token$` is hashed (FNV-1a 64 + a SplitMix64
/// finaliser — stable across platforms, Rust versions and runs) to an index in `0..dim` and a sign,
/// weighted and summed; the result is L2-normalised. Every text, the empty string included, maps
/// to a unit vector.
///
/// It captures lexical overlap only (no semantics): use it for tests, for runs without the model,
/// or when selected on purpose ([`super::EmbedderKind::Hashing`]).
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    dim: usize,
    name: String,
}

impl HashingEmbedder {
    /// A hashing embedder producing `dim`-dimensional vectors (`dim` is clamped to at least 1).
    pub fn new(dim: usize) -> Self {
        let dim = dim.max(1);
        Self { dim, name: format!("hashing-{dim}") }
    }

    /// Embeds one text (same result as a one-element [`Embedder::embed_batch`]).
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; self.dim];
        let lower = text.to_lowercase();
        let tokens = tokenize(&lower);
        if tokens.is_empty() {
            self.add(&mut v, b"\x00empty", 1.0);
        }
        let mut buf = Vec::with_capacity(64);
        for (i, tok) in tokens.iter().enumerate() {
            buf.clear();
            buf.push(b'T');
            buf.extend_from_slice(tok.as_bytes());
            self.add(&mut v, &buf, TOKEN_WEIGHT);
            if let Some(next) = tokens.get(i + 1) {
                buf.clear();
                buf.push(b'B');
                buf.extend_from_slice(tok.as_bytes());
                buf.push(b' ');
                buf.extend_from_slice(next.as_bytes());
                self.add(&mut v, &buf, BIGRAM_WEIGHT);
            }
            // Character trigrams of the token with boundary markers; placeholders are atomic.
            if !tok.starts_with('<') {
                let chars: Vec<char> = std::iter::once('^').chain(tok.chars()).chain(std::iter::once('$')).collect();
                for w in chars.windows(3) {
                    buf.clear();
                    buf.push(b'C');
                    let mut tmp = [0u8; 4];
                    for c in w {
                        buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                    }
                    self.add(&mut v, &buf, TRIGRAM_WEIGHT);
                }
            }
        }
        l2_normalize(&mut v);
        v
    }

    fn add(&self, v: &mut [f32], feature: &[u8], weight: f32) {
        let h = mix(fnv1a(feature));
        let idx = (h % self.dim as u64) as usize;
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[idx] += sign * weight;
    }
}

impl Default for HashingEmbedder {
    /// 384 dimensions, like MiniLM.
    fn default() -> Self {
        Self::new(super::DEFAULT_HASHING_DIM)
    }
}

impl Embedder for HashingEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

/// Splits lower-cased text into alphanumeric runs and `<...>` placeholders.
fn tokenize(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or(' ');
        if c == '<' {
            // placeholder: `<` + up to 32 word chars / `*` + `>`
            if let Some(end) = text[i + 1..].find('>') {
                let inner = &text[i + 1..i + 1 + end];
                if end <= 32 && !inner.is_empty() && inner.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '*')
                {
                    out.push(&text[i..i + end + 2]);
                    i += end + 2;
                    continue;
                }
            }
            i += 1;
        } else if c.is_alphanumeric() {
            let start = i;
            while i < bytes.len() {
                let c = text[i..].chars().next().unwrap_or(' ');
                if !c.is_alphanumeric() {
                    break;
                }
                i += c.len_utf8();
            }
            out.push(&text[start..i]);
        } else {
            i += c.len_utf8();
        }
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 finaliser: spreads FNV's weak low bits over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::cosine;

    fn norm(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    #[test]
    fn embed_hashing_tokenize() {
        assert_eq!(
            tokenize("connection refused to <*> after <num> retries (code=5)"),
            vec!["connection", "refused", "to", "<*>", "after", "<num>", "retries", "code", "5"]
        );
        assert_eq!(tokenize("a<b c> <*"), vec!["a", "b", "c"]);
        assert_eq!(tokenize("héllo wörld"), vec!["héllo", "wörld"]);
        assert!(tokenize("  ,;  ").is_empty());
    }

    #[test]
    fn embed_hashing_deterministic() {
        let mut a = HashingEmbedder::new(384);
        let mut b = HashingEmbedder::new(384);
        let texts = ["Connection refused to host <*>", "payment declined", ""];
        let va = a.embed_batch(&texts).unwrap();
        let vb = b.embed_batch(&texts).unwrap();
        assert_eq!(va, vb);
        assert_eq!(va, a.embed_batch(&texts).unwrap());
        assert_eq!(va[0], a.embed_one(texts[0]));
        // Pin a few values so that the hash function never changes silently (stored vectors
        // would become incomparable).
        let v = a.embed_one("GET /api/v1/orders/<*> HTTP/1.1 200");
        let nz: Vec<usize> = v.iter().enumerate().filter(|(_, x)| **x != 0.0).map(|(i, _)| i).collect();
        assert!(nz.len() > 10, "{nz:?}");
        let again = HashingEmbedder::new(384).embed_one("GET /api/v1/orders/<*> HTTP/1.1 200");
        assert_eq!(v, again);
        assert_eq!(a.name(), "hashing-384");
    }

    #[test]
    fn embed_hashing_unit_norm() {
        let mut e = HashingEmbedder::new(384);
        let texts = ["", "x", "Connection refused", "日本語のログ <*>", "<*> <*> <*>", ",,,"];
        for v in e.embed_batch(&texts).unwrap() {
            assert_eq!(v.len(), 384);
            assert!((norm(&v) - 1.0).abs() < 1e-5, "{}", norm(&v));
            assert!(v.iter().all(|x| x.is_finite()));
        }
        assert_eq!(e.embed_batch(&[]).unwrap().len(), 0);
        assert_eq!(HashingEmbedder::new(0).dim(), 1);
    }

    #[test]
    fn embed_hashing_similar_closer_than_dissimilar() {
        let e = HashingEmbedder::default();
        let a = e.embed_one("Connection refused to host <*> after <*> retries");
        let b = e.embed_one("Connection refused by host <*> after <*> attempts");
        let c = e.embed_one("payment declined card=<CREDIT_CARD> customer=<PERSON>");
        let d = e.embed_one("PacketResponder <*> for block <*> terminating");
        let ab = cosine(&a, &b);
        assert!(ab > cosine(&a, &c), "{ab} vs {}", cosine(&a, &c));
        assert!(ab > cosine(&a, &d), "{ab} vs {}", cosine(&a, &d));
        assert!(ab > 0.5, "{ab}");
        // morphological variants share trigrams
        let r1 = e.embed_one("retrying connection");
        let r2 = e.embed_one("retried connections");
        let r3 = e.embed_one("disk quota exceeded");
        assert!(cosine(&r1, &r2) > cosine(&r1, &r3));
    }
}
