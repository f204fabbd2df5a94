//! Reverting a change: a new change that writes back what the change replaced. It is synced,
//! audited and revertible like any other change. A revert is refused, saying why, where a
//! later change has rewritten what it would write back, so it never undoes someone's later
//! work in silence.

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{ChangeHash, ObjId, ObjType, PatchAction, Prop, ReadDoc, ScalarValue, Value};

use super::{Edit, Schedule, Written};
use crate::entity::{Collection, REMOVED_FIELD};
use crate::{Id, ModelError, Result};

/// The most reasons a refused revert lists; the rest are counted.
const REFUSALS_LISTED_MAX: usize = 5;

/// One thing a revert does.
enum Step {
    /// Writes a field back to the value it had before (or deletes it, when it had none).
    SetField {
        collection: Collection,
        key: String,
        field: String,
        before: Option<ScalarValue>,
    },
    /// Removes an entity the change created.
    Remove { collection: Collection, key: String },
    /// Creates again an entity the change deleted, with its fields as they were.
    Recreate {
        collection: Collection,
        key: String,
        fields: Vec<(String, ScalarValue)>,
    },
}

/// The collections a revert may touch: the schedule itself. Membership, accounts and the
/// site's settings change only through their own commands, so a revert can never let a
/// revoked machine or a disabled account back in.
fn revertible(collection: Collection) -> bool {
    matches!(
        collection,
        Collection::Departments
            | Collection::Staff
            | Collection::Shifts
            | Collection::Assignments
            | Collection::Availability
            | Collection::Acks
    )
}

fn prop_key(prop: &Prop) -> String {
    match prop {
        Prop::Map(key) => key.clone(),
        Prop::Seq(i) => i.to_string(),
    }
}

impl Schedule {
    /// The changes whose hash starts with `prefix` (the hex digits `history` shows).
    pub fn changes_starting_with(&mut self, prefix: &str) -> Vec<ChangeHash> {
        let prefix = prefix.to_ascii_lowercase();
        self.doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| m.hash)
            .filter(|h| h.to_string().starts_with(&prefix))
            .collect()
    }

    /// Writes a new change that undoes `hash`: fields back to their values before it, entities
    /// it created removed, entities it deleted created again.
    /// Returns the change written and its message.
    pub fn revert(&mut self, edit: &Edit, hash: ChangeHash) -> Result<(Written, String)> {
        let change = self
            .doc
            .get_change_by_hash(&hash)
            .ok_or_else(|| ModelError::NotFound {
                kind: "change",
                id: hash.to_string(),
            })?;
        let deps = change.deps().to_vec();
        let original = change.message().unwrap_or_default().to_owned();
        let (steps, refusals) = self.revert_steps(&deps, hash);
        if !refusals.is_empty() {
            let more = refusals.len().saturating_sub(REFUSALS_LISTED_MAX);
            let listed: Vec<&str> = refusals
                .iter()
                .take(REFUSALS_LISTED_MAX)
                .map(String::as_str)
                .collect();
            return Err(ModelError::Refused(format!(
                "change {} ('{original}') cannot be reverted: {}{}",
                short(hash),
                listed.join("; "),
                if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                }
            )));
        }
        if steps.is_empty() {
            return Err(ModelError::Refused(format!(
                "change {} ('{original}') changed nothing a revert can write back",
                short(hash)
            )));
        }
        let message = format!("revert {}: {original}", short(hash));
        let (_, written) = self.write(edit, message.clone(), |s, dirty| {
            for step in &steps {
                s.apply_revert_step(step)?;
                let (collection, key) = match step {
                    Step::SetField {
                        collection, key, ..
                    }
                    | Step::Remove { collection, key }
                    | Step::Recreate {
                        collection, key, ..
                    } => (*collection, key.clone()),
                };
                dirty.insert((collection, key));
            }
            Ok(())
        })?;
        Ok((written, message))
    }

    /// What reverting the change would write, and why it cannot where it cannot.
    fn revert_steps(&mut self, deps: &[ChangeHash], hash: ChangeHash) -> (Vec<Step>, Vec<String>) {
        let at_change = [hash];
        let patches = self.doc.diff(deps, &at_change);
        let mut steps = Vec::new();
        let mut refusals = Vec::new();
        let mut created: BTreeSet<(Collection, String)> = BTreeSet::new();
        // Entities first: the fields written inside an entity the change created go with it.
        for patch in &patches {
            if patch.path.len() != 1 {
                continue;
            }
            let Some(collection) = Collection::from_key(&prop_key(&patch.path[0].1)) else {
                continue;
            };
            if !revertible(collection) {
                continue;
            }
            match &patch.action {
                PatchAction::PutMap {
                    key,
                    value: (Value::Object(ObjType::Map), object),
                    ..
                } => match self.created_untouched(collection, key, object, &at_change) {
                    Ok(()) => {
                        created.insert((collection, key.clone()));
                        steps.push(Step::Remove {
                            collection,
                            key: key.clone(),
                        });
                    }
                    Err(why) => refusals.push(why),
                },
                PatchAction::DeleteMap { key } => {
                    match self.deleted_fields(collection, key, deps) {
                        Ok(fields) => steps.push(Step::Recreate {
                            collection,
                            key: key.clone(),
                            fields,
                        }),
                        Err(why) => refusals.push(why),
                    }
                }
                _ => {}
            }
        }
        for patch in &patches {
            let path: Vec<String> = patch.path.iter().map(|(_, p)| prop_key(p)).collect();
            let collection = path.first().and_then(|c| Collection::from_key(c));
            match (collection, path.len()) {
                (_, 0) => {
                    refusals.push("it set up the document or the site's settings".into());
                }
                (Some(c), _) if !revertible(c) => refusals.push(format!(
                    "it changed the site's {} (use their own commands)",
                    c.key()
                )),
                (Some(_), 1) => {}
                (Some(collection), 2) => {
                    let key = path[1].clone();
                    if created.contains(&(collection, key.clone())) {
                        continue;
                    }
                    let field = match &patch.action {
                        PatchAction::PutMap {
                            key,
                            value: (Value::Scalar(_), _),
                            ..
                        }
                        | PatchAction::DeleteMap { key } => key.clone(),
                        _ => {
                            refusals.push(format!(
                                "it wrote a value into {key} that shiftmesh does not write"
                            ));
                            continue;
                        }
                    };
                    match self.field_before(&patch.obj, &field, deps, &at_change) {
                        Ok(before) => steps.push(Step::SetField {
                            collection,
                            key,
                            field,
                            before,
                        }),
                        Err(why) => refusals.push(format!("{why} of {key}")),
                    }
                }
                _ => refusals.push(format!(
                    "it edited inside {} in a way shiftmesh does not write",
                    path.join("/")
                )),
            }
        }
        // Fields of one entity are written after those entities are created, and removals come
        // last so that an assignment goes before the shift it names.
        steps.sort_by_key(|s| match s {
            Step::Recreate { .. } => 0,
            Step::SetField { .. } => 1,
            Step::Remove { collection, .. } => {
                if collection.removes_softly() {
                    3
                } else {
                    2
                }
            }
        });
        (steps, refusals)
    }

    /// A field's value before the change, when no later change has written it.
    fn field_before(
        &self,
        obj: &ObjId,
        field: &str,
        deps: &[ChangeHash],
        at_change: &[ChangeHash],
    ) -> std::result::Result<Option<ScalarValue>, String> {
        let ops = |values: Vec<(Value<'_>, ObjId)>| -> Vec<ObjId> {
            values.into_iter().map(|(_, id)| id).collect()
        };
        let now = ops(self.doc.get_all(obj, field).unwrap_or_default());
        let then = ops(self
            .doc
            .get_all_at(obj, field, at_change)
            .unwrap_or_default());
        if now != then {
            return Err(format!("a later change rewrote the field {field}"));
        }
        match self.doc.get_at(obj, field, deps) {
            Ok(Some((Value::Scalar(value), _))) => Ok(Some(value.into_owned())),
            Ok(None) => Ok(None),
            _ => Err(format!(
                "the field {field} held a value shiftmesh cannot write back"
            )),
        }
    }

    /// Checks that nothing has changed an entity the change created since: no field written
    /// again, and nothing made since that points at it.
    fn created_untouched(
        &self,
        collection: Collection,
        key: &str,
        object: &ObjId,
        at_change: &[ChangeHash],
    ) -> std::result::Result<(), String> {
        let current = self.entity_object(collection, key);
        if current.as_ref() != Some(object) {
            return Err(format!("{key} was replaced or removed since"));
        }
        let now: Vec<(String, ObjId)> = self
            .doc
            .map_range(object, ..)
            .map(|item| (item.key.to_string(), item.id()))
            .collect();
        let then: Vec<(String, ObjId)> = self
            .doc
            .map_range_at(object, .., at_change)
            .map(|item| (item.key.to_string(), item.id()))
            .collect();
        if now != then {
            return Err(format!("{key} was changed since"));
        }
        let index = self.index();
        let Ok(id) = Id::parse(key) else {
            return Ok(());
        };
        let later = match collection {
            Collection::Shifts => index.assignments_of_shift(&id).count(),
            Collection::Staff => {
                index.assignments_of_staff(&id).count() + index.availability_of_staff(&id).count()
            }
            _ => 0,
        };
        if later > 0 {
            let pointing: Vec<String> = match collection {
                Collection::Shifts => index
                    .assignments_of_shift(&id)
                    .map(|a| a.key().to_string())
                    .collect(),
                _ => index
                    .assignments_of_staff(&id)
                    .map(|a| a.key().to_string())
                    .chain(index.availability_of_staff(&id).map(|a| a.id.to_string()))
                    .collect(),
            };
            // What points at it and was made by the change itself is reverted with it.
            let made_later: Vec<String> = pointing
                .into_iter()
                .filter(|k| {
                    let c = if k.contains('/') {
                        Collection::Assignments
                    } else {
                        Collection::Availability
                    };
                    self.doc
                        .get_all_at(self.collection(c), k.as_str(), at_change)
                        .is_ok_and(|v| v.is_empty())
                })
                .collect();
            if !made_later.is_empty() {
                return Err(format!(
                    "{key} has {} made since ({}); remove those first",
                    made_later.len(),
                    made_later.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The fields an entity the change deleted had, when its key is still free.
    fn deleted_fields(
        &self,
        collection: Collection,
        key: &str,
        deps: &[ChangeHash],
    ) -> std::result::Result<Vec<(String, ScalarValue)>, String> {
        if self.exists(collection, key) {
            return Err(format!("{key} exists again"));
        }
        let coll = self.collection(collection);
        let Ok(Some((Value::Object(ObjType::Map), object))) = self.doc.get_at(coll, key, deps)
        else {
            return Err(format!("{key} held something shiftmesh cannot write back"));
        };
        let mut fields = Vec::new();
        for item in self.doc.map_range_at(&object, .., deps) {
            match Value::from(item.value) {
                Value::Scalar(value) => fields.push((item.key.to_string(), value.into_owned())),
                Value::Object(_) => {
                    return Err(format!(
                        "{key} held a value in {} that shiftmesh cannot write back",
                        item.key
                    ))
                }
            }
        }
        Ok(fields)
    }

    fn apply_revert_step(&mut self, step: &Step) -> Result<()> {
        match step {
            Step::SetField {
                collection,
                key,
                field,
                before,
            } => {
                let obj =
                    self.entity_object(*collection, key)
                        .ok_or_else(|| ModelError::NotFound {
                            kind: collection.noun(),
                            id: key.clone(),
                        })?;
                match before {
                    Some(value) => self.doc.put(&obj, field.as_str(), value.clone())?,
                    None => self.doc.delete(&obj, field.as_str())?,
                }
            }
            Step::Remove { collection, key } => {
                if collection.removes_softly() {
                    if let Some(obj) = self.entity_object(*collection, key) {
                        self.doc.put(&obj, REMOVED_FIELD, true)?;
                    }
                } else {
                    let coll = self.collection(*collection).clone();
                    self.doc.delete(&coll, key.as_str())?;
                }
            }
            Step::Recreate {
                collection,
                key,
                fields,
            } => {
                let coll = self.collection(*collection).clone();
                let obj = self.doc.put_object(&coll, key.as_str(), ObjType::Map)?;
                for (name, value) in fields {
                    self.doc.put(&obj, name.as_str(), value.clone())?;
                }
            }
        }
        Ok(())
    }
}

/// A change hash as `history` shows it.
fn short(hash: ChangeHash) -> String {
    hash.to_string().chars().take(12).collect()
}
