//! Multi-window multi-burn-rate alert windows (Google SRE workbook, as Sloth ships them), and
//! Sloth's `AlertWindows` file format for custom sets.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{PromDuration, SpecError};

/// One burn-rate condition: both windows must burn faster than `factor` × budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnWindow {
    /// Share of the period's error budget this condition tolerates being consumed in `long`.
    pub error_budget_percent: f64,
    /// The short window (resets the alert quickly once the burn stops).
    pub short: PromDuration,
    /// The long window (how much budget must have burned).
    pub long: PromDuration,
}

impl BurnWindow {
    /// Burn-rate factor for an SLO period: `(percent / 100) × (period / long)`, the same
    /// arithmetic as Sloth so the constants in alert expressions match.
    pub fn factor(&self, period: PromDuration) -> f64 {
        (self.error_budget_percent / 100.0) * (period.seconds() as f64 / self.long.seconds() as f64)
    }
}

/// The four alert conditions of one SLO period.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertWindows {
    /// SLO period the windows are for.
    pub period: PromDuration,
    /// Page, fast burn.
    pub page_quick: BurnWindow,
    /// Page, slower burn.
    pub page_slow: BurnWindow,
    /// Ticket, fast burn.
    pub ticket_quick: BurnWindow,
    /// Ticket, slow burn.
    pub ticket_slow: BurnWindow,
}

const fn bw(pct: f64, short: PromDuration, long: PromDuration) -> BurnWindow {
    BurnWindow { error_budget_percent: pct, short, long }
}

impl AlertWindows {
    /// Google's recommended windows for a 30-day period (Sloth's default).
    pub fn google_30d() -> Self {
        Self::google(PromDuration::days(30))
    }

    /// Google's recommended windows for a 28-day period.
    pub fn google_28d() -> Self {
        Self::google(PromDuration::days(28))
    }

    fn google(period: PromDuration) -> Self {
        AlertWindows {
            period,
            page_quick: bw(2.0, PromDuration::minutes(5), PromDuration::hours(1)),
            page_slow: bw(5.0, PromDuration::minutes(30), PromDuration::hours(6)),
            ticket_quick: bw(10.0, PromDuration::hours(2), PromDuration::days(1)),
            ticket_slow: bw(10.0, PromDuration::hours(6), PromDuration::days(3)),
        }
    }

    /// All four conditions with their severity (`page`/`ticket`).
    pub fn conditions(&self) -> [(&'static str, BurnWindow); 4] {
        [
            ("page", self.page_quick),
            ("page", self.page_slow),
            ("ticket", self.ticket_quick),
            ("ticket", self.ticket_slow),
        ]
    }

    /// Every window an SLI must be recorded at, ascending, without the period itself.
    pub fn sli_windows(&self) -> Vec<PromDuration> {
        let mut all: Vec<PromDuration> = self.conditions().iter().flat_map(|(_, w)| [w.short, w.long]).collect();
        all.sort();
        all.dedup();
        all
    }

    /// Parses a Sloth `AlertWindows` document.
    pub fn from_yaml(text: &str) -> Result<Self, SpecError> {
        crate::check_yaml_nesting(text)?;
        let doc: AlertWindowsDoc =
            serde_yaml_ng::from_str(text).map_err(|e| SpecError::invalid("AlertWindows", e.to_string()))?;
        if doc.api_version != "sloth.slok.dev/v1" {
            return Err(SpecError::invalid(
                "apiVersion",
                format!("{:?} is not supported for AlertWindows (want sloth.slok.dev/v1)", doc.api_version),
            ));
        }
        if doc.kind != "AlertWindows" {
            return Err(SpecError::invalid("kind", format!("{:?} is not AlertWindows", doc.kind)));
        }
        let parse = |s: &str, field: &str| -> Result<PromDuration, SpecError> {
            s.parse().map_err(|e: String| SpecError::invalid(field, e))
        };
        let conv = |w: &WindowDoc, field: &str| -> Result<BurnWindow, SpecError> {
            if !(w.error_budget_percent > 0.0 && w.error_budget_percent <= 100.0) {
                return Err(SpecError::invalid(
                    format!("{field}.errorBudgetPercent"),
                    "must be greater than 0 and at most 100",
                ));
            }
            let short = parse(&w.short_window, &format!("{field}.shortWindow"))?;
            let long = parse(&w.long_window, &format!("{field}.longWindow"))?;
            if short >= long {
                return Err(SpecError::invalid(format!("{field}.shortWindow"), "must be shorter than longWindow"));
            }
            Ok(bw(w.error_budget_percent, short, long))
        };
        Ok(AlertWindows {
            period: parse(&doc.spec.slo_period, "spec.sloPeriod")?,
            page_quick: conv(&doc.spec.page.quick, "spec.page.quick")?,
            page_slow: conv(&doc.spec.page.slow, "spec.page.slow")?,
            ticket_quick: conv(&doc.spec.ticket.quick, "spec.ticket.quick")?,
            ticket_slow: conv(&doc.spec.ticket.slow, "spec.ticket.slow")?,
        })
    }
}

/// Alert windows per SLO period: the built-in 30d and 28d sets plus any loaded from files.
#[derive(Debug, Clone)]
pub struct WindowCatalog {
    by_period: BTreeMap<PromDuration, AlertWindows>,
}

impl Default for WindowCatalog {
    fn default() -> Self {
        let mut by_period = BTreeMap::new();
        for w in [AlertWindows::google_30d(), AlertWindows::google_28d()] {
            by_period.insert(w.period, w);
        }
        WindowCatalog { by_period }
    }
}

impl WindowCatalog {
    /// The built-in sets plus every `AlertWindows` document in `dir` (`.yaml`/`.yml`); a file for
    /// a period already known replaces it, as `sloth generate --slo-period-windows-path` does.
    pub fn with_dir(dir: &Path) -> Result<Self, SpecError> {
        let mut catalog = WindowCatalog::default();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| SpecError::invalid("slo-period-windows-path", format!("{}: {e}", dir.display())))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "yaml" | "yml") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| SpecError::invalid("slo-period-windows-path", format!("{}: {e}", path.display())))?;
            let windows = AlertWindows::from_yaml(&text).map_err(|e| e.in_file(&path))?;
            catalog.by_period.insert(windows.period, windows);
        }
        Ok(catalog)
    }

    /// Windows for a period, or an error listing the periods that have windows.
    pub fn get(&self, period: PromDuration) -> Result<&AlertWindows, SpecError> {
        self.by_period.get(&period).ok_or_else(|| {
            let known: Vec<String> = self.by_period.keys().map(|p| p.to_string()).collect();
            SpecError::invalid(
                "period",
                format!("no alert windows for an SLO period of {period} (known: {})", known.join(", ")),
            )
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertWindowsDoc {
    api_version: String,
    kind: String,
    spec: AlertWindowsSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertWindowsSpec {
    slo_period: String,
    page: QuickSlow,
    ticket: QuickSlow,
}

#[derive(Deserialize)]
struct QuickSlow {
    quick: WindowDoc,
    slow: WindowDoc,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WindowDoc {
    error_budget_percent: f64,
    short_window: String,
    long_window: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_match_sloth_constants() {
        let w30 = AlertWindows::google_30d();
        let f: Vec<f64> = w30.conditions().iter().map(|(_, w)| w.factor(w30.period)).collect();
        assert_eq!(f[0], 14.4);
        assert!((f[1] - 6.0).abs() < 1e-12);
        assert_eq!(&f[2..], &[3.0, 1.0]);
        let w28 = AlertWindows::google_28d();
        let f: Vec<f64> = w28.conditions().iter().map(|(_, w)| w.factor(w28.period)).collect();
        assert_eq!(f[0], 13.44);
        assert!((f[3] - 0.9333333333333333).abs() < 1e-15);
    }

    #[test]
    fn windows_file_round_trip() {
        let text = r#"
apiVersion: "sloth.slok.dev/v1"
kind: "AlertWindows"
spec:
  sloPeriod: 7d
  page:
    quick: {errorBudgetPercent: 8, shortWindow: 5m, longWindow: 1h}
    slow: {errorBudgetPercent: 12.5, shortWindow: 30m, longWindow: 6h}
  ticket:
    quick: {errorBudgetPercent: 20, shortWindow: 2h, longWindow: 1d}
    slow: {errorBudgetPercent: 42, shortWindow: 6h, longWindow: 3d}
"#;
        let w = AlertWindows::from_yaml(text).unwrap();
        assert_eq!(w.period, PromDuration::days(7));
        assert_eq!(w.page_slow.error_budget_percent, 12.5);
        let bad = text.replace("shortWindow: 5m", "shortWindow: 2h");
        let err = AlertWindows::from_yaml(&bad).unwrap_err().to_string();
        assert!(err.contains("spec.page.quick.shortWindow"), "{err}");
    }
}
