//! Email address checks, shared by config validation and notifications.

/// True when the text is one plain address (`user@example.com`) with no
/// display name, no control characters and no separators that would let it
/// become several recipients.
pub fn is_valid_email(text: &str) -> bool {
    let t = text.trim();
    if t.is_empty() || t.len() > 254 || t.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    if t.contains([',', ';', '<', '>', '"', '(', ')']) {
        return false;
    }
    t.parse::<lettre::Address>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(is_valid_email("ann@partner.example"));
        assert!(!is_valid_email("ann@partner.example\r\nBcc: x@y.z"));
        assert!(!is_valid_email("a@b.c, d@e.f"));
        assert!(!is_valid_email("nope"));
        assert!(!is_valid_email(""));
    }
}
