//! Many new entities as one change built operation by operation and applied once.
//!
//! A local write inserts each key into a collection map on its own, and in Automerge 0.12 each
//! such insert costs in proportion to the whole document, so an import of a year's schedule
//! spent most of its time there. A change handed to Automerge whole goes through its bulk
//! apply instead (docs/BENCHMARKS.md, "Import"). The change holds exactly the operations the
//! local writes would have made: one new map per entity at its key in the collection's map,
//! and one value per non-empty field in it. It is written by the same actor, with the same
//! author, message and time, and signed the same way, so nothing downstream can tell the two
//! routes apart but the order of the operations.

use std::collections::HashSet;
use std::num::NonZeroU64;

use automerge::legacy::{Key, ObjectId, Op as LegacyOp, OpId, OpType, SortedVec};
use automerge::{ActorId, Author, Change, ChangeHash, ExpandedChange, ObjId, ObjType, ScalarValue};

use super::{Edit, Schedule};
use crate::entity::{Collection, FieldValue, Fields};
use crate::{ModelError, Result};

/// One new entity: its collection, key and the fields to store.
pub(super) type NewEntity = (Collection, String, Fields);

impl Schedule {
    /// Whether every entity of `entities` can be made by [`Schedule::create_as_one_change`]:
    /// none has an object under its key already (a softly removed or unreadable one is brought
    /// back field by field instead), and no key comes twice.
    pub(super) fn all_new(&self, entities: &[NewEntity]) -> bool {
        let index = self.index();
        let mut seen = HashSet::with_capacity(entities.len());
        entities.iter().all(|(collection, key, _)| {
            let entry = (*collection, key.clone());
            !self.exists(*collection, key)
                && !index.removed.contains(&entry)
                && !index.unreadable.contains_key(&entry)
                && seen.insert(entry)
        })
    }

    /// Writes `entities` (all new: see [`Schedule::all_new`]) as one change, applied once,
    /// and signs it; the index is left to the caller, which knows the fields written.
    pub(super) fn create_as_one_change(
        &mut self,
        edit: &Edit,
        entities: &[NewEntity],
        message: String,
    ) -> Result<ChangeHash> {
        if let Some(reason) = entities
            .iter()
            .find_map(|(c, _, _)| self.view.site().locked(*c))
        {
            return Err(ModelError::NewerSchema(reason));
        }
        let actor = self.writing_actor(edit);
        let deps = self.doc.get_heads();
        // Operation counters continue from the largest in the document: the heads' largest,
        // since a change's counters exceed those of every change it depends on.
        let max_op = deps
            .iter()
            .filter_map(|h| self.doc.get_change_meta_by_hash(h).map(|m| m.max_op))
            .max()
            .unwrap_or(0);
        let seq = 1 + self
            .doc
            .get_changes_meta(&[])
            .iter()
            .filter(|m| *m.actor == actor)
            .map(|m| m.seq)
            .max()
            .unwrap_or(0);
        let start_op = max_op + 1;
        let collections: Vec<ObjectId> = entities
            .iter()
            .map(|(c, _, _)| legacy_object(self.collection(*c)))
            .collect::<Result<_>>()?;
        // Every new map first (their counters are start_op, start_op + 1, …), then the fields
        // of each: operations on one object together is what the bulk apply does best.
        let mut operations: Vec<LegacyOp> = entities
            .iter()
            .zip(collections)
            .map(|((_, key, _), collection)| LegacyOp {
                action: OpType::Make(ObjType::Map),
                obj: collection,
                key: Key::Map(key.as_str().into()),
                pred: SortedVec::new(),
                insert: false,
            })
            .collect();
        for (made, (_, _, fields)) in (start_op..).zip(entities) {
            let entity = ObjectId::Id(OpId(made, actor.clone()));
            for (name, value) in fields.iter() {
                let Some(value) = scalar(value) else {
                    continue;
                };
                operations.push(LegacyOp {
                    action: OpType::Put(value),
                    obj: entity.clone(),
                    key: Key::Map(name.into()),
                    pred: SortedVec::new(),
                    insert: false,
                });
            }
        }
        let change = Change::from(ExpandedChange {
            operations,
            actor_id: actor,
            hash: None,
            seq,
            start_op: NonZeroU64::new(start_op).unwrap_or(NonZeroU64::MIN),
            time: edit.now_ms.div_euclid(1000),
            message: Some(message),
            deps,
            // An actor's author is recorded with its first change only (Automerge refuses a
            // second); this actor's author is this edit's, as the actor is derived from it.
            extra_bytes: if seq == 1 {
                author_footer(&edit.author)
            } else {
                Vec::new()
            },
            // Automerge 0.12 builds a change's author from its footer only (below).
            author: None,
        });
        let hash = change.hash();
        self.doc.apply_changes([change])?;
        self.sign(hash);
        Ok(hash)
    }

    /// Sets the author and actor of a write by `edit`'s author, and returns the actor: the
    /// machine's actor for that author, or a random one for a schedule of no machine.
    pub(super) fn writing_actor(&mut self, edit: &Edit) -> ActorId {
        // Setting the author closes any open transaction and draws a random actor; the
        // machine's own is set after it.
        self.doc
            .set_author(Some(Author::from(edit.author.as_bytes().to_vec())));
        if let Some(machine) = &self.machine {
            let actor = crate::members::author_actor(machine, &edit.author);
            if self.doc.get_actor() != &actor {
                self.doc.set_actor(actor);
            }
        }
        self.doc.get_actor().clone()
    }
}

/// Where a change records its author: Automerge 0.12 writes it as a footer in the change's
/// extra bytes (its `encode_author_footer`: the footer kind 1, the length, the bytes, each
/// number in LEB128), and its conversion of an expanded change does not, so it is written here.
/// The property tests in `tests/bulk.rs` read it back through Automerge.
fn author_footer(author: &str) -> Vec<u8> {
    const AUTHOR_FOOTER: u64 = 1;
    let mut footer = Vec::with_capacity(author.len() + 4);
    // Writing into a Vec cannot fail.
    let _ = leb128::write::unsigned(&mut footer, AUTHOR_FOOTER);
    let _ = leb128::write::unsigned(&mut footer, author.len() as u64);
    footer.extend_from_slice(author.as_bytes());
    footer
}

/// A collection map's id as a change names it.
fn legacy_object(obj: &ObjId) -> Result<ObjectId> {
    match obj {
        ObjId::Id(counter, actor, _) => Ok(ObjectId::Id(OpId(*counter, actor.clone()))),
        ObjId::Root => Err(ModelError::Refused(
            "a collection's map cannot be the document's root".into(),
        )),
    }
}

/// A field's value as Automerge stores it; None for what a local write leaves out.
fn scalar(value: &FieldValue) -> Option<ScalarValue> {
    match value {
        FieldValue::Str(s) if s.is_empty() => None,
        FieldValue::Str(s) => Some(ScalarValue::Str(s.as_str().into())),
        FieldValue::Int(i) => Some(ScalarValue::Int(*i)),
        FieldValue::Bool(b) => Some(ScalarValue::Boolean(*b)),
        FieldValue::Float(f) => Some(ScalarValue::F64(*f)),
        FieldValue::Foreign(_) => None,
    }
}
