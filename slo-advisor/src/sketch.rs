//! A mergeable quantile sketch in the style of DDSketch (Masson, Rim, Lee, VLDB 2019).
//!
//! Positive values fall into logarithmic buckets `(γ^(k-1), γ^k]` with `γ = (1+α)/(1-α)`; a
//! quantile is answered by the bucket that holds its rank, reported as `2γ^k/(γ+1)`, which is
//! within relative error `α` of every value in the bucket. Values `≤` [`MIN_VALUE`] go to a
//! zero bucket. Merging adds bucket counts, so merging sketches gives exactly the sketch of the
//! union (same buckets, same counts) — per-minute sketches roll up to hours or days losslessly
//! with respect to the sketch. No crate in the registry cache offered this, hence ~100 lines
//! here. Memory: one `u64` per bucket between the smallest and largest value seen (≈ 230
//! buckets for a 1 ms–100 ms spread at α = 1 %).

use serde::{Deserialize, Serialize};

/// Values at or below this go to the zero bucket.
pub const MIN_VALUE: f64 = 1e-9;

/// Default relative accuracy: 1 %.
pub const DEFAULT_ALPHA: f64 = 0.01;

/// The bucket of a non-negative value in a sketch with this `ln γ`: `None` for the zero bucket
/// (`v ≤` [`MIN_VALUE`]), else `⌈ln v / ln γ⌉` (infinity in the bucket of `f64::MAX`).
/// `store_traces` computes the same key in SQL to roll requests up by latency bucket.
pub fn bucket_key(ln_gamma: f64, v: f64) -> Option<i32> {
    if v <= MIN_VALUE {
        return None;
    }
    let v = if v.is_infinite() { f64::MAX } else { v };
    Some((v.ln() / ln_gamma).ceil() as i32)
}

/// A DDSketch-style quantile sketch with relative accuracy `alpha`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DdSketch {
    alpha: f64,
    ln_gamma: f64,
    /// Key of `bins[0]`.
    offset: i32,
    bins: Vec<u64>,
    zero: u64,
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
}

impl Default for DdSketch {
    fn default() -> Self {
        DdSketch::new(DEFAULT_ALPHA)
    }
}

impl PartialEq for DdSketch {
    /// Equal when they have the same accuracy, count, extremes and non-empty buckets (the sum
    /// is compared with a relative tolerance, as float addition order may differ).
    fn eq(&self, other: &Self) -> bool {
        self.alpha == other.alpha
            && self.count == other.count
            && self.zero == other.zero
            && self.min == other.min
            && self.max == other.max
            && (self.sum - other.sum).abs() <= 1e-9 * self.sum.abs().max(1.0)
            && self.buckets().eq(other.buckets())
    }
}

impl DdSketch {
    /// An empty sketch with relative accuracy `alpha` (clamped to `[1e-4, 0.5]`).
    pub fn new(alpha: f64) -> Self {
        let alpha = if alpha.is_finite() { alpha.clamp(1e-4, 0.5) } else { DEFAULT_ALPHA };
        let gamma = (1.0 + alpha) / (1.0 - alpha);
        DdSketch {
            alpha,
            ln_gamma: gamma.ln(),
            offset: 0,
            bins: Vec::new(),
            zero: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }

    /// The relative accuracy.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Number of values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of the values added.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Smallest value added (`None` when empty).
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest value added (`None` when empty).
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// `ln γ` of this sketch's buckets (see [`bucket_key`]).
    pub fn ln_gamma(&self) -> f64 {
        self.ln_gamma
    }

    fn value_of(&self, key: i32) -> f64 {
        let gamma = self.ln_gamma.exp();
        2.0 * (key as f64 * self.ln_gamma).exp() / (gamma + 1.0)
    }

    fn add_to_key(&mut self, key: i32, n: u64) {
        if self.bins.is_empty() {
            self.offset = key;
            self.bins.push(0);
        } else if key < self.offset {
            let grow = (self.offset - key) as usize;
            self.bins.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = key;
        } else if key >= self.offset + self.bins.len() as i32 {
            self.bins.resize((key - self.offset) as usize + 1, 0);
        }
        self.bins[(key - self.offset) as usize] += n;
    }

    /// Adds one value. NaN is ignored; negative values count as zero.
    pub fn add(&mut self, v: f64) {
        self.add_n(v, 1);
    }

    /// Adds `n` values that all fall in `mean`'s bucket and range from `min` to `max` (a
    /// rolled-up row of `n` requests): the same buckets, count and extremes as adding them one
    /// by one; the sum is `n · mean`.
    pub fn add_range(&mut self, mean: f64, n: u64, min: f64, max: f64) {
        self.add_n(mean, n);
        if n > 0 && !mean.is_nan() {
            self.min = self.min.min(min.max(0.0));
            self.max = self.max.max(max.max(0.0));
        }
    }

    /// Adds `n` copies of one value. NaN is ignored; negative values count as zero.
    pub fn add_n(&mut self, v: f64, n: u64) {
        if v.is_nan() || n == 0 {
            return;
        }
        let v = v.max(0.0);
        match bucket_key(self.ln_gamma, v) {
            None => self.zero += n,
            Some(k) => self.add_to_key(k, n),
        }
        self.count += n;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v * n as f64;
    }

    /// Adds every bucket of `other` (which must have the same accuracy; a sketch of another
    /// accuracy is merged by re-adding its bucket values, which loses a little precision).
    pub fn merge(&mut self, other: &DdSketch) {
        if other.count == 0 {
            return;
        }
        if other.alpha == self.alpha {
            for (k, n) in other.buckets() {
                self.add_to_key(k, n);
            }
        } else {
            for (k, n) in other.buckets() {
                match bucket_key(self.ln_gamma, other.value_of(k)) {
                    Some(key) => self.add_to_key(key, n),
                    None => self.zero += n,
                }
            }
        }
        self.zero += other.zero;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// Non-empty buckets as `(key, count)`, by key.
    pub fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.bins.iter().enumerate().filter(|(_, n)| **n > 0).map(move |(i, n)| (self.offset + i as i32, *n))
    }

    /// The `q`-quantile (`q` in `[0, 1]`, clamped): the value of rank `⌊q·(n−1)⌋` among the
    /// values added, within relative error `alpha`. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || q.is_nan() {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * (self.count - 1) as f64).floor() as u64;
        if rank < self.zero {
            return Some(self.min.max(0.0));
        }
        let mut seen = self.zero;
        for (k, n) in self.buckets() {
            seen += n;
            if seen > rank {
                return Some(self.value_of(k).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    #[test]
    fn quantiles_are_within_one_percent_on_lognormal_latencies() {
        let mut rng = slo_dataflow::synthetic::SplitMix64::new(7);
        let mut values: Vec<f64> = (0..50_000).map(|_| 80.0 * (0.8 * rng.normal()).exp()).collect();
        let mut s = DdSketch::default();
        for v in &values {
            s.add(*v);
        }
        values.sort_by(|a, b| a.total_cmp(b));
        for q in [0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let (e, got) = (exact(&values, q), s.quantile(q).unwrap());
            assert!((got - e).abs() / e <= 0.01 + 1e-12, "q={q} exact={e} got={got}");
        }
        assert_eq!(s.count(), 50_000);
    }

    #[test]
    fn empty_zero_and_odd_values() {
        let mut s = DdSketch::default();
        assert_eq!(s.quantile(0.5), None);
        s.add(f64::NAN);
        assert_eq!(s.count(), 0);
        s.add(0.0);
        s.add(-3.0);
        s.add(5.0);
        assert_eq!(s.quantile(0.0), Some(0.0));
        assert!((s.quantile(1.0).unwrap() - 5.0).abs() < 0.05);
        s.add(f64::INFINITY);
        assert!(s.quantile(1.0).is_some());
    }

    proptest! {
        #[test]
        fn merge_equals_sketch_of_union(a in proptest::collection::vec(0.0f64..1e6, 0..300), b in proptest::collection::vec(0.0f64..1e6, 0..300)) {
            let mut sa = DdSketch::default();
            let mut sb = DdSketch::default();
            let mut su = DdSketch::default();
            for v in &a { sa.add(*v); su.add(*v); }
            for v in &b { sb.add(*v); su.add(*v); }
            sa.merge(&sb);
            prop_assert_eq!(&sa, &su);
            for q in [0.5, 0.9, 0.99] {
                prop_assert_eq!(sa.quantile(q), su.quantile(q));
            }
        }

        #[test]
        fn any_quantile_is_within_alpha(mut v in proptest::collection::vec(0.001f64..1e7, 1..500), q in 0.0f64..=1.0) {
            let mut s = DdSketch::default();
            for x in &v { s.add(*x); }
            v.sort_by(|a, b| a.total_cmp(b));
            let e = exact(&v, q);
            let got = s.quantile(q).unwrap();
            prop_assert!((got - e).abs() / e <= 0.01 + 1e-9, "exact {} got {}", e, got);
        }
    }
}
