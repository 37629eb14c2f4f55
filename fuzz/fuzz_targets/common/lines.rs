//! Line helpers shared by the line-reader targets (`jsonl`, `plain`).

/// Whether a line is only whitespace (the readers skip such lines).
pub fn is_blank(text: &[u8]) -> bool {
    text.iter().all(u8::is_ascii_whitespace)
}

/// The line without trailing `\r`/`\n` (what the reader hands on).
pub fn trimmed(text: &[u8]) -> &[u8] {
    let mut end = text.len();
    while end > 0 && matches!(text[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    &text[..end]
}
