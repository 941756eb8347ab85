//! Making text safe for a spreadsheet cell, a log line or a file name.
//! Titles and names come from the portal and can be hostile.

/// The longest value written to a cell; longer text is cut with `…`.
pub const MAX_CELL_CHARS: usize = 2_000;

/// Neutralises a value for a CSV cell:
/// - control characters (CR, LF, tab, …) and Unicode bidi controls become
///   U+FFFD, so a name cannot fake extra rows or reorder what is shown;
/// - a value a spreadsheet would evaluate (leading `=`, `+`, `-`, `@`) is
///   prefixed with `'`;
/// - very long values are cut.
pub fn cell(text: &str) -> String {
    let starts_formula = text
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r' | '\n'));
    // Most cells are short printable ASCII: nothing to replace or cut.
    if !starts_formula
        && text.len() <= MAX_CELL_CHARS
        && text.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len().min(MAX_CELL_CHARS) + 2);
    if starts_formula {
        out.push('\'');
    }
    for (count, c) in text.chars().enumerate() {
        if count == MAX_CELL_CHARS {
            out.push('…');
            break;
        }
        out.push(if is_unsafe_char(c) { '\u{FFFD}' } else { c });
    }
    out
}

/// Control characters and the Unicode bidirectional formatting characters
/// (the "Trojan Source" set).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}'
        )
        || c == '\u{2028}'
        || c == '\u{2029}'
}

/// Text for one log field or email line: unsafe characters replaced, cut.
pub fn one_line(text: &str, max: usize) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if is_unsafe_char(c) { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        s.push('…');
    }
    s
}

/// True when a name can be used as one path component as is.
pub fn is_safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralises_formulas() {
        assert_eq!(
            cell(r#"=HYPERLINK("http://x","y")"#),
            r#"'=HYPERLINK("http://x","y")"#
        );
        for p in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(cell(p).starts_with('\''), "{p:?}");
        }
        assert_eq!(cell("Project X"), "Project X");
    }

    #[test]
    fn replaces_controls_and_bidi() {
        let v = cell("a\r\nBcc: x\u{202E}cba");
        assert!(!v.contains('\r') && !v.contains('\n') && !v.contains('\u{202E}'));
    }

    #[test]
    fn cuts_long_values() {
        let long = "x".repeat(1_000_000);
        let v = cell(&long);
        assert_eq!(v.chars().count(), MAX_CELL_CHARS + 1);
    }

    #[test]
    fn file_names() {
        assert!(is_safe_file_name("20261123T105300Z-1a2b"));
        assert!(!is_safe_file_name("../x"));
        assert!(!is_safe_file_name("a/b"));
        assert!(!is_safe_file_name(".hidden"));
    }
}
