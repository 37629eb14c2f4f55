//! The LLM rationale against a local OpenAI-compatible stand-in: path, bearer header, model,
//! no PII in the request, and the statistical fallback on timeout, HTTP errors, unreadable
//! answers, refused connections and missing configuration. The key never shows in errors.

use std::time::Duration;

use serde_json::{json, Value};
use slo_advisor::analyze::{analyze, AnalyzeConfig};
use slo_advisor::rationale::*;
use slo_advisor::recommend::{recommend_analysis, JourneyRecommendations, RecommendConfig};
use slo_advisor::spans::from_events;
use slo_artifacts::gitops::Secret;
use slo_dataflow::event::{CapsuleSample, Severity};
use slo_dataflow::synthetic::{generate, SyntheticConfig};
use slo_operators::redact::Redactor;
use slo_storage::retrieval::Evidence as CapsuleEvidence;

#[path = "../../slo-artifacts/tests/common/mod.rs"]
mod common;
use common::serve;

const KEY: &str = "sk-test-0123456789abcdef";
const EMAIL: &str = "jane.doe@example.com";
const IP: &str = "10.23.45.67";

/// The checkout journey's recommendations with a capsule whose sample holds PII.
fn checkout() -> JourneyRecommendations {
    let (events, _) = generate(&SyntheticConfig { requests: 3_000, ..Default::default() });
    let spans = from_events(&events);
    let a = analyze(&spans, &AnalyzeConfig::default());
    let recs = recommend_analysis(&a, &RecommendConfig::default());
    let mut rec = recs.into_iter().find(|r| r.journey == "POST /cart/checkout").unwrap();
    let capsule = CapsuleEvidence {
        capsule_id: "c1".into(),
        distance: 0.0,
        service: "payment".into(),
        template: "payment gateway timeout after <*> ms for order <*>".into(),
        count: 12,
        errors: 12,
        window_start_ms: rec.from_ms,
        window_end_ms: rec.to_ms,
        samples: vec![CapsuleSample {
            event_id: "e1".into(),
            timestamp_ms: rec.from_ms,
            body: format!("payment for {EMAIL} from {IP} timed out"),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            severity: Some(Severity::Error),
        }],
    };
    for v in &mut rec.variants {
        v.evidence.capsules = vec![capsule.clone()];
    }
    rec
}

fn config(base_url: &str, timeout: Duration) -> LlmConfig {
    LlmConfig {
        base_url: format!("{base_url}/v1"),
        model: "tiny-model".into(),
        api_key: Some(Secret::new(KEY)),
        timeout,
    }
}

fn completion(text: &str) -> String {
    json!({"choices": [{"message": {"role": "assistant", "content": text}}]}).to_string()
}

#[test]
fn the_model_gets_redacted_context_and_writes_the_rationale() {
    let rec = checkout();
    assert!(rec.variants[0].evidence.capsules[0].samples[0].body.contains(EMAIL));
    let (base, seen, handle) = serve(1, |_| (200, vec![], completion("  Checkout keeps 97 % in most windows.  ")));
    let r = rationale(Some(&Ok(config(&base, Duration::from_secs(10)))), &rec, &Redactor::with_defaults());
    handle.join().unwrap();
    assert_eq!(r.text, "Checkout keeps 97 % in most windows.");
    assert_eq!(r.source, RationaleSource::Llm { model: "tiny-model".into() });
    assert_eq!(r.fallback_reason, None);
    let seen = seen.lock().unwrap();
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    let body: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body["model"], "tiny-model");
    assert_eq!(body["messages"][0]["role"], "system");
    let user = body["messages"][1]["content"].as_str().unwrap();
    // The context was sent (journey, the capsule) — with the PII replaced.
    assert!(user.contains("POST /cart/checkout") && user.contains("payment gateway timeout"), "{user}");
    assert!(user.contains("<EMAIL>") && user.contains("<IP>"), "{user}");
    assert!(!seen[0].body.contains(EMAIL) && !seen[0].body.contains(IP), "PII sent: {}", seen[0].body);
    assert!(!seen[0].body.contains(KEY));
}

#[test]
fn a_timeout_falls_back_to_the_statistical_rationale() {
    let rec = checkout();
    let (base, _seen, _handle) = serve(1, |_| {
        std::thread::sleep(Duration::from_secs(3));
        (200, vec![], completion("late"))
    });
    let started = std::time::Instant::now();
    let r = rationale(Some(&Ok(config(&base, Duration::from_millis(300)))), &rec, &Redactor::with_defaults());
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(r.source, RationaleSource::Statistical);
    assert_eq!(r.text, statistical_rationale(&rec));
    let reason = r.fallback_reason.unwrap();
    assert!(reason.contains("chat request to") && reason.to_lowercase().contains("timeout"), "{reason}");
    assert!(!reason.contains(KEY));
}

#[test]
fn an_http_error_falls_back_and_never_shows_the_key() {
    let rec = checkout();
    // The server echoes the Authorization header it got in its error body.
    let (base, _seen, handle) = serve(1, |req| {
        (500, vec![], json!({"error": format!("bad key {}", req.header("authorization").unwrap_or(""))}).to_string())
    });
    let r = rationale(Some(&Ok(config(&base, Duration::from_secs(10)))), &rec, &Redactor::with_defaults());
    handle.join().unwrap();
    assert_eq!(r.source, RationaleSource::Statistical);
    let reason = r.fallback_reason.unwrap();
    assert!(reason.contains("HTTP 500") && reason.contains("bad key Bearer ***"), "{reason}");
    assert!(!reason.contains(KEY), "{reason}");
    // Unreadable answers and refused connections fall back too.
    let (base, _seen, handle) = serve(1, |_| (200, vec![], "{\"choices\": []}".into()));
    let r = rationale(Some(&Ok(config(&base, Duration::from_secs(10)))), &rec, &Redactor::with_defaults());
    handle.join().unwrap();
    assert!(r.fallback_reason.unwrap().contains("choices[0].message.content"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let r = rationale(Some(&Ok(config(&base, Duration::from_secs(10)))), &rec, &Redactor::with_defaults());
    let reason = r.fallback_reason.unwrap();
    assert!(reason.contains("chat request to") && !reason.contains(KEY), "{reason}");
}

#[test]
fn unconfigured_or_not_asked_is_statistical() {
    let rec = checkout();
    let text = statistical_rationale(&rec);
    assert!(text.starts_with("availability: objective "), "{text}");
    assert_eq!(text.matches("objective ").count(), rec.variants.len());
    assert!(text.contains("loudest error capsule payment"));
    let r = rationale(None, &rec, &Redactor::with_defaults());
    assert_eq!((r.source, r.fallback_reason), (RationaleSource::Statistical, None));
    let missing = Err(RationaleError::NotConfigured(format!("{ENV_BASE_URL} is not set")));
    let r = rationale(Some(&missing), &rec, &Redactor::with_defaults());
    assert_eq!(r.fallback_reason.as_deref(), Some("LLM rationale not configured: SLO_SCOUT_LLM_BASE_URL is not set"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["source"]["kind"], "statistical");
}
