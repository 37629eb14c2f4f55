//! The standard capsule pipeline, assembled from the operators:
//! source → [`redact`](crate::redact::Redact) → [`fingerprint`](crate::fingerprint::Fingerprinting)
//! → [`window_capsules`](crate::window::WindowCapsules) → optional [`embed`](crate::embed::Embed)
//! → sinks. Runs on any number of timely workers and processes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use slo_dataflow::cluster::{ClusterConfig, ClusterError};
use slo_dataflow::driver::{drive, DriverConfig};
use slo_dataflow::event::{Capsule, EventTime, LateEvent, TelemetryEvent};
use slo_dataflow::sink::{Sink, SinkError};
use slo_dataflow::source::{DeadLetter, EventSource};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::Probe;
use timely::dataflow::ProbeHandle;

use crate::embed::{Embed, EmbedConfig, EmbedError};
use crate::fingerprint::{Fingerprinting, MinerConfig};
use crate::metrics::PipelineMetrics;
use crate::redact::{Redact, RedactError, Redactor, RedactorConfig};
use crate::window::{WindowCapsules, WindowConfig};

/// Everything the pipeline can be configured with; every section has documented defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Redaction rules.
    pub redaction: RedactorConfig,
    /// Template miner settings.
    pub miner: MinerConfig,
    /// Window settings.
    pub window: WindowConfig,
    /// Watermark settings.
    pub driver: DriverConfig,
    /// Embedder; `None` (the default) embeds nothing.
    pub embedding: Option<EmbedConfig>,
}

/// A dead letter as written out: the payload has been through the redactor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// Where the record came from.
    pub origin: String,
    /// Line number / offset in the source.
    pub line: u64,
    /// Byte offset in the source.
    pub offset: u64,
    /// Why it was rejected.
    pub reason: String,
    /// The original payload, lossily decoded and redacted.
    pub payload_redacted: String,
}

impl DeadLetterRecord {
    /// Redacts a dead letter's payload so that no sink receives PII.
    ///
    /// The payload is redacted as decoded text: JSON `\uXXXX` and `\/` escapes are decoded
    /// first, so `carol\u0040example.com` cannot slip past as it did when the raw text was
    /// redacted.
    pub fn from_dead_letter(dead: DeadLetter, redactor: &Redactor) -> Self {
        let raw = String::from_utf8_lossy(&dead.payload);
        let text = decode_json_escapes(&raw);
        DeadLetterRecord {
            origin: dead.origin,
            line: dead.line,
            offset: dead.offset,
            // Parser messages can quote the offending value (serde_json: `invalid type: string
            // "bob@example.com"`), so the reason goes through the redactor too.
            reason: redactor.redact(&dead.reason).text,
            payload_redacted: redactor.redact(&text).text,
        }
    }
}

/// `text` with JSON's `\uXXXX` escapes (surrogate pairs joined; a lone surrogate becomes U+FFFD)
/// and `\/` decoded; other escapes (`\"`, `\\`, `\n`, ...) are kept as they are.
pub(crate) fn decode_json_escapes(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("\\u") && !text.contains("\\/") {
        return std::borrow::Cow::Borrowed(text);
    }
    let hex4 = |s: &str| -> Option<u32> {
        let h = s.get(..4)?;
        h.bytes().all(|b| b.is_ascii_hexdigit()).then(|| u32::from_str_radix(h, 16).ok()).flatten()
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.as_bytes().first() {
            Some(b'u') => match hex4(&after[1..]) {
                Some(hi @ 0xD800..=0xDBFF) => {
                    let low = after[5..].strip_prefix("\\u").and_then(hex4).filter(|l| (0xDC00..=0xDFFF).contains(l));
                    match low {
                        Some(lo) => {
                            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                            rest = &after[11..];
                        }
                        None => {
                            out.push('\u{fffd}');
                            rest = &after[5..];
                        }
                    }
                }
                Some(c) => {
                    out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                    rest = &after[5..];
                }
                None => {
                    out.push('\\');
                    rest = after;
                }
            },
            Some(b'/') => {
                out.push('/');
                rest = &after[1..];
            }
            Some(_) => {
                // Keep the escape: copy the backslash and the escaped character.
                let c = after.chars().next().map_or(0, char::len_utf8);
                out.push('\\');
                out.push_str(&after[..c]);
                rest = &after[c..];
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Dead letters written to their sink at a time.
const DEAD_LETTER_BATCH: usize = 256;

/// Makes the sink of one worker (called with the worker index).
pub type SinkFactory<T> = Box<dyn Fn(usize) -> Box<dyn Sink<T>> + Send + Sync>;

/// Where the pipeline's outputs go; one instance per worker, made by these factories.
pub struct PipelineSinks {
    /// Capsules.
    pub capsules: SinkFactory<Capsule>,
    /// Late events.
    pub late: SinkFactory<LateEvent>,
    /// Dead letters (already redacted).
    pub dead_letters: SinkFactory<DeadLetterRecord>,
    /// Optional: every redacted event (e.g. to store spans and metric points). Flushed once,
    /// when the input is exhausted.
    pub events: Option<SinkFactory<TelemetryEvent>>,
}

/// Errors running the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Bad cluster settings.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Bad redaction rules.
    #[error(transparent)]
    Redact(#[from] RedactError),
    /// The embedder could not be created.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// A sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The source could not be opened.
    #[error("source: {0}")]
    Source(String),
    /// Timely failed to start or a worker panicked.
    #[error("dataflow: {0}")]
    Dataflow(String),
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PipelineReport {
    /// Events read.
    pub events: u64,
    /// Malformed records (sent to the dead-letter sink).
    pub malformed: u64,
    /// Capsules emitted.
    pub capsules: u64,
    /// Templates known at the end (all workers).
    pub templates: u64,
    /// Template evictions.
    pub template_evictions: u64,
    /// Window evictions.
    pub window_evictions: u64,
    /// Late events.
    pub late: u64,
    /// Events with at least one redaction.
    pub events_redacted: u64,
    /// Redactions by type.
    pub redactions: BTreeMap<String, u64>,
    /// Templates embedded.
    pub embeddings: u64,
}

/// Remembers a worker's error for the caller (the first one is returned by [`run_pipeline`]).
fn record_error(errors: &Mutex<Vec<String>>, e: impl std::fmt::Display) {
    if let Ok(mut v) = errors.lock() {
        v.push(e.to_string());
    }
}

/// Runs the pipeline to completion over a bounded source.
///
/// `source` is called once, on global worker 0, which reads and sends every event; the
/// redaction and mining work is spread over all workers by the operators' exchanges.
pub fn run_pipeline<S>(
    cluster: &ClusterConfig,
    config: PipelineConfig,
    source: S,
    sinks: PipelineSinks,
    metrics: Arc<PipelineMetrics>,
) -> Result<PipelineReport, PipelineError>
where
    S: Fn() -> Result<Box<dyn EventSource>, String> + Send + Sync + 'static,
{
    let redactor = Redactor::new(config.redaction.clone())?;
    if let Some(e) = &config.embedding {
        e.validate()?;
    }
    let timely_config = cluster.to_timely()?;
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let totals: Arc<Mutex<(u64, u64)>> = Arc::default();
    let (m, errs, tot) = (metrics.clone(), errors.clone(), totals.clone());
    let guards = timely::execute(timely_config, move |worker| {
        let index = worker.index();
        let probe = ProbeHandle::<EventTime>::new();
        let (m, errs) = (m.clone(), errs.clone());
        let cfg = config.clone();
        let mut capsule_sink = (sinks.capsules)(index);
        let mut late_sink = (sinks.late)(index);
        let mut dead_sink = (sinks.dead_letters)(index);
        let mut event_sink = sinks.events.as_ref().map(|f| f(index));
        let sink_errors = errs.clone();
        let built = worker.dataflow::<EventTime, _, _>(|scope| {
            let (input, events) = scope.new_input::<TelemetryEvent>();
            let redacted = events.redact(redactor.clone(), m.clone());
            if let Some(mut sink) = event_sink.take() {
                let errs_e = sink_errors.clone();
                let mut flushed = false;
                redacted.clone().sink(Pipeline, "EventSink", move |(input, frontier)| {
                    input.for_each(|_cap, data| {
                        let events: Vec<TelemetryEvent> = data.iter().map(|r| r.event.clone()).collect();
                        if let Err(e) = sink.write(&events) {
                            record_error(&errs_e, e);
                        }
                    });
                    if frontier.is_empty() && !flushed {
                        flushed = true;
                        if let Err(e) = sink.flush() {
                            record_error(&errs_e, e);
                        }
                    }
                });
            }
            let mined = redacted.fingerprint(cfg.miner.clone(), m.clone());
            let (capsules, late) = mined.window_capsules(cfg.window.clone(), m.clone());
            let capsules = match &cfg.embedding {
                Some(e) => capsules.embed(e.clone(), m.clone())?,
                None => capsules,
            };
            let errs_c = sink_errors.clone();
            capsules.probe_with(&probe).sink(Pipeline, "CapsuleSink", move |(input, _frontier)| {
                input.for_each(|_cap, data| {
                    if let Err(e) = capsule_sink.write(data).and_then(|_| capsule_sink.flush()) {
                        record_error(&errs_c, e);
                    }
                });
            });
            let errs_l = sink_errors.clone();
            late.probe_with(&probe).sink(Pipeline, "LateSink", move |(input, _frontier)| {
                input.for_each(|_cap, data| {
                    if let Err(e) = late_sink.write(data).and_then(|_| late_sink.flush()) {
                        record_error(&errs_l, e);
                    }
                });
            });
            Ok::<_, EmbedError>(input)
        });
        let input = match built {
            Ok(input) => input,
            Err(e) => {
                record_error(&errs, e);
                return;
            }
        };
        let mut source_iter = if index == 0 {
            match source() {
                Ok(s) => Some(s),
                Err(e) => {
                    record_error(&errs, e);
                    None
                }
            }
        } else {
            None
        };
        // Dead letters are written as they come (a batch of a few at a time), so a file of
        // bad records costs no memory however long it is.
        let dead_redactor = redactor.clone();
        let mut dead_batch: Vec<DeadLetterRecord> = Vec::with_capacity(DEAD_LETTER_BATCH);
        let dead_errs = errs.clone();
        let mut on_dead = |d: DeadLetter| {
            dead_batch.push(DeadLetterRecord::from_dead_letter(d, &dead_redactor));
            if dead_batch.len() >= DEAD_LETTER_BATCH {
                if let Err(e) = dead_sink.write(&dead_batch) {
                    record_error(&dead_errs, e);
                }
                dead_batch.clear();
            }
        };
        let stats = drive(
            worker,
            input,
            &probe,
            source_iter.as_mut().map(|s| s as &mut dyn Iterator<Item = _>),
            &cfg.driver,
            &mut on_dead,
        );
        if let Err(e) = dead_sink.write(&dead_batch).and_then(|_| dead_sink.flush()) {
            record_error(&errs, e);
        }
        if let Ok(mut t) = tot.lock() {
            t.0 += stats.events;
            t.1 += stats.malformed;
        }
    })
    .map_err(PipelineError::Dataflow)?;
    for result in guards.join() {
        result.map_err(PipelineError::Dataflow)?;
    }
    if let Some(first) = errors.lock().ok().and_then(|v| v.first().cloned()) {
        return Err(PipelineError::Dataflow(first));
    }
    let (events, malformed) = totals.lock().map(|t| *t).unwrap_or_default();
    Ok(PipelineReport {
        events,
        malformed,
        capsules: PipelineMetrics::get(&metrics.capsules_out),
        templates: PipelineMetrics::get(&metrics.templates),
        template_evictions: PipelineMetrics::get(&metrics.template_evictions),
        window_evictions: PipelineMetrics::get(&metrics.window_evictions),
        late: PipelineMetrics::get(&metrics.late_events),
        events_redacted: PipelineMetrics::get(&metrics.events_redacted),
        redactions: metrics.redactions(),
        embeddings: PipelineMetrics::get(&metrics.embeddings_computed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_are_decoded_and_other_escapes_kept() {
        assert_eq!(decode_json_escapes(r#"a\u0040b\/c"#), "a@b/c");
        assert_eq!(decode_json_escapes(r#"\ud83d\ude00 \ud800x \u12"#), "\u{1f600} \u{fffd}x \\u12");
        assert_eq!(decode_json_escapes(r#"\\u0040 \" \n"#), r#"\\u0040 \" \n"#);
        assert_eq!(decode_json_escapes("plain é"), "plain é");
    }

    /// Regression (issue 17, defect 9): dead-letter payloads were redacted as raw text, so PII
    /// written with JSON escapes reached `dead_letters.jsonl`.
    #[test]
    fn escaped_pii_in_a_dead_letter_is_redacted() {
        let redactor = Redactor::new(RedactorConfig::default()).unwrap();
        let payload = br#"{"body":"carol\u0040example.com paid with 4111\u00201111\u00201111\u00201111","t":}"#;
        let dead = DeadLetter {
            origin: "f".into(),
            line: 1,
            offset: 0,
            reason: "invalid JSON".into(),
            payload: payload.to_vec(),
        };
        let rec = DeadLetterRecord::from_dead_letter(dead, &redactor);
        for leak in ["carol", "example.com", "4111"] {
            assert!(!rec.payload_redacted.contains(leak), "{leak} in {}", rec.payload_redacted);
        }
        assert!(rec.payload_redacted.contains("<EMAIL>"), "{}", rec.payload_redacted);
    }
}
