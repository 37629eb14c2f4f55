//! Loader for gitleaks-format TOML rule files (our own reader; only the rule fields we use).

use std::sync::Arc;

use serde::Deserialize;

use super::{compile_rule, CompiledRule, EntityType, RedactError};

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
struct Rule {
    id: Option<String>,
    regex: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(rename = "secretGroup")]
    secret_group: Option<usize>,
    entropy: Option<f64>,
}

/// Compiled rules, their keyword lists, and `(id, reason)` of skipped rules.
pub(crate) type Parsed = (Vec<CompiledRule>, Vec<Vec<String>>, Vec<(String, String)>);

/// Parses gitleaks TOML. Unknown fields (allowlists, paths, ...) are ignored.
pub(crate) fn parse(text: &str, strict: bool) -> Result<Parsed, RedactError> {
    let file: File = toml::from_str(text).map_err(|e| RedactError::Toml(e.message().to_string()))?;
    let entity = EntityType::Custom(Arc::from("SECRET"));
    let mut rules = Vec::new();
    let mut kws = Vec::new();
    let mut skipped = Vec::new();
    for (i, r) in file.rules.into_iter().enumerate() {
        let id = r.id.unwrap_or_else(|| format!("rule#{i}"));
        let Some(re) = r.regex else {
            skipped.push((id, "no regex (path-only rule)".to_string()));
            continue;
        };
        match compile_rule(&id, &re, entity.clone(), r.secret_group, r.entropy, !r.keywords.is_empty()) {
            Ok(c) => {
                rules.push(c);
                kws.push(r.keywords);
            }
            Err(e) => {
                if strict {
                    return Err(e);
                }
                let reason = match e {
                    RedactError::InvalidRule { reason, .. } => reason,
                    other => other.to_string(),
                };
                skipped.push((id, reason));
            }
        }
    }
    Ok((rules, kws, skipped))
}
