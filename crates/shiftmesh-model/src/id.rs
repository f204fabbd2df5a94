//! Entity ids: short, human-chosen names such as `sarah` or `mon-am-exhibits`.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::InputError;

/// The longest id accepted, in bytes. Ids appear in map keys, conflict ids and file names, so
/// they are kept short.
pub const ID_MAX_BYTES: usize = 64;

/// A validated entity id: non-empty, at most [`ID_MAX_BYTES`] bytes, and free of `/`, whitespace
/// and control characters (`/` separates the two halves of an assignment key). Shared, so the
/// index's many references to one id cost a reference count, not a copy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id(pub(crate) Arc<str>);

impl Id {
    pub fn parse(text: &str) -> Result<Id, InputError> {
        if text.is_empty() {
            return Err(InputError::new("an id must not be empty"));
        }
        if text.len() > ID_MAX_BYTES {
            return Err(InputError::new(format!(
                "id '{}…' is {} bytes long; the limit is {ID_MAX_BYTES}",
                text.chars().take(16).collect::<String>(),
                text.len()
            )));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| *c == '/' || c.is_whitespace() || c.is_control())
        {
            return Err(InputError::new(format!(
                "id '{text}' contains {bad:?}; ids may not contain '/', spaces or control characters"
            )));
        }
        Ok(Id(Arc::from(text)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Id {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Id::parse(s)
    }
}

impl TryFrom<String> for Id {
    type Error = InputError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Id::parse(&s)
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0.to_string()
    }
}

/// The key of an assignment in the document: `SHIFT/STAFF`. Keying by the pair makes two nodes
/// that assign the same person to the same shift converge to one assignment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AssignmentKey {
    pub shift: Id,
    pub staff: Id,
}

impl AssignmentKey {
    pub fn new(shift: Id, staff: Id) -> Self {
        AssignmentKey { shift, staff }
    }

    pub fn parse(text: &str) -> Result<Self, InputError> {
        let (shift, staff) = text.split_once('/').ok_or_else(|| {
            InputError::new(format!(
                "assignment key '{text}' is not of the form SHIFT/STAFF"
            ))
        })?;
        Ok(AssignmentKey::new(Id::parse(shift)?, Id::parse(staff)?))
    }
}

impl fmt::Display for AssignmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.shift, self.staff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_slashes_spaces_empty_and_overlong_text() {
        assert!(Id::parse("mon-am-exhibits").is_ok());
        assert!(Id::parse("").is_err());
        assert!(Id::parse("a/b").is_err());
        assert!(Id::parse("a b").is_err());
        assert!(Id::parse("a\u{7}").is_err());
        assert!(Id::parse(&"x".repeat(ID_MAX_BYTES)).is_ok());
        assert!(Id::parse(&"x".repeat(ID_MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn assignment_keys_round_trip_through_text() {
        let key = AssignmentKey::parse("mon-am/sarah").unwrap();
        assert_eq!(key.shift.as_str(), "mon-am");
        assert_eq!(key.staff.as_str(), "sarah");
        assert_eq!(key.to_string(), "mon-am/sarah");
        assert!(AssignmentKey::parse("no-slash").is_err());
    }
}
