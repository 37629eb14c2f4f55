//! Grafana dashboards (classic JSON model, schema version 39) for the series the SLO rules record.
//!
//! One dashboard per service; per SLO a row with the SLI over the period, error budget remaining,
//! current and period burn rates (stat panels), the SLI error ratio at the page windows against
//! the budget, budget remaining and burn rates over time, and — for latency SLIs, or SLOs whose
//! labels name a journey and whose total query reads a histogram's `_count` — latency
//! percentiles with the threshold drawn in. Every query goes through a `datasource` template
//! variable, and firing SLO alerts are shown as annotations.
//!
//! [`check_dashboard`] is a structural self-check for any dashboard JSON (unique panel ids, a
//! grid position inside the 24-column grid without overlaps, a PromQL expression on every
//! target); the tests also validate against Grafana's JSON Schema.

use std::collections::BTreeSet;

use promql_parser::parser::Expr;
use promql_parser::util::{walk_expr, ExprVisitor};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::model::{ServiceLevel, Sli, Slo};
use super::rules::{event_queries, sli_record_name, GenerateOptions};
use super::{render_window, PromDuration, SpecError};
use crate::escape_label_value;

/// Dashboard JSON model version written.
pub const SCHEMA_VERSION: u64 = 39;

/// Labels whose value names a user journey (the first one set wins).
pub const JOURNEY_LABELS: [&str; 3] = ["journey", "slo_scout_journey", "user_journey"];

/// The datasource every panel and target uses: the `datasource` template variable.
fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// A histogram behind an SLO, for the latency panel.
#[derive(Debug, Clone, PartialEq)]
struct LatencySource {
    histogram: String,
    selector: String,
    threshold: Option<f64>,
    journey: Option<String>,
}

/// The journey an SLO is about, from its labels or its service's.
pub fn journey_of<'a>(level: &'a ServiceLevel, slo: &'a Slo) -> Option<&'a str> {
    JOURNEY_LABELS.iter().find_map(|k| slo.labels.get(*k).or_else(|| level.labels.get(*k))).map(String::as_str)
}

/// Finds the first selector of a `<histogram>_count` series in a query.
struct CountFinder(Option<(String, String)>);

impl ExprVisitor for CountFinder {
    type Error = ();
    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
        let vs = match expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            _ => return Ok(true),
        };
        if self.0.is_some() {
            return Ok(false);
        }
        if let Some(base) = vs.name.as_deref().and_then(|n| n.strip_suffix("_count")) {
            let matchers: Vec<String> =
                vs.matchers.matchers.iter().filter(|m| m.name != "__name__").map(|m| m.to_string()).collect();
            self.0 = Some((base.to_owned(), matchers.join(", ")));
        }
        Ok(true)
    }
}

fn latency_source(level: &ServiceLevel, slo: &Slo) -> Option<LatencySource> {
    let journey = journey_of(level, slo).map(str::to_owned);
    match &slo.sli {
        Sli::Latency { histogram, selector, threshold } => Some(LatencySource {
            histogram: histogram.clone(),
            selector: selector.clone(),
            threshold: Some(*threshold),
            journey,
        }),
        sli => {
            journey.as_ref()?;
            let (_, total) = event_queries(sli)?;
            let expr = crate::promql::parse(&render_window(&total, PromDuration::minutes(5))).ok()?;
            let mut finder = CountFinder(None);
            let _ = walk_expr(&mut finder, &expr);
            let Some((histogram, selector)) = finder.0 else {
                tracing::debug!(slo = %slo.name, "journey SLO without a histogram _count in its total query: no latency panel");
                return None;
            };
            Some(LatencySource { histogram, selector, threshold: None, journey })
        }
    }
}

/// Grafana unit of a histogram, from its name.
fn histogram_unit(histogram: &str) -> &'static str {
    if histogram.ends_with("_seconds") {
        "s"
    } else if histogram.ends_with("_milliseconds") || histogram.ends_with("_ms") {
        "ms"
    } else {
        "short"
    }
}

/// `{sloth_service="..", sloth_slo=".."}`
fn slo_selector(service: &str, slo: &str) -> String {
    format!("{{sloth_service=\"{}\", sloth_slo=\"{}\"}}", escape_label_value(service), escape_label_value(slo))
}

fn target(ref_id: char, expr: String, legend: &str, instant: bool) -> Value {
    json!({
        "refId": ref_id.to_string(),
        "datasource": datasource(),
        "expr": expr,
        "legendFormat": legend,
        "instant": instant,
        "range": !instant,
    })
}

fn steps(steps: &[(Option<f64>, &str)]) -> Value {
    json!({
        "mode": "absolute",
        "steps": steps.iter().map(|(v, c)| json!({"value": v, "color": c})).collect::<Vec<_>>(),
    })
}

struct Layout {
    next_id: u64,
    panels: Vec<Value>,
}

impl Layout {
    // One argument per field of a Grafana panel reads better at the call sites than a struct.
    #[allow(clippy::too_many_arguments)]
    fn panel(
        &mut self,
        kind: &str,
        title: &str,
        description: &str,
        grid: (u64, u64, u64, u64),
        targets: Vec<Value>,
        defaults: Value,
        options: Value,
    ) -> &mut Self {
        let (x, y, w, h) = grid;
        self.next_id += 1;
        self.panels.push(json!({
            "id": self.next_id,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": datasource(),
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options,
        }));
        self
    }

    fn row(&mut self, title: &str, y: u64) {
        self.next_id += 1;
        self.panels.push(json!({
            "id": self.next_id,
            "type": "row",
            "title": title,
            "collapsed": false,
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
            "panels": [],
        }));
    }
}

fn stat_options() -> Value {
    json!({
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto",
    })
}

fn series_options() -> Value {
    json!({
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true},
        "tooltip": {"mode": "multi", "sort": "desc"},
    })
}

fn series_defaults(unit: &str, thresholds: Value, threshold_lines: bool) -> Value {
    json!({
        "unit": unit,
        "color": {"mode": "palette-classic"},
        "thresholds": thresholds,
        "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": true,
            "thresholdsStyle": {"mode": if threshold_lines { "line" } else { "off" }},
        },
    })
}

/// A Grafana `uid` (at most 40 characters) for a service's dashboard.
pub fn dashboard_uid(service: &str) -> String {
    let clean: String =
        service.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    let uid = format!("slo-{clean}");
    if uid.len() <= 40 && clean == service {
        return uid;
    }
    // Shortened or changed: keep it unique with a hash of the real name.
    let hash = hex::encode(&Sha256::digest(service.as_bytes())[..4]);
    let keep: String = clean.chars().take(40 - 4 - 1 - hash.len()).collect();
    format!("slo-{keep}-{hash}")
}

/// Builds the dashboard of one service. The windows and period of each SLO come from the same
/// options the rules were generated with, so the panels read series that exist.
pub fn dashboard(level: &ServiceLevel, opts: &GenerateOptions) -> Result<Value, SpecError> {
    let service = &level.service;
    let mut layout = Layout { next_id: 0, panels: Vec::new() };
    let mut y = 0;
    for (i, slo) in level.slos.iter().enumerate() {
        let period = slo.period.unwrap_or(opts.default_period);
        let windows =
            opts.windows.get(period).map_err(|e| SpecError { field: format!("slos[{i}].{}", e.field), ..e })?;
        let sel = slo_selector(service, &slo.name);
        let budget = slo.error_budget_ratio();
        let page_factor = windows.page_quick.factor(period);
        let ticket_factor = windows.ticket_slow.factor(period);
        let good_title = match slo.sli {
            Sli::Latency { .. } => "fast enough",
            _ => "good",
        };
        let journey = journey_of(level, slo);
        let row_title = format!(
            "{}{} — objective {}% over {period}",
            slo.name,
            journey.map(|j| format!(" (journey {j})")).unwrap_or_default(),
            slo.objective,
        );
        layout.row(&row_title, y);
        y += 1;

        let objective = slo.objective_ratio();
        layout
            .panel(
                "stat",
                &format!("SLI over {period}"),
                &format!("Share of {good_title} events over the SLO period; the objective is {}%.", slo.objective),
                (0, y, 6, 5),
                vec![target('A', format!("1 - {}{sel}", sli_record_name(period)), "SLI", true)],
                json!({"unit": "percentunit", "decimals": 3, "color": {"mode": "thresholds"},
                       "thresholds": steps(&[(None, "red"), (Some(objective), "green")])}),
                stat_options(),
            )
            .panel(
                "stat",
                "Error budget remaining",
                &format!("Share of the {period} error budget ({:.4}% of events) not yet spent; below 0 the SLO is missed.", budget * 100.0),
                (6, y, 6, 5),
                vec![target('A', format!("slo:period_error_budget_remaining:ratio{sel}"), "remaining", true)],
                json!({"unit": "percentunit", "decimals": 1, "color": {"mode": "thresholds"},
                       "thresholds": steps(&[(None, "red"), (Some(0.0), "orange"), (Some(0.25), "green")])}),
                stat_options(),
            )
            .panel(
                "stat",
                "Burn rate (current)",
                &format!(
                    "Error ratio over the shortest window divided by the budget; 1 spends the budget exactly in {period}. The page alert fires above {page_factor} on both of its windows."
                ),
                (12, y, 6, 5),
                vec![target('A', format!("slo:current_burn_rate:ratio{sel}"), "current", true)],
                json!({"unit": "none", "decimals": 2, "color": {"mode": "thresholds"},
                       "thresholds": steps(&[(None, "green"), (Some(ticket_factor), "orange"), (Some(page_factor), "red")])}),
                stat_options(),
            )
            .panel(
                "stat",
                "Burn rate (period)",
                &format!("Average burn rate over {period}; above 1 the SLO is missed for the period."),
                (18, y, 6, 5),
                vec![target('A', format!("slo:period_burn_rate:ratio{sel}"), "period", true)],
                json!({"unit": "none", "decimals": 2, "color": {"mode": "thresholds"},
                       "thresholds": steps(&[(None, "green"), (Some(1.0), "red")])}),
                stat_options(),
            );
        y += 5;

        let (quick, slow) = (windows.page_quick, windows.page_slow);
        let mut sli_windows: Vec<PromDuration> = vec![quick.short, quick.long, slow.long];
        sli_windows.dedup();
        let letters = ['A', 'B', 'C', 'D', 'E'];
        let mut sli_targets: Vec<Value> = sli_windows
            .iter()
            .zip(letters)
            .map(|(w, l)| target(l, format!("{}{sel}", sli_record_name(*w)), &format!("error ratio {w}"), false))
            .collect();
        sli_targets.push(target(
            letters[sli_targets.len()],
            format!("slo:error_budget:ratio{sel}"),
            "error budget",
            false,
        ));
        layout
            .panel(
                "timeseries",
                "SLI error ratio",
                &format!(
                    "Bad events over all events at the page alert windows, against the error budget ({:.4}%). Paging needs {page_factor}× the budget on {} and {}, or {}× on {} and {}.",
                    budget * 100.0,
                    quick.short,
                    quick.long,
                    slow.factor(period),
                    slow.short,
                    slow.long
                ),
                (0, y, 12, 8),
                sli_targets,
                series_defaults("percentunit", steps(&[(None, "green"), (Some(budget), "red")]), true),
                series_options(),
            )
            .panel(
                "timeseries",
                "Error budget remaining",
                &format!("Share of the {period} error budget left over time."),
                (12, y, 12, 8),
                vec![target('A', format!("slo:period_error_budget_remaining:ratio{sel}"), "remaining", false)],
                series_defaults("percentunit", steps(&[(None, "red"), (Some(0.0), "green")]), true),
                series_options(),
            );
        y += 8;

        let latency = latency_source(level, slo);
        let burn_width = if latency.is_some() { 12 } else { 24 };
        layout.panel(
            "timeseries",
            "Burn rates",
            &format!("Current (shortest window) and period burn rates; lines at the ticket ({ticket_factor}) and page ({page_factor}) factors."),
            (0, y, burn_width, 8),
            vec![
                target('A', format!("slo:current_burn_rate:ratio{sel}"), "current", false),
                target('B', format!("slo:period_burn_rate:ratio{sel}"), "period", false),
            ],
            series_defaults(
                "none",
                steps(&[(None, "green"), (Some(ticket_factor), "orange"), (Some(page_factor), "red")]),
                true,
            ),
            series_options(),
        );
        if let Some(src) = latency {
            let bucket_sel = if src.selector.trim().is_empty() { String::new() } else { src.selector.clone() };
            let targets = [('A', 0.5, "p50"), ('B', 0.95, "p95"), ('C', 0.99, "p99")]
                .into_iter()
                .map(|(l, q, name)| {
                    target(
                        l,
                        format!(
                            "histogram_quantile({q}, sum by (le) (rate({}_bucket{{{bucket_sel}}}[$__rate_interval])))",
                            src.histogram
                        ),
                        name,
                        false,
                    )
                })
                .collect();
            let title = match &src.journey {
                Some(j) => format!("Latency of journey {j}"),
                None => "Latency".to_owned(),
            };
            let thresholds = match src.threshold {
                Some(t) => steps(&[(None, "green"), (Some(t), "red")]),
                None => steps(&[(None, "green")]),
            };
            let description = match src.threshold {
                Some(t) => format!(
                    "Percentiles of {} ({bucket_sel}); the SLO counts requests slower than {t} as bad.",
                    src.histogram
                ),
                None => format!(
                    "Percentiles of {} ({bucket_sel}), the histogram behind the SLI's total query.",
                    src.histogram
                ),
            };
            layout.panel(
                "timeseries",
                &title,
                &description,
                (12, y, 12, 8),
                targets,
                series_defaults(histogram_unit(&src.histogram), thresholds, src.threshold.is_some()),
                series_options(),
            );
        }
        y += 8;
    }

    let alerts = format!("ALERTS{{alertstate=\"firing\", sloth_service=\"{}\"}}", escape_label_value(service));
    Ok(json!({
        "uid": dashboard_uid(service),
        "title": format!("SLOs / {service}"),
        "description": format!("Service level objectives of {service}, from the recorded SLO series (generated by slo-scout; do not edit by hand)."),
        "tags": ["slo", "slo-scout", service],
        "timezone": "browser",
        "editable": true,
        "graphTooltip": 1,
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "links": [],
        "templating": {"list": [{
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
        }]},
        "annotations": {"list": [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": true,
                "hide": true,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            },
            {
                "name": "SLO alerts",
                "datasource": datasource(),
                "enable": true,
                "hide": false,
                "iconColor": "red",
                "expr": alerts,
                "step": "1m",
                "titleFormat": "{{alertname}} ({{sloth_severity}})",
                "textFormat": "{{sloth_slo}}",
                "useValueForTime": false,
            },
        ]},
        "panels": layout.panels,
    }))
}

/// What [`check_dashboard`] found wrong with a dashboard.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid dashboard: {}", problems.join("; "))]
pub struct DashboardCheckError {
    /// One line per problem.
    pub problems: Vec<String>,
}

/// Replaces Grafana's interval variables so an expression parses as PromQL.
fn expand_grafana_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("${__rate_interval}", "5m")
        .replace("$__interval", "1m")
        .replace("${__interval}", "1m")
        .replace("$__range", "1h")
}

/// Structural checks a dashboard must pass before it is shipped: a `schemaVersion`, unique
/// panel ids (rows and panels nested in rows included), a `gridPos` on every panel inside the
/// 24-column grid and not overlapping another, and on every target an `expr` that is valid
/// PromQL once Grafana's interval variables are filled in.
pub fn check_dashboard(dashboard: &Value) -> Result<(), DashboardCheckError> {
    let mut problems = Vec::new();
    if !dashboard.get("schemaVersion").is_some_and(Value::is_u64) {
        problems.push("schemaVersion is missing or not an integer".to_owned());
    }
    let Some(panels) = dashboard.get("panels").and_then(Value::as_array) else {
        return Err(DashboardCheckError { problems: vec!["panels is missing or not a list".into()] });
    };
    let mut all: Vec<&Value> = Vec::new();
    for p in panels {
        all.push(p);
        if let Some(inner) = p.get("panels").and_then(Value::as_array) {
            all.extend(inner);
        }
    }
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(String, [u64; 4])> = Vec::new();
    for (n, p) in all.iter().enumerate() {
        let name = format!(
            "panel {} ({})",
            p.get("id").map(|v| v.to_string()).unwrap_or_else(|| format!("#{n}")),
            p.get("title").and_then(Value::as_str).unwrap_or("untitled")
        );
        match p.get("id").and_then(Value::as_u64) {
            Some(id) if !ids.insert(id) => problems.push(format!("{name}: id {id} is used twice")),
            Some(_) => {}
            None => problems.push(format!("{name}: no integer id")),
        }
        let grid = p.get("gridPos").and_then(|g| {
            let get = |k: &str| g.get(k).and_then(Value::as_u64);
            Some([get("x")?, get("y")?, get("w")?, get("h")?])
        });
        match grid {
            None => problems.push(format!("{name}: gridPos with integer x, y, w, h is missing")),
            Some([x, _, w, h]) if w == 0 || h == 0 || x + w > 24 => {
                problems.push(format!("{name}: gridPos x={x} w={w} h={h} is outside the 24-column grid"))
            }
            Some(b) => boxes.push((name.clone(), b)),
        }
        let is_row = p.get("type").and_then(Value::as_str) == Some("row");
        let targets = p.get("targets").and_then(Value::as_array);
        if !is_row && targets.is_none_or(|t| t.is_empty()) {
            problems.push(format!("{name}: no targets"));
        }
        for (t, target) in targets.into_iter().flatten().enumerate() {
            match target.get("expr").and_then(Value::as_str).map(str::trim) {
                None | Some("") => problems.push(format!("{name}: target {t} has no expr")),
                Some(expr) => {
                    if let Err(e) = crate::promql::parse(&expand_grafana_variables(expr)) {
                        problems.push(format!("{name}: target {t} expr is not valid PromQL: {e}"));
                    }
                }
            }
        }
    }
    for (i, (a, [ax, ay, aw, ah])) in boxes.iter().enumerate() {
        for (b, [bx, by, bw, bh]) in &boxes[i + 1..] {
            if ax < &(bx + bw) && bx < &(ax + aw) && ay < &(by + bh) && by < &(ay + ah) {
                problems.push(format!("{a} overlaps {b}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DashboardCheckError { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_documents, ReadOptions};

    const SPEC: &str = include_str!("../../examples/slo/checkout-sloth.yaml");

    fn level() -> ServiceLevel {
        parse_documents(SPEC, &ReadOptions::default()).unwrap().remove(0)
    }

    fn exprs(d: &Value) -> Vec<String> {
        d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
            .map(|t| t["expr"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn panels_read_the_recorded_series_and_pass_the_self_check() {
        let d = dashboard(&level(), &GenerateOptions::default()).unwrap();
        check_dashboard(&d).unwrap();
        let all = exprs(&d);
        let sel = r#"{sloth_service="checkout", sloth_slo="requests-availability"}"#;
        for series in [
            "slo:period_error_budget_remaining:ratio",
            "slo:current_burn_rate:ratio",
            "slo:period_burn_rate:ratio",
            "slo:sli_error:ratio_rate5m",
            "slo:sli_error:ratio_rate1h",
            "slo:sli_error:ratio_rate6h",
            "slo:error_budget:ratio",
        ] {
            assert!(all.contains(&format!("{series}{sel}")), "{series} missing from {all:#?}");
        }
        assert!(all.contains(&format!("1 - slo:sli_error:ratio_rate30d{sel}")));
        // Journey latency from the histogram behind the availability SLI's total query, and the
        // latency SLI's own histogram.
        assert!(all.iter().any(|e| e.contains(
            r#"http_server_request_duration_seconds_bucket{job="frontend", http_route="/cart/checkout"}[$__rate_interval]"#
        )), "{all:#?}");
        assert!(all.iter().any(|e| e.contains(r#"http_server_request_duration_seconds_bucket{job="frontend",http_route="/cart/checkout"}[$__rate_interval]"#)));
        let titles: Vec<&str> = d["panels"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap()).collect();
        assert_eq!(titles.iter().filter(|t| **t == "Latency of journey checkout").count(), 2, "{titles:?}");
        // Burn-rate thresholds at the page and ticket factors of the 30d windows.
        let burn = d["panels"].as_array().unwrap().iter().find(|p| p["title"] == "Burn rates").unwrap();
        let values: Vec<f64> = burn["fieldConfig"]["defaults"]["thresholds"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["value"].as_f64())
            .collect();
        assert_eq!(values, vec![1.0, 14.4]);
        assert_eq!(d["templating"]["list"][0]["type"], "datasource");
        assert_eq!(d["panels"][1]["datasource"]["uid"], "${datasource}");
    }

    #[test]
    fn no_latency_panel_without_journey_or_histogram() {
        let mut l = level();
        l.labels.remove("journey");
        l.slos.truncate(1);
        let d = dashboard(&l, &GenerateOptions::default()).unwrap();
        assert!(!exprs(&d).iter().any(|e| e.contains("histogram_quantile")));
        let burn = d["panels"].as_array().unwrap().iter().find(|p| p["title"] == "Burn rates").unwrap();
        assert_eq!(burn["gridPos"]["w"], 24);
        check_dashboard(&d).unwrap();
    }

    #[test]
    fn unknown_period_names_the_slo() {
        let mut l = level();
        l.slos[1].period = Some(PromDuration::days(7));
        let err = dashboard(&l, &GenerateOptions::default()).unwrap_err();
        assert!(err.field.starts_with("slos[1]."), "{err}");
    }

    #[test]
    fn self_check_finds_duplicate_ids_missing_grid_bad_exprs_and_overlaps() {
        let mut d = dashboard(&level(), &GenerateOptions::default()).unwrap();
        let panels = d["panels"].as_array_mut().unwrap();
        panels[2]["id"] = panels[1]["id"].clone();
        panels[3].as_object_mut().unwrap().remove("gridPos");
        panels[4]["targets"][0]["expr"] = json!("sum(rate(foo[5m])");
        panels[5]["targets"][0].as_object_mut().unwrap().remove("expr");
        panels[6]["gridPos"] = panels[7]["gridPos"].clone();
        let err = check_dashboard(&d).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 5, "{text}");
        assert!(text.contains("is used twice"), "{text}");
        assert!(text.contains("gridPos with integer"), "{text}");
        assert!(text.contains("not valid PromQL"), "{text}");
        assert!(text.contains("has no expr"), "{text}");
        assert!(text.contains("overlaps"), "{text}");
    }

    #[test]
    fn uids_fit_grafana_and_stay_distinct() {
        assert_eq!(dashboard_uid("checkout"), "slo-checkout");
        let long = "a".repeat(60);
        let u1 = dashboard_uid(&long);
        let u2 = dashboard_uid(&format!("{long}b"));
        assert!(u1.len() <= 40 && u2.len() <= 40);
        assert_ne!(u1, u2);
        assert_ne!(dashboard_uid("a/b"), dashboard_uid("a-b"));
    }
}
