//! Converting between spec formats loses only what the target format cannot hold, and says so.
//!
//! Over the example specs (`examples/slo/`) and seeded variations of them (objectives, SLI kinds,
//! labels, alerting), Sloth → OpenSLO v1 → Sloth must give the same service level on every field
//! OpenSLO carries, and the loss report of [`slo::spec::write`] must name exactly the fields that
//! did not survive: compared here field by field with an independent diff of the models.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use slo_artifacts::spec::{self, merge_services, SpecFormat};
use slo_artifacts::{self as slo, PromDuration, ReadOptions, ServiceLevel, Sli, Slo, SpecSource};

const PERIOD: PromDuration = PromDuration::days(30);

fn read(text: &str) -> Vec<ServiceLevel> {
    slo::parse_documents(text, &ReadOptions { default_period: PERIOD }).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn examples() -> Vec<(String, ServiceLevel)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/slo");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml" || e == "yml")) {
        for level in read(&std::fs::read_to_string(f).unwrap()) {
            out.push((f.file_name().unwrap().to_string_lossy().into_owned(), level));
        }
    }
    assert!(out.len() >= 2, "the examples are missing: {}", dir.display());
    out.push(("k8s".into(), read(K8S).remove(0)));
    out
}

const K8S: &str = r#"
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata: {name: cart-slos, namespace: shop, labels: {owner: cart}}
spec:
  service: cart
  labels: {team: cart}
  slos:
    - name: errors
      objective: 99.95
      sli:
        raw:
          error_ratio_query: sum(rate(errors_total{job="cart"}[{{.window}}])) / sum(rate(requests_total{job="cart"}[{{.window}}]))
      alerting: {name: CartErrors, pageAlert: {labels: {severity: critical}}, ticketAlert: {disable: true}}
"#;

/// xorshift64*: seeded, the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn labels(&mut self, pool: &[(&str, &str)]) -> BTreeMap<String, String> {
        pool.iter().filter(|_| self.coin()).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }
}

/// Label names Prometheus accepts; `_hidden` and `tier_` are not valid OpenSLO keys.
const LABELS: [(&str, &str); 6] = [
    ("team", "payments"),
    ("slo_scout_journey", "POST /cart/checkout"),
    ("_hidden", "x"),
    ("tier_", "1"),
    ("env", "prod"),
    ("journey", "checkout \"quoted\"\nline"),
];

fn vary(base: &ServiceLevel, rng: &mut Rng) -> ServiceLevel {
    let mut level = base.clone();
    if rng.coin() {
        level.labels = rng.labels(&LABELS);
    }
    for slo in &mut level.slos {
        vary_slo(slo, rng);
    }
    if rng.below(4) == 0 {
        let mut extra = level.slos[0].clone();
        extra.name = format!("{}-extra", extra.name);
        vary_slo(&mut extra, rng);
        level.slos.push(extra);
    }
    level.validate().unwrap_or_else(|e| panic!("variation is invalid: {e}\n{level:#?}"));
    level
}

fn vary_slo(slo: &mut Slo, rng: &mut Rng) {
    slo.objective = *rng.pick(&[99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 95.0, 90.1, 7.09, 100.0, 0.5]);
    slo.description = rng.pick(&["", "Requests that succeed.", "multi\nline: with 'quotes' and \"more\""]).to_string();
    if rng.coin() {
        slo.labels = rng.labels(&LABELS);
    }
    match rng.below(4) {
        0 => {
            slo.sli = Sli::Raw {
                error_ratio_query: "1 - (sum(rate(ok_total[{{.window}}])) / sum(rate(requests_total[{{ .window }}])))"
                    .into(),
            }
        }
        1 => {
            slo.sli = Sli::Latency {
                histogram: "http_server_request_duration_seconds".into(),
                selector: rng.pick(&["", "job=\"api\"", "job=\"api\",route=~\"/a|/b\""]).to_string(),
                threshold: *rng.pick(&[0.25, 1.0, 2.5]),
            }
        }
        _ => {} // the example's own SLI
    }
    let a = &mut slo.alerting;
    match rng.below(3) {
        0 => *a = Default::default(),
        1 => {
            a.labels = rng.labels(&[("category", "availability"), ("team", "x")]);
            a.annotations = rng.labels(&[("runbook", "https://runbooks/x"), ("summary", "burning")]);
            a.page.labels = rng.labels(&[("severity", "critical"), ("route", "pager")]);
            a.ticket.annotations = rng.labels(&[("runbook", "https://runbooks/ticket")]);
            a.page.disable = rng.coin();
            a.ticket.disable = rng.coin();
        }
        _ => {}
    }
    if !a.any_enabled() && rng.coin() {
        a.name.clear();
    }
    if a.name.is_empty() {
        a.page.disable = true;
        a.ticket.disable = true;
    }
}

/// Alerting as an OpenSLO SLO reads back: none.
fn no_alerting() -> slo::Alerting {
    let off = slo::AlertMeta { disable: true, ..Default::default() };
    slo::Alerting { page: off.clone(), ticket: off, ..Default::default() }
}

fn map_diff(
    out: &mut BTreeSet<(Option<String>, String)>,
    slo: Option<&str>,
    field: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) {
    for key in a.keys().chain(b.keys()) {
        if a.get(key) != b.get(key) {
            out.insert((slo.map(str::to_owned), format!("{field}.{key}")));
        }
    }
}

/// The fields (in Sloth's naming) where `after` differs from `before`: the ground truth the loss
/// report is checked against. A latency SLI that came back as its own bad/total queries is
/// `sli.latency`; any other SLI change is `sli`.
fn diff(before: &ServiceLevel, after: &ServiceLevel) -> BTreeSet<(Option<String>, String)> {
    let mut out = BTreeSet::new();
    if before.service != after.service {
        out.insert((None, "service".to_owned()));
    }
    if matches!(before.source, SpecSource::Kubernetes { .. }) && !matches!(after.source, SpecSource::Kubernetes { .. })
    {
        out.insert((None, "metadata".to_owned()));
    }
    map_diff(&mut out, None, "labels", &before.labels, &after.labels);
    let names = |l: &ServiceLevel| l.slos.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    if names(before) != names(after) {
        out.insert((None, format!("slos {:?} became {:?}", names(before), names(after))));
        return out;
    }
    for (b, a) in before.slos.iter().zip(&after.slos) {
        let at = Some(b.name.as_str());
        let mut put = |f: &str| out.insert((Some(b.name.clone()), f.to_owned()));
        if b.description != a.description {
            put("description");
        }
        if b.objective != a.objective {
            put(&format!("objective {} became {}", b.objective, a.objective));
        }
        if b.period.unwrap_or(PERIOD) != a.period.unwrap_or(PERIOD) {
            put("period");
        }
        if b.sli != a.sli {
            let same_measure = matches!(b.sli, Sli::Latency { .. })
                && slo::rules::event_queries(&b.sli)
                    .is_some_and(|(bad, total)| a.sli == Sli::Events { error_query: bad, total_query: total });
            put(if same_measure { "sli.latency" } else { "sli" });
        }
        let (ba, aa) = (&b.alerting, &a.alerting);
        if ba.name != aa.name {
            put("alerting.name");
        }
        map_diff(&mut out, at, "alerting.labels", &ba.labels, &aa.labels);
        map_diff(&mut out, at, "alerting.annotations", &ba.annotations, &aa.annotations);
        for (name, bm, am) in [("page_alert", &ba.page, &aa.page), ("ticket_alert", &ba.ticket, &aa.ticket)] {
            if bm.disable != am.disable {
                out.insert((at.map(str::to_owned), format!("alerting.{name}")));
            }
            map_diff(&mut out, at, &format!("alerting.{name}.labels"), &bm.labels, &am.labels);
            map_diff(&mut out, at, &format!("alerting.{name}.annotations"), &bm.annotations, &am.annotations);
        }
        map_diff(&mut out, at, "labels", &b.labels, &a.labels);
    }
    out
}

fn reported(dropped: &[spec::Dropped]) -> BTreeSet<(Option<String>, String)> {
    dropped.iter().map(|d| (d.slo.clone(), d.field.clone())).collect()
}

/// One case: Sloth → OpenSLO → Sloth, checked against the loss report.
fn check(name: &str, level: &ServiceLevel) {
    // Sloth → Sloth holds everything.
    let sloth = spec::write(level, SpecFormat::SlothV1, PERIOD);
    let again = merge_services(read(&sloth.text));
    assert_eq!(again.len(), 1, "{name}");
    let lost = diff(level, &again[0]);
    assert_eq!(reported(&sloth.dropped), lost, "{name}: Sloth → Sloth\n{}", sloth.text);

    // Sloth → OpenSLO: exactly the reported fields are lost.
    let openslo = spec::write(level, SpecFormat::OpenSloV1, PERIOD);
    assert_eq!(openslo.text, slo::to_openslo_v1(level, PERIOD));
    let mid = merge_services(read(&openslo.text));
    assert_eq!(mid.len(), 1, "{name}: one service level after merging\n{}", openslo.text);
    let mid = &mid[0];
    assert_eq!(mid.source, SpecSource::OpenSloV1);
    assert_eq!(reported(&openslo.dropped), diff(level, mid), "{name}: Sloth → OpenSLO\n{}", openslo.text);
    for d in &openslo.dropped {
        assert_eq!(d.service, level.service);
        let shown = d.to_string();
        assert!(shown.contains(&d.field) && shown.contains(&level.service), "{shown}");
        // Names, never values: no label or annotation value shows in the report (those values
        // that cannot be mistaken for a word of the message: URLs, journeys).
        for slo in &level.slos {
            let a = &slo.alerting;
            let values = a.annotations.values().chain(a.ticket.annotations.values()).chain(slo.labels.values());
            for v in values.chain(level.labels.values()).filter(|v| v.contains([' ', '/'])) {
                assert!(!shown.contains(v.as_str()), "{shown} shows the value {v:?}");
            }
        }
    }

    // OpenSLO → Sloth loses nothing more: the same service level on what OpenSLO carries.
    let back = spec::write(mid, SpecFormat::SlothV1, PERIOD);
    assert!(back.dropped.is_empty(), "{name}: {:?}", back.dropped);
    let end = merge_services(read(&back.text));
    assert_eq!(end.len(), 1, "{name}");
    assert_eq!(diff(level, &end[0]), reported(&openslo.dropped), "{name}: Sloth → OpenSLO → Sloth\n{}", back.text);
    // And on what both hold, it is the very same model.
    let mut expected = mid.clone();
    expected.source = SpecSource::SlothV1;
    for s in &mut expected.slos {
        s.period = None;
    }
    assert_eq!(end[0], expected, "{name}");
    assert!(end[0].slos.iter().all(|s| s.alerting == no_alerting()));
    // A second trip changes nothing at all, and loses nothing more.
    let twice = spec::write(&end[0], SpecFormat::OpenSloV1, PERIOD);
    assert_eq!(twice.text, openslo.text, "{name}");
    assert!(twice.dropped.is_empty(), "{name}: {:?}", twice.dropped);
}

#[test]
fn examples_round_trip_through_openslo_and_report_what_is_lost() {
    for (name, level) in examples() {
        check(&name, &level);
        let report = spec::dropped(&level, SpecFormat::OpenSloV1, PERIOD);
        if name == "checkout-sloth.yaml" {
            // What the issue saw dropped silently: alert names, severities, the runbook.
            let fields: Vec<&str> = report.iter().map(|d| d.field.as_str()).collect();
            for f in
                ["alerting.name", "alerting.page_alert.labels.severity", "alerting.annotations.runbook", "sli.latency"]
            {
                assert!(fields.contains(&f), "{f} not reported: {fields:?}");
            }
            assert!(report.iter().all(|d| d.slo.is_some()), "team/journey labels are carried: {report:?}");
        }
    }
}

#[test]
fn seeded_variations_round_trip_through_openslo_and_report_what_is_lost() {
    let bases = examples();
    let mut rng = Rng(0x5eed_0f51);
    let mut seen_loss = BTreeSet::new();
    for i in 0..300 {
        let (name, base) = &bases[i % bases.len()];
        let level = vary(base, &mut rng);
        check(&format!("{name} variation {i}"), &level);
        seen_loss.extend(
            spec::dropped(&level, SpecFormat::OpenSloV1, PERIOD)
                .into_iter()
                .map(|d| d.field.split('.').take(2).collect::<Vec<_>>().join(".")),
        );
    }
    // The variations reach every kind of loss.
    for f in [
        "labels._hidden",
        "labels.tier_",
        "sli.latency",
        "alerting.name",
        "alerting.page_alert",
        "alerting.ticket_alert",
        "alerting.labels",
        "alerting.annotations",
        "metadata",
    ] {
        assert!(seen_loss.contains(f), "no variation loses {f}: {seen_loss:?}");
    }
}

#[test]
fn openslo_to_sloth_reports_a_period_sloth_cannot_hold() {
    let text = r#"
apiVersion: openslo/v1
kind: Service
metadata: {name: api, labels: {team: core, "bad-key": x, list: [a, b]}}
spec: {}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: api-availability, labels: {tier: "1"}}
spec:
  service: api
  indicator:
    metadata: {name: api-sli}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(req_total{code=~"5.."}[{{.window}}]))'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(req_total[{{.window}}]))'}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.9995}]
"#;
    let opts = ReadOptions { default_period: PromDuration::days(28) };
    let level = slo::parse_documents(text, &opts).unwrap().remove(0);
    assert_eq!(level.labels, BTreeMap::from([("team".to_owned(), "core".to_owned())]), "Service labels");
    assert_eq!(level.slos[0].labels["tier"], "1");
    assert_eq!(level.slos[0].objective, 99.95, "read as a decimal");
    // Generated with the period it was read with, Sloth loses it.
    let w = spec::write(&level, SpecFormat::SlothV1, PERIOD);
    assert_eq!(w.dropped.len(), 1, "{:?}", w.dropped);
    let d = &w.dropped[0];
    assert_eq!((d.slo.as_deref(), d.field.as_str()), (Some("api-availability"), "spec.timeWindow"));
    assert!(d.why.contains("--default-slo-period 4w"), "{}", d.why);
    assert_eq!(d.to_string(), format!("service \"api\", SLO \"api-availability\": spec.timeWindow: {}", d.why));
    // With the same default, nothing is lost, and OpenSLO → Sloth → OpenSLO is the identity.
    let w = spec::write(&level, SpecFormat::SlothV1, PromDuration::days(28));
    assert!(w.dropped.is_empty());
    let back = slo::parse_documents(&w.text, &opts).unwrap().remove(0);
    let again = spec::write(&back, SpecFormat::OpenSloV1, PromDuration::days(28));
    assert!(again.dropped.is_empty(), "{:?}", again.dropped);
    assert_eq!(slo::parse_documents(&again.text, &opts).unwrap(), vec![level]);
}

#[test]
fn recordings_from_the_openslo_form_equal_the_sloth_ones() {
    for (name, level) in examples() {
        let mid = merge_services(read(&slo::to_openslo_v1(&level, PERIOD))).remove(0);
        let opts = slo::GenerateOptions { disable_alerts: true, ..Default::default() };
        let strip = |f: slo::RuleFile| -> Vec<slo::Rule> {
            f.groups
                .into_iter()
                .flat_map(|g| g.rules)
                .map(|mut r| {
                    r.labels.remove("sloth_mode");
                    r.labels.remove("sloth_spec");
                    r
                })
                .collect()
        };
        assert_eq!(strip(slo::generate(&level, &opts).unwrap()), strip(slo::generate(&mid, &opts).unwrap()), "{name}");
    }
}
