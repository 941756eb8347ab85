//! Identifier types for DocSpace entities.
//!
//! Room ids are integers for rooms on DocSpace's own storage and strings for
//! rooms on third-party storage (API-NOTES §16), so a room id is kept as an
//! opaque value that can hold either form and is written back as it came.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A room or folder id: an integer for native storage, a string for
/// third-party storage rooms (for example `"sbox-4711"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoomId {
    Native(i64),
    ThirdParty(String),
}

impl RoomId {
    /// Parses the text form used in config files, CLI arguments and URLs.
    pub fn parse(text: &str) -> Option<RoomId> {
        let text = text.trim();
        if text.is_empty() || text.len() > 256 {
            return None;
        }
        if let Ok(n) = text.parse::<i64>() {
            return Some(RoomId::Native(n));
        }
        // Third-party ids are made of provider prefix and item id; refuse
        // anything that could change the meaning of a URL path.
        if text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && text != "."
            && text != ".."
        {
            Some(RoomId::ThirdParty(text.to_string()))
        } else {
            None
        }
    }

    /// The id as it appears in a URL path segment. Every `RoomId` comes
    /// through `parse` (the wire form too), which admits only characters a
    /// path segment carries as they are, so nothing needs encoding.
    pub fn as_path_segment(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomId::Native(n) => write!(f, "{n}"),
            RoomId::ThirdParty(s) => f.write_str(s),
        }
    }
}

impl Serialize for RoomId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RoomId::Native(n) => serializer.serialize_i64(*n),
            RoomId::ThirdParty(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for RoomId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Int(n) => Ok(RoomId::Native(n)),
            Raw::Text(s) => RoomId::parse(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid room id {s:?}"))),
        }
    }
}

/// A user or group id (a GUID on the wire), compared case-insensitively.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Guid(String);

impl Guid {
    pub fn new(text: impl Into<String>) -> Guid {
        Guid(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the text has the 8-4-4-4-12 hex shape of a GUID.
    pub fn is_well_formed(&self) -> bool {
        let parts: Vec<&str> = self.0.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        parts.len() == 5
            && parts
                .iter()
                .zip(lens)
                .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
    }
}

impl PartialEq for Guid {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Guid {}

impl std::hash::Hash for Guid {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

impl PartialOrd for Guid {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Guid {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .to_ascii_lowercase()
            .cmp(&other.0.to_ascii_lowercase())
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type UserId = Guid;
pub type GroupId = Guid;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_keep_their_form() {
        let ids: Vec<RoomId> = serde_json::from_str(r#"[42, "sbox-4711", "17"]"#).unwrap();
        assert_eq!(
            ids,
            vec![
                RoomId::Native(42),
                RoomId::ThirdParty("sbox-4711".into()),
                RoomId::Native(17)
            ]
        );
        assert_eq!(serde_json::to_string(&ids[1]).unwrap(), r#""sbox-4711""#);
        assert_eq!(serde_json::to_string(&ids[0]).unwrap(), "42");
    }

    #[test]
    fn room_id_refuses_path_tricks() {
        assert!(RoomId::parse("../etc").is_none());
        assert!(RoomId::parse("a/b").is_none());
        assert!(RoomId::parse("..").is_none());
        assert!(RoomId::parse("").is_none());
    }

    #[test]
    fn guids_compare_case_insensitively() {
        assert_eq!(Guid::new("ABC-1"), Guid::new("abc-1"));
        assert!(Guid::new("0f8b5c1e-0000-4000-8000-00000000000a").is_well_formed());
        assert!(!Guid::new("nope").is_well_formed());
    }
}
