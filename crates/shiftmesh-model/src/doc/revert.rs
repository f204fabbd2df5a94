//! Reverting a change: a new change that writes back what the change replaced. It is synced,
//! audited and revertible like any other change. A revert is refused, saying why, where a
//! later change has rewritten what it would write back, so it never undoes someone's later
//! work in silence.

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{ChangeHash, ObjId, ObjType, PatchAction, Prop, ReadDoc, ScalarValue, Value, ROOT};

use super::{Edit, Schedule, Written};
use crate::entity::{Collection, REMOVED_FIELD};
use crate::{Id, ModelError, Result};

/// The most reasons a refused revert lists; the rest are counted.
const REFUSALS_LISTED_MAX: usize = 5;

/// One thing a revert does.
enum Step {
    /// Writes a field of the entity object `obj` back to the value it had before (or deletes
    /// it, when it had none).
    SetField {
        obj: ObjId,
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

impl Step {
    fn entity(&self) -> (Collection, &str) {
        match self {
            Step::SetField {
                collection, key, ..
            }
            | Step::Remove { collection, key }
            | Step::Recreate {
                collection, key, ..
            } => (*collection, key),
        }
    }

    /// Whether the step marks an entity removed (a soft removal written back).
    fn removes(&self) -> bool {
        match self {
            Step::SetField { field, before, .. } => {
                field == REMOVED_FIELD && matches!(before, Some(ScalarValue::Boolean(true)))
            }
            Step::Remove { .. } => true,
            Step::Recreate { .. } => false,
        }
    }

    /// Whether the step brings a softly removed entity back.
    fn restores(&self) -> bool {
        matches!(self, Step::SetField { field, .. } if field == REMOVED_FIELD) && !self.removes()
    }
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
        let what = format!("change {} ('{original}')", short(hash));
        let message = format!("revert {}: {original}", short(hash));
        self.revert_between(edit, &deps, &[hash], &what, message)
    }

    /// Writes a new change that undoes everything between the heads `before` and `after` (the
    /// changes a merge brought, say), as [`Schedule::revert`] does for one change. `what`
    /// names it in a refusal; `message` is the new change's.
    pub fn revert_between(
        &mut self,
        edit: &Edit,
        before: &[ChangeHash],
        after: &[ChangeHash],
        what: &str,
        message: String,
    ) -> Result<(Written, String)> {
        let (steps, mut refusals) = self.revert_steps(before, after);
        // Each field of an entity gives its reason; one is enough.
        refusals.dedup();
        if !refusals.is_empty() {
            let more = refusals.len().saturating_sub(REFUSALS_LISTED_MAX);
            let listed: Vec<&str> = refusals
                .iter()
                .take(REFUSALS_LISTED_MAX)
                .map(String::as_str)
                .collect();
            return Err(ModelError::Refused(format!(
                "{what} cannot be reverted: {}{}. Nothing was changed; revert the later changes first ('shiftmesh history --entity ID' shows them), or make the edit by hand",
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
                "{what} changed nothing a revert can write back"
            )));
        }
        let (_, written) = self.write(edit, message.clone(), |s, dirty| {
            for step in &steps {
                s.apply_revert_step(step)?;
                let (collection, key) = step.entity();
                dirty.insert((collection, key.to_owned()));
            }
            Ok(())
        })?;
        Ok((written, message))
    }

    /// What reverting the change would write, and why it cannot where it cannot.
    fn revert_steps(
        &mut self,
        deps: &[ChangeHash],
        at_change: &[ChangeHash],
    ) -> (Vec<Step>, Vec<String>) {
        // Automerge's diff reaches objects through the values that win at each key: while
        // another program's map stands at a collection's root key, what happened inside the
        // collection itself can be missing from it, so no revert is attempted then.
        let hidden = self.hidden_collections(&[deps, at_change, &[]]);
        if !hidden.is_empty() {
            let refusal = format!(
                "another program put its own map at the root key of {} (see 'shiftmesh conflicts'); resolve that first",
                hidden.join(", ")
            );
            return (Vec::new(), vec![refusal]);
        }
        let patches = self.doc.diff(deps, at_change);
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
            if &patch.obj != self.collection(collection) {
                refusals.push(format!(
                    "it wrote into a rival {} map that another program put at the document's root",
                    collection.key()
                ));
                continue;
            }
            match &patch.action {
                PatchAction::PutMap {
                    key,
                    value: (Value::Object(ObjType::Map), object),
                    ..
                } => {
                    // A new object over a key that held one replaced the entity (a resolution
                    // that kept one version did): removing it would lose the entity.
                    let held = self
                        .doc
                        .get_at(self.collection(collection), key.as_str(), deps);
                    if !matches!(held, Ok(None)) {
                        refusals.push(format!(
                            "it replaced {key} as a whole (a resolution did); resolve again instead"
                        ));
                        continue;
                    }
                    // Its fields go with it, whether or not it can be removed.
                    created.insert((collection, key.clone()));
                    match self.created_untouched(collection, key, object, at_change) {
                        Ok(()) => {
                            steps.push(Step::Remove {
                                collection,
                                key: key.clone(),
                            });
                        }
                        Err(why) => refusals.push(why),
                    }
                }
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
                _ => refusals.push(format!(
                    "it put a value shiftmesh does not write at {}",
                    collection.key()
                )),
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
                    // The entity must still be the object the change wrote into: a later
                    // change may have replaced it (unassigned and assigned again).
                    if self.entity_object(collection, &key).as_ref() != Some(&patch.obj) {
                        refusals.push(format!("{key} was replaced or removed since"));
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
                    match self.field_before(&patch.obj, &field, deps, at_change) {
                        Ok(before) => steps.push(Step::SetField {
                            obj: patch.obj.clone(),
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
        refusals.extend(self.dangling_after(&steps, deps, at_change));
        // Entities deleted come back first and removals come last, assignments before the
        // shifts and people they name.
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

    /// The revertible collections whose root key holds, at any of `heads` (empty: now),
    /// something other than the collection's own map alone.
    fn hidden_collections(&self, heads: &[&[ChangeHash]]) -> Vec<&'static str> {
        Collection::ALL
            .into_iter()
            .filter(|c| revertible(*c))
            .filter(|c| {
                heads.iter().any(|at| {
                    let values = if at.is_empty() {
                        self.doc.get_all(ROOT, c.key())
                    } else {
                        self.doc.get_all_at(ROOT, c.key(), at)
                    };
                    match values.as_deref() {
                        Ok([]) => false,
                        Ok([(_, only)]) => only != self.collection(*c),
                        _ => true,
                    }
                })
            })
            .map(|c| c.key())
            .collect()
    }

    /// Why the steps would leave a reference to something removed, if they would: an entity
    /// removed again while something made since points at it, or an assignment or entry
    /// created again for a shift or person that is gone.
    fn dangling_after(
        &self,
        steps: &[Step],
        deps: &[ChangeHash],
        at_change: &[ChangeHash],
    ) -> Vec<String> {
        let restored: BTreeSet<(Collection, &str)> = steps
            .iter()
            .filter(|s| s.restores())
            .map(Step::entity)
            .collect();
        let removed: BTreeSet<(Collection, &str)> = steps
            .iter()
            .filter(|s| s.removes())
            .map(Step::entity)
            .collect();
        let live = |collection: Collection, key: &str| {
            (self.exists(collection, key) && !removed.contains(&(collection, key)))
                || restored.contains(&(collection, key))
        };
        let mut why = Vec::new();
        for step in steps {
            let (collection, key) = step.entity();
            if step.removes() {
                let made_since: Vec<String> = self
                    .references_to(collection, key)
                    .into_iter()
                    .filter(|(c, k)| {
                        !removed.contains(&(*c, k.as_str()))
                            && !self.made_by(*c, k, deps, at_change)
                    })
                    .map(|(_, k)| k)
                    .collect();
                if !made_since.is_empty() {
                    why.push(format!(
                        "{key} has {} made since that name it ({}); remove those first",
                        made_since.len(),
                        made_since.join(", ")
                    ));
                }
            }
            if let Step::Recreate { fields, .. } = step {
                let named = |name: &str| {
                    fields.iter().find_map(|(f, v)| match v {
                        ScalarValue::Str(text) if f == name => Some(text.to_string()),
                        _ => None,
                    })
                };
                let needs: Vec<(Collection, String)> = match collection {
                    Collection::Assignments => key
                        .split_once('/')
                        .map(|(shift, staff)| {
                            vec![
                                (Collection::Shifts, shift.to_owned()),
                                (Collection::Staff, staff.to_owned()),
                            ]
                        })
                        .unwrap_or_default(),
                    Collection::Availability => named("staff")
                        .map(|staff| vec![(Collection::Staff, staff)])
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                for (c, k) in needs {
                    if !live(c, &k) {
                        why.push(format!(
                            "{key} would name the {} {k}, which is gone",
                            c.noun()
                        ));
                    }
                }
            }
        }
        why
    }

    /// What names an entity: the assignments of a shift or person, a person's availability,
    /// the staff and shifts of a department.
    fn references_to(&self, collection: Collection, key: &str) -> Vec<(Collection, String)> {
        let index = self.index();
        let Ok(id) = Id::parse(key) else {
            return Vec::new();
        };
        let assignments = |keys: Vec<String>| {
            keys.into_iter()
                .map(|k| (Collection::Assignments, k))
                .collect::<Vec<_>>()
        };
        match collection {
            Collection::Shifts => assignments(
                index
                    .assignments_of_shift(&id)
                    .map(|a| a.key().to_string())
                    .collect(),
            ),
            Collection::Staff => {
                let mut refs = assignments(
                    index
                        .assignments_of_staff(&id)
                        .map(|a| a.key().to_string())
                        .collect(),
                );
                refs.extend(
                    index
                        .availability_of_staff(&id)
                        .map(|a| (Collection::Availability, a.id.to_string())),
                );
                refs
            }
            Collection::Departments => index
                .staff
                .values()
                .filter(|s| s.department.as_ref() == Some(&id))
                .map(|s| (Collection::Staff, s.id.to_string()))
                .chain(
                    index
                        .shifts
                        .values()
                        .filter(|s| s.department.as_ref() == Some(&id))
                        .map(|s| (Collection::Shifts, s.id.to_string())),
                )
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the change at `at_change` (with parents `deps`) made the entity.
    fn made_by(
        &self,
        collection: Collection,
        key: &str,
        deps: &[ChangeHash],
        at_change: &[ChangeHash],
    ) -> bool {
        let coll = self.collection(collection);
        let present = |heads: &[ChangeHash]| {
            self.doc
                .get_all_at(coll, key, heads)
                .is_ok_and(|values| !values.is_empty())
        };
        present(at_change) && !present(deps)
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

    /// Checks that nothing has changed an entity the change created since (no field written
    /// again); what points at it is checked with the other steps (`dangling_after`).
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
                obj, field, before, ..
            } => match before {
                Some(value) => self.doc.put(obj, field.as_str(), value.clone())?,
                None => self.doc.delete(obj, field.as_str())?,
            },
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
