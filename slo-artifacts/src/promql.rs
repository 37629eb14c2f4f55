//! PromQL parsing with the one guard the parser lacks: `promql-parser` panics (it calls
//! `Duration::from_secs_f64`) on a bare-number duration that is not finite or too large for a
//! `Duration`, such as the subquery `[8888…888:1m]` a fuzzer found in a spec. Every PromQL text
//! from outside is parsed through [`parse`], which refuses such durations with an error first.

use promql_parser::parser::Expr;

/// The largest bare-number duration accepted, in seconds (about 31,700 years).
const MAX_DURATION_SECONDS: f64 = 1e12;

/// Parses PromQL, refusing out-of-range bare-number durations (in `[…]` and after `offset`)
/// before the parser sees them.
///
/// ```
/// assert!(slo_artifacts::promql::parse("rate(x[5m])").is_ok());
/// assert!(slo_artifacts::promql::parse("rate(x[300])").is_ok());
/// let err = slo_artifacts::promql::parse("max_over_time(x[8888888888888888888888:1m])").unwrap_err();
/// assert!(err.contains("out of range"), "{err}");
/// ```
pub fn parse(text: &str) -> Result<Expr, String> {
    check_durations(text)?;
    promql_parser::parser::parse(text)
}

/// Finds bare numbers where PromQL takes a duration: inside `[…]` and after `offset`.
fn check_durations(text: &str) -> Result<(), String> {
    let b = text.as_bytes();
    let (mut i, mut depth, mut after_offset) = (0usize, 0usize, false);
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                // Skip a string literal (with backslash escapes, except in raw backtick strings).
                i += 1;
                while i < b.len() && b[i] != c {
                    i += if b[i] == b'\\' && c != b'`' { 2 } else { 1 };
                }
                i += 1;
                after_offset = false;
            }
            b'[' => {
                depth += 1;
                i += 1;
            }
            b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b'_' | b':')) {
                    // `e+5` / `e-5` exponents belong to the number.
                    i += 1;
                    if i < b.len() && matches!(b[i], b'+' | b'-') && matches!(b[i - 1], b'e' | b'E') {
                        i += 1;
                    }
                }
                let word = &text[start..i];
                if depth > 0 || after_offset {
                    for part in word.split(':').filter(|p| !p.is_empty()) {
                        if let Some(v) = bare_number(part) {
                            if !(v.is_finite() && v.abs() <= MAX_DURATION_SECONDS) {
                                return Err(format!("duration {part:?} is out of range"));
                            }
                        }
                    }
                }
                after_offset = word.eq_ignore_ascii_case("offset");
            }
            _ => {
                if !c.is_ascii_whitespace() && c != b'-' && c != b'+' {
                    after_offset = false;
                }
                i += 1;
            }
        }
    }
    Ok(())
}

/// The value of a bare number token (decimal, exponent, hex, `inf`, `nan`), or `None` for
/// anything else (durations with units such as `5m`, names).
fn bare_number(token: &str) -> Option<f64> {
    let t = token.to_ascii_lowercase();
    if let Some(hex) = t.strip_prefix("0x") {
        return u128::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    if t == "inf" || t == "nan" || t == "infinity" {
        return Some(f64::INFINITY);
    }
    if !t.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    t.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (fuzzing, issue 17): the parser panicked on a huge bare-number subquery
    /// range in a spec's query.
    #[test]
    fn out_of_range_durations_are_errors_not_panics() {
        for bad in [
            "sum(rate(x{code=~\"85..|429)\"}[8888888888888888888888888888888888888:8888888888888m]))",
            "rate(x[1e400])",
            "rate(x[0xffffffffffffffffffffff])",
            "x offset 99999999999999999999",
            "rate(x[5m:1e300])",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("out of range"), "{bad}: {err}");
        }
        for good in
            ["rate(x[5m])", "rate(x{a=\"[1e400]\"}[5m])", "x offset 5m", "rate(x[5m:30s])", "1e400", "sum(x) > 1e9"]
        {
            assert!(check_durations(good).is_ok(), "{good}");
        }
    }
}
