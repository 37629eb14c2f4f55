//! Embedding slo-scout's operators in your own timely dataflow, with one custom operator.
//!
//! The pipeline: synthetic telemetry → redact → **drop health checks (custom operator)** →
//! fingerprint → 10-minute windows → print the busiest capsules.
//!
//! ```sh
//! cargo run --example custom_pipeline
//! ```

use std::sync::{Arc, Mutex};

use slo_dataflow::driver::{drive, DriverConfig};
use slo_dataflow::event::{Capsule, EventTime, RedactedEvent, TelemetryEvent};
use slo_dataflow::operator::{ApplyOperator, RecordOperator};
use slo_dataflow::synthetic::{generate, SyntheticConfig};
use slo_operators::fingerprint::{Fingerprinting, MinerConfig};
use slo_operators::metrics::PipelineMetrics;
use slo_operators::redact::{Redact, Redactor};
use slo_operators::window::{WindowCapsules, WindowConfig};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::ProbeHandle;

/// A user operator: drops span events of the recommendation service (pretend they are health
/// checks) and tags the rest with the team that owns the service.
struct DropNoise {
    dropped: u64,
}

impl RecordOperator for DropNoise {
    type In = RedactedEvent;
    type Out = RedactedEvent;

    fn name(&self) -> &str {
        "DropNoise"
    }

    fn process(&mut self, mut record: RedactedEvent, out: &mut Vec<RedactedEvent>) {
        if record.event.service == "recommendation" && record.event.body.is_empty() {
            self.dropped += 1;
            return;
        }
        let team = if record.event.service == "payment" { "payments" } else { "shop" };
        record.event.attributes.insert("team".into(), team.into());
        out.push(record);
    }
}

fn main() {
    let capsules: Arc<Mutex<Vec<Capsule>>> = Arc::default();
    let sink = capsules.clone();
    timely::execute(timely::Config::process(2), move |worker| {
        let metrics = PipelineMetrics::new();
        let probe = ProbeHandle::<EventTime>::new();
        let sink = sink.clone();
        let input = worker.dataflow::<EventTime, _, _>(|scope| {
            let (input, events) = scope.new_input::<TelemetryEvent>();
            let (capsules, _late) = events
                .redact(Redactor::with_defaults(), metrics.clone())
                .apply(DropNoise { dropped: 0 })
                .fingerprint(MinerConfig::default(), metrics.clone())
                .window_capsules(WindowConfig { size_ms: 600_000, ..Default::default() }, metrics.clone());
            capsules.inspect(move |c| sink.lock().unwrap().push(c.clone())).probe_with(&probe);
            input
        });
        let mut source = (worker.index() == 0)
            .then(|| generate(&SyntheticConfig { requests: 3_000, ..Default::default() }).0.into_iter().map(Ok));
        drive(
            worker,
            input,
            &probe,
            source.as_mut().map(|s| s as &mut dyn Iterator<Item = _>),
            &DriverConfig::default(),
            &mut |_| {},
        );
    })
    .expect("timely failed to start");

    let mut capsules = capsules.lock().unwrap().clone();
    capsules.sort_by_key(|c| std::cmp::Reverse(c.count));
    println!("{} capsules; the busiest:", capsules.len());
    for c in capsules.iter().take(8) {
        println!("{:>6}  {:<16} {}", c.count, c.service, c.template);
    }
    assert!(capsules.iter().all(|c| c.service != "recommendation" || !c.samples.iter().all(|s| s.body.is_empty())));
}
