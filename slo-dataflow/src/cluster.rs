//! Worker and cluster configuration, mirroring timely's `-w/-n/-p/-h` options.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How many timely workers run, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterConfig {
    /// Worker threads per process (`-w`). Default 1.
    pub workers: usize,
    /// Number of processes (`-n`). Default 1.
    pub processes: usize,
    /// Index of this process, `0..processes` (`-p`). Default 0.
    pub process: usize,
    /// File with one `host:port` per line, one per process (`-h`). Default: `localhost:2101+i`.
    pub hostfile: Option<PathBuf>,
    /// Explicit addresses (take precedence over `hostfile`).
    pub addresses: Vec<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { workers: 1, processes: 1, process: 0, hostfile: None, addresses: Vec::new() }
    }
}

/// Invalid cluster settings.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A numeric setting is out of range.
    #[error("invalid cluster setting: {0}")]
    Invalid(String),
    /// The host file could not be read.
    #[error("cannot read host file {path}: {source}")]
    Hostfile {
        /// Path of the host file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl ClusterConfig {
    /// A single process with `workers` threads.
    pub fn threads(workers: usize) -> Self {
        ClusterConfig { workers, ..Default::default() }
    }

    /// Total number of workers across all processes.
    pub fn peers(&self) -> usize {
        self.workers * self.processes
    }

    /// The timely configuration for these settings.
    pub fn to_timely(&self) -> Result<timely::Config, ClusterError> {
        if self.workers == 0 || self.processes == 0 {
            return Err(ClusterError::Invalid("workers and processes must be at least 1".into()));
        }
        if self.process >= self.processes {
            return Err(ClusterError::Invalid(format!(
                "process index {} must be below the process count {}",
                self.process, self.processes
            )));
        }
        let communication = if self.processes > 1 {
            let addresses = self.resolve_addresses()?;
            timely::CommunicationConfig::Cluster {
                threads: self.workers,
                process: self.process,
                addresses,
                report: false,
                zerocopy: false,
            }
        } else if self.workers > 1 {
            timely::CommunicationConfig::Process(self.workers)
        } else {
            timely::CommunicationConfig::Thread
        };
        Ok(timely::Config { communication, worker: timely::WorkerConfig::default() })
    }

    fn resolve_addresses(&self) -> Result<Vec<String>, ClusterError> {
        let addresses: Vec<String> = if !self.addresses.is_empty() {
            self.addresses.clone()
        } else if let Some(path) = &self.hostfile {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ClusterError::Hostfile { path: path.clone(), source })?;
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
        } else {
            (0..self.processes).map(|i| format!("localhost:{}", 2101 + i)).collect()
        };
        if addresses.len() < self.processes {
            return Err(ClusterError::Invalid(format!(
                "{} addresses for {} processes",
                addresses.len(),
                self.processes
            )));
        }
        Ok(addresses.into_iter().take(self.processes).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_onto_timely_configurations() {
        assert!(matches!(
            ClusterConfig::default().to_timely().unwrap().communication,
            timely::CommunicationConfig::Thread
        ));
        assert!(matches!(
            ClusterConfig::threads(4).to_timely().unwrap().communication,
            timely::CommunicationConfig::Process(4)
        ));
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "# cluster\n127.0.0.1:4000\n127.0.0.1:4001\n").unwrap();
        let cfg = ClusterConfig { workers: 2, processes: 2, process: 1, hostfile: Some(hosts), addresses: vec![] };
        match cfg.to_timely().unwrap().communication {
            timely::CommunicationConfig::Cluster { threads, process, addresses, .. } => {
                assert_eq!((threads, process), (2, 1));
                assert_eq!(addresses, vec!["127.0.0.1:4000", "127.0.0.1:4001"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(cfg.peers(), 4);
        assert!(ClusterConfig { process: 2, processes: 2, ..Default::default() }.to_timely().is_err());
        assert!(ClusterConfig { workers: 0, ..Default::default() }.to_timely().is_err());
    }
}
