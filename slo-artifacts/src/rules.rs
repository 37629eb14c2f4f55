//! Prometheus rules from SLOs: SLI recording rules for every alert window and the SLO period,
//! metadata rules, and multi-window multi-burn-rate page/ticket alerts.
//!
//! Rule names, labels, windows, factors and expressions follow `sloth generate` v0.16, so
//! dashboards and alerts built for Sloth work unchanged; the conformance test compares our
//! output with Sloth's on its own fixtures after parsing the PromQL.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::*;
use super::windows::{AlertWindows, WindowCatalog};
use super::SpecError;
use super::{escape_label_value, render_window};

/// One recording or alerting rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Name of the recorded series (recording rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Alert name (alerting rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// PromQL expression.
    pub expr: String,
    /// Labels added to the result.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Alert annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A named group of rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleGroup {
    /// Group name (`sloth-slo-sli-recordings-<id>`, `sloth-slo-meta-recordings-<id>`,
    /// `sloth-slo-alerts-<id>`).
    pub name: String,
    /// Rules in evaluation order.
    pub rules: Vec<Rule>,
}

/// The rules generated for one service level, and how to write them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFile {
    /// Rule groups, three per SLO at most.
    pub groups: Vec<RuleGroup>,
}

/// Generation options; the defaults are those of `sloth generate`.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Labels added to every SLO (`-l/--extra-labels`).
    pub extra_labels: BTreeMap<String, String>,
    /// Period of SLOs that do not set one (`--default-slo-period`, default 30d).
    pub default_period: PromDuration,
    /// Alert windows per period (built-in 30d/28d, or a `--slo-period-windows-path`).
    pub windows: WindowCatalog,
    /// No SLI or metadata recording rules (`--disable-recordings`).
    pub disable_recordings: bool,
    /// No alerts (`--disable-alerts`).
    pub disable_alerts: bool,
    /// Period SLI weighted by request volume (errors over requests across the whole period)
    /// instead of Sloth's mean of 5-minute ratios, which gives a quiet night as much weight as a
    /// busy afternoon. Needs events or latency SLIs.
    pub weighted_period_sli: bool,
    /// Value of the `sloth_version` info label.
    pub version: String,
    /// Keep service and SLO labels whose name starts with [`INTERNAL_LABEL_PREFIX`]
    /// (`slo_scout_journey`, `slo_scout_latency_ms`) on the generated series (`generate
    /// --keep-internal-labels`). They exist only so `slo-runner backtest` can find an SLO's
    /// journey and latency threshold in its spec, so by default (`false`) they are left out of
    /// every recording rule and, through them, every alert. Labels given in
    /// [`GenerateOptions::extra_labels`] and under `alerting` are always kept: they are asked for.
    pub keep_internal_labels: bool,
}

/// Prefix of the spec labels that only slo-scout reads (`slo_scout_journey`,
/// `slo_scout_latency_ms`); see [`GenerateOptions::keep_internal_labels`].
pub const INTERNAL_LABEL_PREFIX: &str = "slo_scout_";

/// Whether a label is internal to slo-scout (its name starts with [`INTERNAL_LABEL_PREFIX`]).
pub fn is_internal_label(name: &str) -> bool {
    name.starts_with(INTERNAL_LABEL_PREFIX)
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            extra_labels: BTreeMap::new(),
            default_period: PromDuration::days(30),
            windows: WindowCatalog::default(),
            disable_recordings: false,
            disable_alerts: false,
            weighted_period_sli: false,
            version: concat!("slo-scout-v", env!("CARGO_PKG_VERSION")).to_owned(),
            keep_internal_labels: false,
        }
    }
}

/// Bad-event and total-event queries of an events or latency SLI (`None` for raw SLIs).
pub fn event_queries(sli: &Sli) -> Option<(String, String)> {
    match sli {
        Sli::Events { error_query, total_query } => Some((error_query.clone(), total_query.clone())),
        Sli::Latency { histogram, selector, threshold } => {
            let sep = if selector.trim().is_empty() { "" } else { "," };
            let total = format!("sum(rate({histogram}_count{{{selector}}}[{{{{.window}}}}]))");
            let good = format!("sum(rate({histogram}_bucket{{{selector}{sep}le=\"{threshold}\"}}[{{{{.window}}}}]))");
            Some((format!("({total} - {good})"), total))
        }
        Sli::Raw { .. } => None,
    }
}

/// The SLI error ratio at one window.
fn sli_expr(sli: &Sli, window: PromDuration) -> String {
    match sli {
        Sli::Raw { error_ratio_query } => format!("({})", render_window(error_ratio_query, window)),
        other => {
            let (bad, total) = event_queries(other).expect("events or latency");
            format!("({})\n/\n({})\n", render_window(&bad, window), render_window(&total, window))
        }
    }
}

/// `{sloth_id="..", sloth_service="..", sloth_slo=".."}`
/// (label values escaped, so no name can add or change a matcher).
fn selector(id: &str, service: &str, slo: &str) -> String {
    let (id, service, slo) = (escape_label_value(id), escape_label_value(service), escape_label_value(slo));
    format!("{{sloth_id=\"{id}\", sloth_service=\"{service}\", sloth_slo=\"{slo}\"}}")
}

/// Name of the recorded SLI error ratio at a window, e.g. `slo:sli_error:ratio_rate5m`.
pub fn sli_record_name(window: PromDuration) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

/// Generates the rules of one service level.
pub fn generate(level: &ServiceLevel, opts: &GenerateOptions) -> Result<RuleFile, SpecError> {
    let mut groups = Vec::new();
    for (i, slo) in level.slos.iter().enumerate() {
        let period = slo.period.unwrap_or(opts.default_period);
        let windows =
            opts.windows.get(period).map_err(|e| SpecError { field: format!("slos[{i}].{}", e.field), ..e })?;
        if opts.weighted_period_sli && matches!(slo.sli, Sli::Raw { .. }) {
            return Err(SpecError::invalid(
                format!("slos[{i}].sli.raw"),
                "a volume-weighted period SLI needs events or latency queries, not a raw ratio",
            ));
        }
        groups.extend(slo_groups(level, slo, windows, opts));
    }
    Ok(RuleFile { groups })
}

fn slo_groups(level: &ServiceLevel, slo: &Slo, windows: &AlertWindows, opts: &GenerateOptions) -> Vec<RuleGroup> {
    let service = &level.service;
    let id = slo.id(service);
    let sel = selector(&id, service, &slo.name);
    let mut labels = opts.extra_labels.clone();
    let wanted = |(k, _): &(&String, &String)| opts.keep_internal_labels || !is_internal_label(k);
    labels.extend(level.labels.iter().filter(wanted).map(|(k, v)| (k.clone(), v.clone())));
    labels.extend(slo.labels.iter().filter(wanted).map(|(k, v)| (k.clone(), v.clone())));
    labels.insert("sloth_id".into(), id.clone());
    labels.insert("sloth_service".into(), service.clone());
    labels.insert("sloth_slo".into(), slo.name.clone());
    let period = windows.period;
    let mut out = Vec::new();

    if !opts.disable_recordings {
        let mut rules: Vec<Rule> = windows
            .sli_windows()
            .into_iter()
            .map(|w| recording(sli_record_name(w), sli_expr(&slo.sli, w), &labels, Some(w)))
            .collect();
        let base = sli_record_name(windows.sli_windows()[0]);
        let period_expr = if opts.weighted_period_sli {
            sli_expr(&slo.sli, period)
        } else {
            format!(
                "sum_over_time({base}{sel}[{period}])\n/ ignoring (sloth_window)\ncount_over_time({base}{sel}[{period}])\n"
            )
        };
        rules.push(recording(sli_record_name(period), period_expr, &labels, Some(period)));
        out.push(RuleGroup { name: format!("sloth-slo-sli-recordings-{id}"), rules });

        let ratio = slo.objective_ratio();
        let mut info = labels.clone();
        info.insert("sloth_mode".into(), level.source.mode_label().into());
        info.insert("sloth_objective".into(), format!("{}", slo.objective));
        info.insert("sloth_spec".into(), level.source.spec_label().into());
        info.insert("sloth_version".into(), opts.version.clone());
        let on = "/ on(sloth_id, sloth_slo, sloth_service) group_left";
        let meta = vec![
            recording("slo:objective:ratio".into(), format!("vector({ratio})"), &labels, None),
            recording("slo:error_budget:ratio".into(), format!("vector(1-{ratio})"), &labels, None),
            recording("slo:time_period:days".into(), format!("vector({})", period.as_days()), &labels, None),
            recording(
                "slo:current_burn_rate:ratio".into(),
                format!("{base}{sel}\n{on}\nslo:error_budget:ratio{sel}\n"),
                &labels,
                None,
            ),
            recording(
                "slo:period_burn_rate:ratio".into(),
                format!("{}{sel}\n{on}\nslo:error_budget:ratio{sel}\n", sli_record_name(period)),
                &labels,
                None,
            ),
            recording(
                "slo:period_error_budget_remaining:ratio".into(),
                format!("1 - slo:period_burn_rate:ratio{sel}"),
                &labels,
                None,
            ),
            recording("sloth_slo_info".into(), "vector(1)".into(), &info, None),
        ];
        out.push(RuleGroup { name: format!("sloth-slo-meta-recordings-{id}"), rules: meta });
    }

    if !opts.disable_alerts && slo.alerting.any_enabled() {
        let budget = slo.error_budget_ratio();
        let cond = |w: &super::BurnWindow| {
            let f = w.factor(period);
            format!(
                "(\n    max({s}{sel} > ({f} * {budget})) without (sloth_window)\n    and\n    max({l}{sel} > ({f} * {budget})) without (sloth_window)\n)",
                s = sli_record_name(w.short),
                l = sli_record_name(w.long),
            )
        };
        let mut rules = Vec::new();
        for (severity, meta, quick, slow) in [
            ("page", &slo.alerting.page, &windows.page_quick, &windows.page_slow),
            ("ticket", &slo.alerting.ticket, &windows.ticket_quick, &windows.ticket_slow),
        ] {
            if meta.disable {
                continue;
            }
            let mut alert_labels = slo.alerting.labels.clone();
            alert_labels.extend(meta.labels.clone());
            alert_labels.insert("sloth_severity".into(), severity.into());
            let annotations = alert_annotations(slo, severity, meta);
            rules.push(Rule {
                record: None,
                alert: Some(slo.alerting.name.clone()),
                expr: format!("{}\nor\n{}\n", cond(quick), cond(slow)),
                labels: alert_labels,
                annotations,
            });
        }
        out.push(RuleGroup { name: format!("sloth-slo-alerts-{id}"), rules });
    }
    out
}

/// Annotations of an alert: Sloth's default summary and title, overridden by the SLO's
/// alerting annotations, then by the severity's own.
pub(crate) fn alert_annotations(slo: &Slo, severity: &str, meta: &AlertMeta) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::from([
        (
            "summary".to_owned(),
            "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected.".to_owned(),
        ),
        (
            "title".to_owned(),
            format!("({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast."),
        ),
    ]);
    annotations.extend(slo.alerting.annotations.clone());
    annotations.extend(meta.annotations.clone());
    annotations
}

fn recording(name: String, expr: String, labels: &BTreeMap<String, String>, window: Option<PromDuration>) -> Rule {
    let mut labels = labels.clone();
    if let Some(w) = window {
        labels.insert("sloth_window".into(), w.to_string());
    }
    Rule { record: Some(name), alert: None, expr, labels, annotations: BTreeMap::new() }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PrometheusRule<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: K8sMetadata,
    spec: &'a RuleFile,
}

#[derive(Serialize)]
struct K8sMetadata {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
}

impl RuleFile {
    /// Whether no rule was generated (every SLO had recordings and alerts disabled).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The rules as a Prometheus rule file (`groups:`), or, for specs read from the Kubernetes
    /// CRD, as a prometheus-operator `PrometheusRule` object.
    pub fn to_yaml(&self, source: &SpecSource) -> String {
        match source {
            SpecSource::Kubernetes { name, namespace, labels } => {
                let mut labels = labels.clone();
                labels.insert("app.kubernetes.io/component".into(), "SLO".into());
                labels.insert("app.kubernetes.io/managed-by".into(), "slo-scout".into());
                let obj = PrometheusRule {
                    api_version: "monitoring.coreos.com/v1",
                    kind: "PrometheusRule",
                    metadata: K8sMetadata { name: name.clone(), namespace: namespace.clone(), labels },
                    spec: self,
                };
                serde_yaml_ng::to_string(&obj).expect("rules serialise")
            }
            _ => serde_yaml_ng::to_string(self).expect("rules serialise"),
        }
    }
}

/// Renders the outputs of several input documents as one multi-document YAML text, each with a
/// "generated, do not edit" header, as `sloth generate` does.
pub fn render_documents(docs: &[(RuleFile, SpecSource)]) -> String {
    let mut out = String::new();
    for (file, source) in docs {
        out.push_str("\n---\n# Code generated by slo-scout (https://github.com/slo-scout/slo-scout); Sloth-compatible rules.\n# DO NOT EDIT.\n\n");
        out.push_str(&file.to_yaml(source));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{parse_documents, ReadOptions};

    fn level() -> ServiceLevel {
        let text = r#"
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata: {name: checkout-slos, namespace: shop, labels: {team: payments}}
spec:
  service: checkout
  slos:
    - name: latency
      objective: 99
      sli:
        latency: {histogram: http_server_request_duration_seconds, selector: 'service_name="checkout"', threshold: 0.25}
      alerting:
        name: CheckoutLatency
        pageAlert: {labels: {severity: critical}}
        ticketAlert: {disable: true}
"#;
        parse_documents(text, &ReadOptions::default()).unwrap().remove(0)
    }

    fn rule<'a>(f: &'a RuleFile, name: &str) -> &'a Rule {
        f.groups
            .iter()
            .flat_map(|g| &g.rules)
            .find(|r| r.record.as_deref() == Some(name) || r.alert.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no rule {name}"))
    }

    /// Regression: a service or SLO name with a quote added matchers to every generated selector.
    #[test]
    fn names_cannot_inject_matchers() {
        use promql_parser::parser::{parse, Expr};
        use promql_parser::util::{walk_expr, ExprVisitor};
        /// The `sloth_*` matchers of every vector selector: (name, value).
        struct Sloth(Vec<(String, String)>);
        impl ExprVisitor for Sloth {
            type Error = ();
            fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
                if let Expr::VectorSelector(vs) = expr {
                    for m in vs.matchers.matchers.iter().filter(|m| m.name.starts_with("sloth_")) {
                        self.0.push((m.name.clone(), m.value.clone()));
                    }
                }
                Ok(true)
            }
        }
        let evil = r#"a", sloth_slo=~".*"#;
        let mut level = level();
        level.service = evil.to_owned();
        level.slos[0].name = format!("{evil}-slo");
        let f = generate(&level, &GenerateOptions::default()).unwrap();
        let mut seen = 0;
        for r in f.groups.iter().flat_map(|g| &g.rules) {
            let expr = parse(&r.expr).unwrap_or_else(|e| panic!("{}: {e}", r.expr));
            let mut found = Sloth(Vec::new());
            walk_expr(&mut found, &expr).unwrap();
            for (name, value) in &found.0 {
                seen += 1;
                match name.as_str() {
                    "sloth_service" => assert_eq!(value, evil),
                    "sloth_slo" => assert_eq!(value, &level.slos[0].name),
                    "sloth_id" => assert_eq!(value, &format!("{}-{}", level.service, level.slos[0].name)),
                    other => panic!("unexpected matcher {other}={value:?} in {}", r.expr),
                }
            }
        }
        assert!(seen > 0, "no sloth_* selector checked");
    }

    #[test]
    fn latency_sli_is_a_histogram_threshold_ratio() {
        let f = generate(&level(), &GenerateOptions::default()).unwrap();
        let r = rule(&f, "slo:sli_error:ratio_rate5m");
        assert!(
            r.expr.contains(r#"http_server_request_duration_seconds_bucket{service_name="checkout",le="0.25"}[5m]"#),
            "{}",
            r.expr
        );
        assert!(r.expr.contains(r#"http_server_request_duration_seconds_count{service_name="checkout"}[5m]"#));
        for g in &f.groups {
            for r in &g.rules {
                promql_parser::parser::parse(&r.expr).unwrap_or_else(|e| panic!("{}: {e}\n{}", g.name, r.expr));
            }
        }
        // Only the page alert: the ticket alert is disabled.
        let alerts: Vec<_> = f.groups.iter().flat_map(|g| &g.rules).filter(|r| r.alert.is_some()).collect();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].labels["sloth_severity"], "page");
        assert_eq!(alerts[0].labels["severity"], "critical");
        assert!(alerts[0].expr.contains("(14.4 * 0.01)"), "{}", alerts[0].expr);
    }

    #[test]
    fn weighted_period_sli_uses_volume_over_the_whole_period() {
        let plain = generate(&level(), &GenerateOptions::default()).unwrap();
        assert!(rule(&plain, "slo:sli_error:ratio_rate30d").expr.contains("count_over_time"));
        let weighted =
            generate(&level(), &GenerateOptions { weighted_period_sli: true, ..Default::default() }).unwrap();
        let expr = &rule(&weighted, "slo:sli_error:ratio_rate30d").expr;
        assert!(!expr.contains("count_over_time") && expr.contains("_count{service_name=\"checkout\"}[30d]"), "{expr}");
        let mut raw = level();
        raw.slos[0].sli = Sli::Raw { error_ratio_query: "1 - avg_over_time(up[{{.window}}])".into() };
        let err = generate(&raw, &GenerateOptions { weighted_period_sli: true, ..Default::default() }).unwrap_err();
        assert_eq!(err.field, "slos[0].sli.raw");
    }

    #[test]
    fn kubernetes_input_gives_a_prometheus_rule_object() {
        let l = level();
        let f = generate(&l, &GenerateOptions::default()).unwrap();
        let yaml = f.to_yaml(&l.source);
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(v["kind"].as_str(), Some("PrometheusRule"));
        assert_eq!(v["metadata"]["namespace"].as_str(), Some("shop"));
        assert_eq!(v["metadata"]["labels"]["team"].as_str(), Some("payments"));
        let groups: RuleFile = serde_yaml_ng::from_value(v["spec"].clone()).unwrap();
        assert_eq!(groups, f);
        let info = rule(&f, "sloth_slo_info");
        assert_eq!(info.labels["sloth_mode"], "cli-gen-k8s");
        assert_eq!(info.labels["sloth_objective"], "99");
    }

    /// Regression: `slo_scout_journey` / `slo_scout_latency_ms`, there only for the backtest,
    /// were copied onto every generated series (and so onto every alert).
    #[test]
    fn internal_labels_are_left_out_unless_asked() {
        let text = include_str!("../../examples/slo/checkout.yaml")
            .replace("  team: \"checkout\"", "  team: \"checkout\"\n  slo_scout_owner: \"x\"");
        let level = parse_documents(&text, &ReadOptions::default()).unwrap().remove(0);
        assert!(
            level.slos[1].labels.contains_key("slo_scout_latency_ms") && level.labels.contains_key("slo_scout_owner")
        );
        let labels_of = |f: &RuleFile| -> Vec<String> {
            f.groups.iter().flat_map(|g| &g.rules).flat_map(|r| r.labels.keys().cloned()).collect()
        };
        let plain = generate(&level, &GenerateOptions::default()).unwrap();
        let names = labels_of(&plain);
        assert!(names.iter().any(|k| k == "team"), "other spec labels stay: {names:?}");
        assert!(!names.iter().any(|k| is_internal_label(k)), "{names:?}");
        assert!(!render_documents(&[(plain.clone(), level.source.clone())]).contains("slo_scout_"));

        let kept = generate(&level, &GenerateOptions { keep_internal_labels: true, ..Default::default() }).unwrap();
        let rec = rule(&kept, "slo:sli_error:ratio_rate5m");
        assert_eq!(rec.labels["slo_scout_journey"], "POST /cart/checkout");
        assert_eq!(rec.labels["slo_scout_owner"], "x");
        // Apart from those labels, nothing changes.
        let mut stripped = kept.clone();
        for r in stripped.groups.iter_mut().flat_map(|g| &mut g.rules) {
            r.labels.retain(|k, _| !is_internal_label(k));
        }
        assert_eq!(stripped, plain);

        // Asked for explicitly: extra labels are kept.
        let opts = GenerateOptions {
            extra_labels: BTreeMap::from([("slo_scout_env".to_owned(), "prod".to_owned())]),
            ..Default::default()
        };
        let extra = generate(&level, &opts).unwrap();
        assert_eq!(rule(&extra, "slo:sli_error:ratio_rate5m").labels["slo_scout_env"], "prod");
        assert!(!labels_of(&extra).iter().any(|k| k == "slo_scout_journey"));
    }

    #[test]
    fn unknown_period_is_an_error_naming_known_ones() {
        let mut l = level();
        l.slos[0].period = Some(PromDuration::days(7));
        let err = generate(&l, &GenerateOptions::default()).unwrap_err();
        assert!(err.to_string().contains("4w") && err.to_string().contains("30d"), "{err}");
    }
}
