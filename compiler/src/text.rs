//! Text from the config shown on a terminal: a YAML value must never retitle,
//! clear or rewrite the user's terminal or CI log.
//!
//! Two tools: [`escape_controls`] for messages (the text may change length),
//! and [`blank_controls`] for source text whose byte offsets must stay valid
//! (each control character becomes `?`s of the same byte length).

use std::borrow::Cow;

/// Characters that change how a terminal shows text: C0 and C1 controls
/// (ESC, BEL, NUL, CR, ...) except newline and tab, and the bidirectional
/// overrides behind "Trojan Source" tricks.
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// `text` with each unsafe character written as `\u{1b}`.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` with each unsafe character replaced by `?`s of the same byte
/// length, so spans into it stay valid. A `\r` before `\n` is kept.
pub fn blank_controls(text: &str) -> Cow<'_, str> {
    let unsafe_at =
        |i: usize, c: char| is_unsafe(c) && !(c == '\r' && text[i + 1..].starts_with('\n'));
    if !text.char_indices().any(|(i, c)| unsafe_at(i, c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if unsafe_at(i, c) {
            out.extend(std::iter::repeat_n('?', c.len_utf8()));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_keeps_text() {
        assert_eq!(
            escape_controls("plain ünïcode\tand\nlines"),
            "plain ünïcode\tand\nlines"
        );
        assert_eq!(
            escape_controls("a\u{1b}]0;pwned\u{7}b"),
            "a\\u{1b}]0;pwned\\u{7}b"
        );
        assert_eq!(
            escape_controls("\0\u{9b}\u{202e}"),
            "\\u{0}\\u{9b}\\u{202e}"
        );
    }

    #[test]
    fn blanking_keeps_byte_offsets() {
        let text = "a\u{1b}[2Jb\u{9b}c\u{202e}d\r\ne\rf";
        let out = blank_controls(text);
        assert_eq!(out.len(), text.len());
        assert_eq!(out, "a?[2Jb??c???d\r\ne?f");
    }
}
