//! The rationale of a journey's SLO recommendations: a statistical text by default, optionally
//! written by an OpenAI-compatible chat model from the redacted evidence.
//!
//! **Statistical** ([`statistical_rationale`]): per variant, the objective and why — the level
//! kept in most rolling windows, overall and worst attainment, the confidence parts, breach
//! ranges and the loudest error capsule.
//!
//! **LLM** ([`llm_rationale`]): `POST {base_url}/chat/completions` with
//! `{"model", "messages", "temperature": 0}` and `Authorization: Bearer KEY` (the header is
//! marked sensitive; the key never appears in errors or logs — every error text passes through
//! [`SecretMask`]). The context is the recommendation as JSON (objectives, attainment,
//! confidence, breach ranges, trace ids, top capsules with their templates and samples) and the
//! statistical text; **every string in it goes through [`slo_operators::redact::Redactor`]
//! before it is sent**, although capsule templates and samples are already redacted by the
//! pipeline (defence in depth: a store written by another tool, a journey name holding an
//! e-mail). A global timeout bounds the call.
//!
//! [`rationale`] never fails: when the model is not configured, times out, answers with an
//! HTTP error or something unreadable, it returns the statistical text and says why in
//! [`Rationale::fallback_reason`].
//!
//! Configuration ([`LlmConfig::from_env`]): `SLO_SCOUT_LLM_BASE_URL` (e.g.
//! `https://api.openai.com/v1`), `SLO_SCOUT_LLM_MODEL`, `SLO_SCOUT_LLM_API_KEY` (optional, for
//! local servers without auth), `SLO_SCOUT_LLM_TIMEOUT_SECS` (default 30).

use std::time::Duration;

use serde_json::{json, Value};
use slo_operators::redact::Redactor;

use crate::history::SliKind;
use crate::recommend::JourneyRecommendations;
pub use crate::recommend::{Rationale, RationaleSource};
use slo_artifacts::gitops::{clip, Redactor as SecretMask, Secret};

/// Environment variable with the chat API's base URL (up to, not including,
/// `/chat/completions`).
pub const ENV_BASE_URL: &str = "SLO_SCOUT_LLM_BASE_URL";
/// Environment variable with the model name.
pub const ENV_MODEL: &str = "SLO_SCOUT_LLM_MODEL";
/// Environment variable with the API key (sent as a bearer token).
pub const ENV_API_KEY: &str = "SLO_SCOUT_LLM_API_KEY";
/// Environment variable with the timeout in seconds.
pub const ENV_TIMEOUT: &str = "SLO_SCOUT_LLM_TIMEOUT_SECS";

/// Capsule samples per capsule put in the context.
const SAMPLES_PER_CAPSULE: usize = 3;

/// Errors of the chat call; their text never holds the API key.
#[derive(Debug, thiserror::Error)]
pub enum RationaleError {
    /// A required setting is missing.
    #[error("LLM rationale not configured: {0}")]
    NotConfigured(String),
    /// The request got no answer (connection, TLS, timeout).
    #[error("chat request to {url} failed: {reason}")]
    Http {
        /// Request URL (user-info masked).
        url: String,
        /// What went wrong (masked).
        reason: String,
    },
    /// The server answered with a non-2xx status.
    #[error("chat request to {url} answered HTTP {status}: {body}")]
    Status {
        /// Request URL (user-info masked).
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the answer (masked).
        body: String,
    },
    /// The answer is not a chat completion with text.
    #[error("chat answer from {url} unusable: {reason}")]
    Answer {
        /// Request URL (user-info masked).
        url: String,
        /// What is wrong (masked).
        reason: String,
    },
}

/// Where the chat model is and how long to wait for it.
#[derive(Clone, Debug)]
pub struct LlmConfig {
    /// Base URL, e.g. `https://api.openai.com/v1`; the client posts to
    /// `{base_url}/chat/completions`.
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// API key (bearer token); `None` sends no `Authorization` header.
    pub api_key: Option<Secret>,
    /// Global timeout of one call.
    pub timeout: Duration,
}

impl LlmConfig {
    /// Reads [`ENV_BASE_URL`], [`ENV_MODEL`], [`ENV_API_KEY`] and [`ENV_TIMEOUT`]; a missing
    /// base URL or model (or a bad timeout) is [`RationaleError::NotConfigured`] naming the
    /// variable.
    pub fn from_env() -> Result<Self, RationaleError> {
        let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let base_url =
            var(ENV_BASE_URL).ok_or_else(|| RationaleError::NotConfigured(format!("{ENV_BASE_URL} is not set")))?;
        let model = var(ENV_MODEL).ok_or_else(|| RationaleError::NotConfigured(format!("{ENV_MODEL} is not set")))?;
        let timeout = match var(ENV_TIMEOUT) {
            None => Duration::from_secs(30),
            Some(t) => {
                t.parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0).map(Duration::from_secs_f64).ok_or_else(
                    || {
                        RationaleError::NotConfigured(format!(
                            "{ENV_TIMEOUT} must be a positive number of seconds, got {t:?}"
                        ))
                    },
                )?
            }
        };
        Ok(LlmConfig { base_url, model, api_key: var(ENV_API_KEY).map(Secret::new), timeout })
    }

    /// The completions endpoint.
    pub fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }

    fn mask(&self) -> SecretMask {
        SecretMask::new(self.api_key.clone())
    }
}

/// The statistical rationale: one sentence per variant.
pub fn statistical_rationale(rec: &JourneyRecommendations) -> String {
    let mut out = Vec::new();
    for v in &rec.variants {
        let what = match v.sli {
            SliKind::Availability => "availability".to_string(),
            SliKind::Latency { .. } => format!("{} ({})", v.sli.label(), v.basis),
        };
        let c = &v.confidence;
        let mut s = format!(
            "{what}: objective {}% — the journey kept {:.3}% or better in 95% of its {}-minute windows (overall {:.3}%, worst window {:.3}%); confidence {:.2} (volume {:.2}, stability {:.2}, coverage {:.2})",
            v.objective_percent, v.raw_objective_percent, rec.window_minutes, v.overall_attainment_percent, v.worst_window_percent, c.score, c.volume, c.stability, c.coverage
        );
        match v.evidence.breaches.len() {
            0 => s.push_str("; no window fell below it"),
            n => s.push_str(&format!("; {n} time ranges fell below it")),
        }
        if let Some(cap) = v.evidence.capsules.iter().find(|c| c.errors > 0) {
            s.push_str(&format!("; loudest error capsule {}: {:?} ({} errors)", cap.service, cap.template, cap.errors));
        }
        s.push('.');
        out.push(s);
    }
    out.join(" ")
}

/// Replaces every string in `v` (keys stay) by its redacted text.
fn redact_strings(v: &mut Value, redactor: &Redactor) {
    match v {
        Value::String(s) => {
            redactor.redact_in_place(s);
        }
        Value::Array(items) => items.iter_mut().for_each(|x| redact_strings(x, redactor)),
        Value::Object(map) => map.values_mut().for_each(|x| redact_strings(x, redactor)),
        _ => {}
    }
}

/// The context the model sees: the recommendation's facts and the statistical text, every
/// string redacted.
pub fn context(rec: &JourneyRecommendations, redactor: &Redactor) -> Value {
    let variants: Vec<Value> = rec
        .variants
        .iter()
        .map(|v| {
            json!({
                "slo": v.sli.label(),
                "threshold_basis": v.basis,
                "objective_percent": v.objective_percent,
                "attainment_percent_kept_in_95pct_of_windows": v.raw_objective_percent,
                "overall_attainment_percent": v.overall_attainment_percent,
                "worst_window_percent": v.worst_window_percent,
                "median_window_percent": v.median_window_percent,
                "confidence": {
                    "score": v.confidence.score,
                    "volume": v.confidence.volume,
                    "stability": v.confidence.stability,
                    "coverage": v.confidence.coverage,
                    "windows": v.confidence.windows,
                },
                "breaches": v.evidence.breaches,
                "bad_trace_ids": v.evidence.bad_trace_ids,
                "top_capsules": v.evidence.capsules.iter().map(|c| json!({
                    "service": c.service,
                    "template": c.template,
                    "events": c.count,
                    "errors": c.errors,
                    "window_start_ms": c.window_start_ms,
                    "samples": c.samples.iter().take(SAMPLES_PER_CAPSULE).map(|s| json!({
                        "body": s.body,
                        "trace_id": s.trace_id,
                        "severity": s.severity,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut ctx = json!({
        "journey": rec.journey,
        "entry_service": rec.service,
        "services": rec.services,
        "history_from_ms": rec.from_ms,
        "history_to_ms": rec.to_ms,
        "rolling_window_minutes": rec.window_minutes,
        "variants": variants,
        "statistical_rationale": statistical_rationale(rec),
    });
    redact_strings(&mut ctx, redactor);
    ctx
}

/// The chat request body for `rec`.
pub fn request_body(cfg: &LlmConfig, rec: &JourneyRecommendations, redactor: &Redactor) -> Value {
    let ctx = serde_json::to_string_pretty(&context(rec, redactor)).expect("context serialises");
    json!({
        "model": cfg.model,
        "temperature": 0,
        "messages": [
            {
                "role": "system",
                "content": "You are an SRE assistant. In 3 to 6 sentences, explain to the service owner why the recommended SLO objectives for this user journey are reasonable, which risks the evidence shows (breach time ranges, error capsules) and how confident the recommendation is. Use only the facts in the context; do not invent numbers. Placeholders like <EMAIL> are redacted values.",
            },
            { "role": "user", "content": format!("Context (JSON, redacted):\n{ctx}") },
        ],
    })
}

/// Asks the chat model for the rationale of `rec`.
pub fn llm_rationale(
    cfg: &LlmConfig,
    rec: &JourneyRecommendations,
    redactor: &Redactor,
) -> Result<String, RationaleError> {
    let mask = cfg.mask();
    let url = cfg.endpoint();
    let shown_url = mask.redact(&url);
    let http_err = |reason: String| RationaleError::Http { url: shown_url.clone(), reason: mask.redact(&reason) };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(cfg.timeout))
        .user_agent(concat!("slo-scout/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let payload = serde_json::to_vec(&request_body(cfg, rec, redactor)).expect("request body serialises");
    let mut request = agent.post(&url).header("Content-Type", "application/json");
    if let Some(key) = &cfg.api_key {
        let mut auth = ureq::http::HeaderValue::from_str(&format!("Bearer {}", key.expose()))
            .map_err(|_| http_err("the API key holds characters not allowed in an HTTP header".into()))?;
        auth.set_sensitive(true);
        request = request.header("Authorization", auth);
    }
    tracing::info!(url = %shown_url, model = %cfg.model, journey = %rec.journey, bytes = payload.len(), "asking the chat model for a rationale");
    let response = request.send(&payload[..]).map_err(|e| http_err(e.to_string()))?;
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().map_err(|e| http_err(e.to_string()))?;
    if !(200..300).contains(&status) {
        let body = clip(mask.redact(&text), 300);
        return Err(RationaleError::Status { url: shown_url, status, body });
    }
    let answer_err = |reason: String| RationaleError::Answer { url: shown_url.clone(), reason: mask.redact(&reason) };
    let v: Value = serde_json::from_str(&text).map_err(|e| answer_err(format!("not JSON: {e}")))?;
    let content = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| answer_err("no text at choices[0].message.content".into()))?;
    Ok(content.to_owned())
}

/// The rationale of `rec`: from the chat model when `llm` is `Some(Ok(config))` and the call
/// succeeds, else the statistical text with the reason for the fallback (`Some(Err(_))`: the
/// LLM was asked for but is not configured). With `llm = None` no model was asked: the
/// statistical text without a fallback reason.
pub fn rationale(
    llm: Option<&Result<LlmConfig, RationaleError>>,
    rec: &JourneyRecommendations,
    redactor: &Redactor,
) -> Rationale {
    let statistical = |reason: Option<String>| Rationale {
        text: statistical_rationale(rec),
        source: RationaleSource::Statistical,
        fallback_reason: reason,
    };
    match llm {
        None => statistical(None),
        Some(Err(e)) => statistical(Some(e.to_string())),
        Some(Ok(cfg)) => match llm_rationale(cfg, rec, redactor) {
            Ok(text) => {
                Rationale { text, source: RationaleSource::Llm { model: cfg.model.clone() }, fallback_reason: None }
            }
            Err(e) => {
                tracing::warn!(journey = %rec.journey, error = %e, "LLM rationale failed; using the statistical rationale");
                statistical(Some(e.to_string()))
            }
        },
    }
}

/// Fills [`JourneyRecommendations::rationale`] of every journey (see [`rationale`]).
pub fn attach_rationales(recs: &mut [JourneyRecommendations], llm: Option<&Result<LlmConfig, RationaleError>>) {
    let redactor = Redactor::with_defaults();
    for rec in recs.iter_mut() {
        rec.rationale = Some(rationale(llm, rec, &redactor));
    }
}
