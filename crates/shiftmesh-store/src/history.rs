//! The history as recorded: one line per change, worked out once when the change is
//! persisted, and an index from each entity to the changes that touched it. `history` reads
//! these without loading the document; what the lines hold is up to the caller (the model's
//! entries, encoded).
//!
//! Trees: "history" (order key → line), "history_entities" (entity, 0, order key → nothing),
//! "history_bulk" (order key → the entities a bulk change created, sorted, one per line: an
//! import creates hundreds of thousands, kept as one value rather than as many keys). An order
//! key is the change's last operation counter (big-endian, so sled sorts causally) and its
//! hash. The meta tree records the heads the history covers and its format.

use automerge::ChangeHash;
use sled::transaction::{ConflictableTransactionError, Transactional};

use crate::store::{decode_heads, encode_heads, transaction_error};
use crate::{Store, StoreError};

const HISTORY_HEADS_KEY: &[u8] = b"history_heads";
const HISTORY_FORMAT_KEY: &[u8] = b"history_format";
/// Bumped when what a line holds changes: a store of another format rebuilds its history.
const HISTORY_FORMAT: u32 = 2;
const ORDER_KEY_BYTES: usize = 8 + 32;

/// One change for the history.
#[derive(Clone, Debug)]
pub struct HistoryRow {
    pub hash: ChangeHash,
    /// Where it sorts (see the module's documentation).
    pub order: u64,
    /// The line, encoded by the caller.
    pub line: Vec<u8>,
    /// The entities it touched (for a bulk change, created), sorted.
    pub entities: Vec<String>,
    pub bulk: bool,
}

fn order_key(order: u64, hash: &ChangeHash) -> [u8; ORDER_KEY_BYTES] {
    let mut key = [0; ORDER_KEY_BYTES];
    key[..8].copy_from_slice(&order.to_be_bytes());
    key[8..].copy_from_slice(hash.as_ref());
    key
}

fn entity_key(entity: &str, order: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(entity.len() + 1 + order.len());
    key.extend_from_slice(entity.as_bytes());
    key.push(0);
    key.extend_from_slice(order);
    key
}

impl Store {
    /// The heads the recorded history covers, or None when it was never recorded (or in an
    /// older format, which is then cleared).
    pub fn history_heads(&self) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        let format = self
            .meta
            .get(HISTORY_FORMAT_KEY)?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes));
        if format != Some(HISTORY_FORMAT) {
            if format.is_some() {
                self.clear_history()?;
            }
            return Ok(None);
        }
        Ok(self
            .meta
            .get(HISTORY_HEADS_KEY)?
            .and_then(|bytes| decode_heads(&bytes)))
    }

    /// Forgets the recorded history (it no longer matches the document).
    pub fn clear_history(&self) -> Result<(), StoreError> {
        // The record of what is covered goes first: a crash halfway leaves a history that says
        // it covers nothing, which is worked out again, never one that claims lines it lost.
        self.meta.remove(HISTORY_HEADS_KEY)?;
        self.meta.remove(HISTORY_FORMAT_KEY)?;
        self.history.clear()?;
        self.history_entities.clear()?;
        self.history_bulk.clear()?;
        Ok(())
    }

    /// Adds lines for changes and records the heads the history now covers, in one
    /// transaction. Not flushed: a history lost in a crash is worked out again.
    pub fn record_history(
        &self,
        rows: &[HistoryRow],
        heads: &[ChangeHash],
    ) -> Result<(), StoreError> {
        let encoded_heads = encode_heads(heads);
        let bulk_lists: Vec<Option<String>> = rows
            .iter()
            .map(|row| row.bulk.then(|| row.entities.join("\n")))
            .collect();
        (
            &self.history,
            &self.history_entities,
            &self.history_bulk,
            &self.meta,
        )
            .transaction(|(history, entities, bulk, meta)| {
                for (row, bulk_list) in rows.iter().zip(&bulk_lists) {
                    let order = order_key(row.order, &row.hash);
                    history.insert(&order[..], row.line.as_slice())?;
                    match bulk_list {
                        Some(list) => {
                            bulk.insert(&order[..], list.as_bytes())?;
                        }
                        None => {
                            for entity in &row.entities {
                                entities.insert(entity_key(entity, &order), &[])?;
                            }
                        }
                    }
                }
                meta.insert(HISTORY_HEADS_KEY, encoded_heads.as_slice())?;
                meta.insert(HISTORY_FORMAT_KEY, &HISTORY_FORMAT.to_be_bytes())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_error)
    }

    /// Every line, newest first.
    pub fn history_newest(&self) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        self.history
            .iter()
            .values()
            .rev()
            .map(|v| v.map(|v| v.to_vec()).map_err(StoreError::from))
    }

    /// The lines of the changes that touched (or, in bulk, created) `entity`, newest first.
    pub fn history_of(
        &self,
        entity: &str,
    ) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        let mut prefix = entity.as_bytes().to_vec();
        prefix.push(0);
        let mut orders: Vec<Vec<u8>> = Vec::new();
        let mut failed = None;
        for key in self.history_entities.scan_prefix(&prefix).keys() {
            match key {
                Ok(key) => orders.push(key[prefix.len()..].to_vec()),
                Err(e) => failed = Some(StoreError::from(e)),
            }
        }
        for item in self.history_bulk.iter() {
            match item {
                Ok((order, list)) => {
                    let found = list
                        .split(|b| *b == b'\n')
                        .collect::<Vec<_>>()
                        .binary_search(&entity.as_bytes())
                        .is_ok();
                    if found {
                        orders.push(order.to_vec());
                    }
                }
                Err(e) => failed = Some(StoreError::from(e)),
            }
        }
        orders.sort_unstable_by(|a, b| b.cmp(a));
        orders.dedup();
        failed
            .map(Err)
            .into_iter()
            .chain(
                orders
                    .into_iter()
                    .filter_map(|order| match self.history.get(&order) {
                        Ok(Some(line)) => Some(Ok(line.to_vec())),
                        Ok(None) => None,
                        Err(e) => Some(Err(StoreError::from(e))),
                    }),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::tests::store;

    fn row(n: u8, order: u64, entities: &[&str], bulk: bool) -> HistoryRow {
        HistoryRow {
            hash: ChangeHash([n; 32]),
            order,
            line: vec![n],
            entities: entities.iter().map(|e| (*e).to_owned()).collect(),
            bulk,
        }
    }

    fn lines(iter: impl Iterator<Item = Result<Vec<u8>, StoreError>>) -> Vec<u8> {
        iter.map(|line| line.unwrap()[0]).collect()
    }

    #[test]
    fn lines_come_newest_first_and_an_entity_finds_its_changes_and_the_bulk_that_made_it() {
        let (_dir, store) = store();
        assert_eq!(store.history_heads().unwrap(), None);
        let rows = [
            row(1, 100_000, &["a", "b", "c"], true),
            row(2, 100_010, &["b"], false),
            row(3, 100_020, &["c", "s1", "s1/b", "b"], false),
        ];
        store.record_history(&rows[..2], &[rows[1].hash]).unwrap();
        store.record_history(&rows[2..], &[rows[2].hash]).unwrap();
        assert_eq!(store.history_heads().unwrap(), Some(vec![rows[2].hash]));
        assert_eq!(lines(store.history_newest()), [3, 2, 1]);
        assert_eq!(lines(store.history_of("b")), [3, 2, 1]);
        assert_eq!(lines(store.history_of("a")), [1]);
        assert_eq!(lines(store.history_of("s1")), [3]);
        // A prefix of an id is another id.
        assert_eq!(lines(store.history_of("s")), Vec::<u8>::new());
        store.clear_history().unwrap();
        assert_eq!(store.history_heads().unwrap(), None);
        assert_eq!(lines(store.history_newest()), Vec::<u8>::new());
        assert_eq!(lines(store.history_of("b")), Vec::<u8>::new());
    }
}
