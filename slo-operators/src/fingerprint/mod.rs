//! Template mining and SHA-256 fingerprints.
//!
//! Everything here except the timely extension [`Fingerprinting`] is a pure core with no timely
//! types.
//!
//! * [`mask`] — generic, stateless masking of variable tokens (numbers, ids, IPs, paths, …).
//! * [`TemplateMiner`] ([`miner`]) — online Drain-like clustering of masked lines with bounded
//!   memory, snapshot/restore and deterministic merge. One generic [`MinerConfig`] for every
//!   source: no per-source regexes.
//! * [`Fingerprint`] — SHA-256 of a template string: the same template yields the same
//!   fingerprint on every worker and across restarts.
//! * [`batch`] — mine a whole file and write Loghub-style `LineId,EventTemplate` predictions.

pub mod batch;
pub mod mask;
pub mod miner;

pub use miner::{ClusterId, ClusterState, MineResult, MinerConfig, MinerState, TemplateMiner, MEMO_HASH_VERSION};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// SHA-256 of a template string. Displays (and serialises) as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub [u8; 32]);

/// SHA-256 fingerprint of a template.
pub fn fingerprint_of(template: &str) -> Fingerprint {
    Fingerprint(Sha256::digest(template.as_bytes()).into())
}

impl Fingerprint {
    /// Lowercase hex encoding (64 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Result<Self, hex::FromHexError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)?;
        Ok(Fingerprint(out))
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = hex::FromHexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fingerprint::from_hex(s)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Fingerprint::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;

mod operator;
pub use operator::Fingerprinting;
