//! The last merge of a backup made on this machine (`shiftmesh merge FILE`): the heads before
//! and after it, so that everything one file brought can be reverted at once. Kept outside the
//! replicated schedule: which changes a file brought here is a fact about this machine.

use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

const LAST_MERGE_KEY: &[u8] = b"last-merge";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRecord {
    /// The file, as the merge named it.
    pub name: String,
    pub at_ms: i64,
    /// How many changes it brought.
    pub new_changes: usize,
    /// The document's heads before and after the merge, as hex.
    pub before: Vec<String>,
    pub after: Vec<String>,
}

impl Store {
    /// The last merge made here, if any (and not reverted since).
    pub fn last_merge(&self) -> Result<Option<MergeRecord>, StoreError> {
        Ok(self
            .meta
            .get(LAST_MERGE_KEY)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    pub fn set_last_merge(&mut self, record: Option<&MergeRecord>) -> Result<(), StoreError> {
        match record {
            Some(record) => {
                let bytes = serde_json::to_vec(record).expect("a merge record serialises");
                self.meta.insert(LAST_MERGE_KEY, bytes)?;
            }
            None => {
                self.meta.remove(LAST_MERGE_KEY)?;
            }
        }
        self.flush()
    }
}
