//! One module per subcommand.

pub(crate) mod analyze;
pub(crate) mod artifacts;
pub(crate) mod backtest;
pub(crate) mod generate;
pub(crate) mod kafka;
pub(crate) mod kafka_events;
pub(crate) mod kafka_live;
pub(crate) mod kafka_offsets;
pub(crate) mod kafka_produce;
pub(crate) mod kafka_run;
pub(crate) mod maintain;
pub(crate) mod metrics_http;
pub(crate) mod mine;
pub(crate) mod progress;
pub(crate) mod publish;
pub(crate) mod query;
pub(crate) mod redact;
pub(crate) mod run;
pub(crate) mod sample;
pub(crate) mod validate;

/// A duration flag in whole milliseconds: `1h`, `5m`, `1h30m`, `250ms`, or a plain number of ms
/// (the grammar of `slo_dataflow::time`).
pub(crate) fn duration_ms(text: &str) -> anyhow::Result<u64> {
    let ms = slo_dataflow::time::parse_duration_ms(text, slo_dataflow::time::BareNumber::Millis)?;
    Ok(ms.round() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn duration_flags() {
        assert_eq!(super::duration_ms("1h").unwrap(), 3_600_000);
        assert_eq!(super::duration_ms("5m").unwrap(), 300_000);
        assert_eq!(super::duration_ms("30s").unwrap(), 30_000);
        assert_eq!(super::duration_ms("250ms").unwrap(), 250);
        assert_eq!(super::duration_ms("1000").unwrap(), 1000);
        assert_eq!(super::duration_ms("1m30s").unwrap(), 90_000);
        assert!(super::duration_ms("soon").is_err());
    }
}
