//! The schedule document: its layout in Automerge, the genesis every node shares, and every
//! read and write of entities.
//!
//! Layout (maps keyed by id; entities are maps of scalar fields, sets are maps of `true`):
//!
//! ```text
//! ROOT
//!   schema: 1
//!   site_name, time_zone            scalars written by `init`
//!   departments/<id>                {name, time_zone, removed?}
//!   staff/<id>                      {name, department, skills{}, max_minutes_week, …, removed?}
//!   shifts/<id>                     {department, time "DATE​THH:MM/HH:MM", capacity, min_staff, skills{}, label, removed?}
//!   assignments/<shift>/<staff>     {shift, staff, role, note, created_at, created_by}
//!   availability/<id>               {staff, span "FROM/TO", kind, reason}
//!   acks/<conflict id>              {fingerprint, by, at, note}
//! ```

use std::collections::BTreeMap;
use std::sync::OnceLock;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    hydrate, ActorId, Author, AutoCommit, ChangeHash, ObjId, ObjType, Patch, PatchAction, Prop,
    ReadDoc, ScalarValue, ScalarValueRef, Value, ValueRef, ROOT,
};

use crate::entity::{Assignment, Collection, Entity, FieldValue, Fields, REMOVED_FIELD};
use crate::index::{Dirty, Index, Site, Stored};
use crate::time::SiteZone;
use crate::{AssignmentKey, Id, ModelError, Result};

/// How often a bulk write reports progress, in entities.
const PROGRESS_EVERY_ENTITIES: usize = 1000;

/// Past this many touched entities, rebuilding the whole index in one walk is cheaper than
/// refreshing them one lookup at a time.
const REFRESH_REBUILD_ENTITIES: usize = 2000;

/// The version of the document layout.
pub const SCHEMA_VERSION: i64 = 1;

/// The actor of the genesis change. Every node builds the same genesis change (same actor, seq,
/// time and operations, hence the same hash), so the collection maps are the same objects
/// everywhere and two nodes never create rival maps for one collection.
const GENESIS_ACTOR: &[u8; 16] = b"shiftmesh-genesi";
const GENESIS_MESSAGE: &str = "shiftmesh genesis";

/// Who makes a change and when: recorded on the change (author, time) and on new assignments.
#[derive(Clone, Debug)]
pub struct Edit {
    /// `user@node`.
    pub author: String,
    /// Milliseconds since the Unix epoch.
    pub now_ms: i64,
}

/// The document with its genesis change only.
pub fn genesis() -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR.as_slice()));
    // These writes go into a fresh in-memory document and cannot fail.
    let _ = doc.put(ROOT, "schema", SCHEMA_VERSION);
    for collection in Collection::ALL {
        let _ = doc.put_object(ROOT, collection.key(), ObjType::Map);
    }
    doc.commit_with(
        CommitOptions::default()
            .with_message(GENESIS_MESSAGE)
            .with_time(0),
    );
    doc.set_actor(ActorId::random());
    doc
}

/// The hash of the genesis change, the same on every node.
pub fn genesis_hash() -> ChangeHash {
    static HASH: OnceLock<ChangeHash> = OnceLock::new();
    *HASH.get_or_init(|| {
        let mut doc = genesis();
        doc.get_heads()[0]
    })
}

/// What reads need: the index and the site's zone. A view comes from the document (inside a
/// [`Schedule`]) or from an index snapshot on disk, without loading the document at all.
#[derive(Clone, Debug)]
pub struct View {
    index: Index,
    zone: SiteZone,
}

impl View {
    pub fn new(index: Index) -> View {
        let zone = index
            .site
            .time_zone
            .as_deref()
            .and_then(|name| SiteZone::parse(name).ok())
            .unwrap_or_else(SiteZone::utc);
        View { index, zone }
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn site(&self) -> &Site {
        &self.index.site
    }

    /// The site's zone (UTC until `init` records one).
    pub fn zone(&self) -> &SiteZone {
        &self.zone
    }

    /// Whether a live entity has this key.
    pub fn exists(&self, collection: Collection, key: &str) -> bool {
        let index = &self.index;
        match collection {
            Collection::Departments => {
                Id::parse(key).is_ok_and(|id| index.departments.contains_key(&id))
            }
            Collection::Staff => Id::parse(key).is_ok_and(|id| index.staff.contains_key(&id)),
            Collection::Shifts => Id::parse(key).is_ok_and(|id| index.shifts.contains_key(&id)),
            Collection::Assignments => {
                AssignmentKey::parse(key).is_ok_and(|k| index.assignments.contains_key(&k))
            }
            Collection::Availability => {
                Id::parse(key).is_ok_and(|id| index.availability.contains_key(&id))
            }
            Collection::Acks => index.acks.contains_key(key),
        }
    }

    /// Fails with NotFound unless a live entity has this key.
    pub fn require(&self, collection: Collection, key: &str) -> Result<()> {
        if self.exists(collection, key) {
            Ok(())
        } else {
            Err(ModelError::NotFound {
                kind: collection.noun(),
                id: key.to_owned(),
            })
        }
    }
}

/// The schedule: the Automerge document, its collections, and the view kept in step.
#[derive(Debug)]
pub struct Schedule {
    doc: AutoCommit,
    collections: BTreeMap<Collection, ObjId>,
    view: View,
}

impl std::ops::Deref for Schedule {
    type Target = View;
    fn deref(&self) -> &View {
        &self.view
    }
}

/// What a write reports back.
#[derive(Clone, Debug, Default)]
pub struct Written {
    /// The new change, or None when the write changed nothing.
    pub change: Option<ChangeHash>,
}

impl Schedule {
    /// A new schedule holding only the genesis change.
    pub fn new() -> Schedule {
        Schedule::from_doc(genesis()).expect("the genesis document is a schedule")
    }

    /// Wraps a loaded document, checking it is a shiftmesh schedule, and builds the index.
    pub fn from_doc(doc: AutoCommit) -> Result<Schedule> {
        Schedule::from_doc_and_index(doc, None)
    }

    /// Wraps a loaded document with an index already built for exactly its heads (read back
    /// from an index snapshot), or builds the index when none is given.
    pub fn from_doc_and_index(doc: AutoCommit, index: Option<Index>) -> Result<Schedule> {
        if !doc.get_missing_deps(&[genesis_hash()]).is_empty() {
            return Err(ModelError::NotASchedule(
                "it lacks the shiftmesh genesis change".into(),
            ));
        }
        let mut collections = BTreeMap::new();
        for collection in Collection::ALL {
            let values = doc.get_all(ROOT, collection.key())?;
            match values.as_slice() {
                [(Value::Object(ObjType::Map), id)] => {
                    collections.insert(collection, id.clone());
                }
                _ => {
                    return Err(ModelError::NotASchedule(format!(
                        "its '{}' collection is not the one shiftmesh creates",
                        collection.key()
                    )))
                }
            }
        }
        let prebuilt = index.is_some();
        let mut schedule = Schedule {
            doc,
            collections,
            view: View::new(index.unwrap_or_default()),
        };
        if !prebuilt {
            schedule.rebuild_index();
        }
        Ok(schedule)
    }

    pub fn doc(&self) -> &AutoCommit {
        &self.doc
    }

    pub fn doc_mut(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    pub fn into_doc(self) -> AutoCommit {
        self.doc
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    /// How many changes the document holds.
    pub fn change_count(&self) -> usize {
        self.doc.stats().num_changes as usize
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    fn collection(&self, collection: Collection) -> &ObjId {
        &self.collections[&collection]
    }

    /// Rebuilds the whole index from the document.
    pub fn rebuild_index(&mut self) {
        let mut index = Index::default();
        for collection in Collection::ALL {
            let obj = self.collection(collection);
            // One ordered walk over the collection: far cheaper than a lookup per key.
            for item in self.doc.map_range(obj, ..) {
                let stored = match item.value {
                    ValueRef::Object(ObjType::Map) => {
                        stored_of(collection, read_fields(&self.doc, &item.id()))
                    }
                    _ => Stored::Absent,
                };
                index.add(collection, &item.key, stored);
            }
        }
        index.site = self.read_site();
        self.view = View::new(index);
    }

    fn read_site(&self) -> Site {
        let read = |key: &str| match self.doc.get(ROOT, key) {
            Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        };
        Site {
            name: read("site_name"),
            time_zone: read("time_zone"),
        }
    }

    /// Refreshes the index for the entities in `dirty` (and the site settings).
    pub fn refresh(&mut self, dirty: &Dirty) {
        if dirty.len() > REFRESH_REBUILD_ENTITIES {
            self.rebuild_index();
            return;
        }
        let mut index = std::mem::take(&mut self.view.index);
        for (collection, key) in dirty {
            index.set(*collection, key, self.stored(*collection, key));
        }
        index.site = self.read_site();
        self.view = View::new(index);
    }

    /// What the document holds for one key.
    fn stored(&self, collection: Collection, key: &str) -> Stored {
        match self.entity_object(collection, key) {
            None => Stored::Absent,
            Some(obj) => stored_of(collection, read_fields(&self.doc, &obj)),
        }
    }

    fn entity_object(&self, collection: Collection, key: &str) -> Option<ObjId> {
        match self.doc.get(self.collection(collection), key) {
            Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
            _ => None,
        }
    }

    /// Every value the document holds for each field of an entity that has more than one
    /// (concurrent writes Automerge keeps side by side), with the change that wrote each.
    pub fn concurrent_values(
        &self,
        collection: Collection,
        key: &str,
    ) -> Result<BTreeMap<String, Vec<ConcurrentValue>>> {
        let mut out = BTreeMap::new();
        if let Ok(values) = self.doc.get_all(self.collection(collection), key) {
            if values.len() > 1 {
                out.insert(String::new(), self.describe_values(values));
            }
        }
        let Some(obj) = self.entity_object(collection, key) else {
            return Ok(out);
        };
        let conflicted: Vec<String> = self
            .doc
            .map_range(&obj, ..)
            .filter(|item| item.conflict)
            .map(|item| item.key.to_string())
            .collect();
        for field in conflicted {
            let values = self.doc.get_all(&obj, field.as_str())?;
            out.insert(field, self.describe_values(values));
        }
        Ok(out)
    }

    fn describe_values(&self, values: Vec<(Value<'_>, ObjId)>) -> Vec<ConcurrentValue> {
        values
            .into_iter()
            .map(|(value, id)| ConcurrentValue {
                value: match value {
                    Value::Scalar(s) => scalar_to_json(s.as_ref()),
                    Value::Object(_) => serde_json::Value::from("(an object)"),
                },
                change: self.doc.hash_for_opid(&id),
            })
            .collect()
    }

    // ---- writes -------------------------------------------------------------------------

    /// Runs `body` as one change with `message`; on error nothing is kept.
    fn write<T>(
        &mut self,
        edit: &Edit,
        message: String,
        body: impl FnOnce(&mut Self, &mut Dirty) -> Result<T>,
    ) -> Result<(T, Written)> {
        let mut dirty = Dirty::new();
        // Setting the author closes any open transaction, so it must come before the body.
        self.doc
            .set_author(Some(Author::from(edit.author.as_bytes().to_vec())));
        match body(self, &mut dirty) {
            Ok(value) => {
                let change = self.doc.commit_with(
                    CommitOptions::default()
                        .with_message(message)
                        .with_time(edit.now_ms.div_euclid(1000)),
                );
                self.refresh(&dirty);
                Ok((value, Written { change }))
            }
            Err(e) => {
                self.doc.rollback();
                Err(e)
            }
        }
    }

    /// Records the site's name and time zone.
    pub fn set_site(&mut self, edit: &Edit, name: &str, zone: &SiteZone) -> Result<Written> {
        let message = format!("set site name '{name}' and time zone {}", zone.name());
        let (_, written) = self.write(edit, message, |s, _| {
            s.doc.put(ROOT, "site_name", name)?;
            s.doc.put(ROOT, "time_zone", zone.name())?;
            Ok(())
        })?;
        Ok(written)
    }

    /// Adds a new entity. A softly removed one with the same id comes back with the new values.
    pub fn add<E: Entity>(&mut self, edit: &Edit, entity: &E, message: String) -> Result<Written> {
        let key = entity.key();
        if self.exists(E::COLLECTION, &key) {
            return Err(ModelError::AlreadyExists {
                kind: E::COLLECTION.noun(),
                id: key,
            });
        }
        let (_, written) = self.write(edit, message, |s, dirty| {
            s.create(entity)?;
            dirty.insert((E::COLLECTION, key.clone()));
            Ok(())
        })?;
        Ok(written)
    }

    fn create<E: Entity>(&mut self, entity: &E) -> Result<()> {
        let key = entity.key();
        let coll = self.collection(E::COLLECTION).clone();
        // Only a softly removed (or unreadable) entity still has an object under its key; the
        // index knows which, which spares a document lookup per new entity.
        let entry = (E::COLLECTION, key.clone());
        let may_exist =
            self.index().removed.contains(&entry) || self.index().unreadable.contains_key(&entry);
        let existing = if may_exist {
            self.entity_object(E::COLLECTION, &key)
        } else {
            None
        };
        match existing {
            Some(obj) => {
                for (name, value) in entity.to_fields() {
                    put_field(&mut self.doc, &obj, name, &value)?;
                }
                self.doc.put(&obj, REMOVED_FIELD, false)?;
            }
            None => {
                self.doc
                    .batch_create_object(&coll, key.as_str(), &to_hydrate(entity), false)?;
            }
        }
        Ok(())
    }

    /// Writes the named fields of `updated` to an existing entity. Only those fields are
    /// written: a field in concurrent conflict is settled only by an edit of that very field.
    pub fn update<E: Entity>(
        &mut self,
        edit: &Edit,
        updated: &E,
        fields: &[&str],
        message: String,
    ) -> Result<Written> {
        let key = updated.key();
        if !self.exists(E::COLLECTION, &key) {
            return Err(ModelError::NotFound {
                kind: E::COLLECTION.noun(),
                id: key,
            });
        }
        let obj = self
            .entity_object(E::COLLECTION, &key)
            .ok_or_else(|| ModelError::NotFound {
                kind: E::COLLECTION.noun(),
                id: key.clone(),
            })?;
        let (_, written) = self.write(edit, message, |s, dirty| {
            for (name, value) in updated.to_fields() {
                if fields.contains(&name) {
                    put_field(&mut s.doc, &obj, name, &value)?;
                }
            }
            dirty.insert((E::COLLECTION, key.clone()));
            Ok(())
        })?;
        Ok(written)
    }

    /// Removes an entity: staff, shifts and departments are marked removed (so a reference made
    /// concurrently elsewhere still resolves and can be restored); the others are deleted.
    /// `also` lists further entities to delete in the same change (e.g. assignments).
    pub fn remove(
        &mut self,
        edit: &Edit,
        collection: Collection,
        key: &str,
        also: &[(Collection, String)],
        message: String,
    ) -> Result<Written> {
        if !self.exists(collection, key) {
            return Err(ModelError::NotFound {
                kind: collection.noun(),
                id: key.to_owned(),
            });
        }
        let (_, written) = self.write(edit, message, |s, dirty| {
            for (c, k) in std::iter::once(&(collection, key.to_owned())).chain(also) {
                if c.removes_softly() {
                    if let Some(obj) = s.entity_object(*c, k) {
                        s.doc.put(&obj, REMOVED_FIELD, true)?;
                    }
                } else {
                    let coll = s.collection(*c).clone();
                    s.doc.delete(&coll, k.as_str())?;
                }
                dirty.insert((*c, k.clone()));
            }
            Ok(())
        })?;
        Ok(written)
    }

    /// Assigns a staff member to a shift; both must exist and the pair must not be assigned.
    pub fn assign(&mut self, edit: &Edit, assignment: &Assignment) -> Result<Written> {
        self.require(Collection::Staff, assignment.staff.as_str())?;
        self.require(Collection::Shifts, assignment.shift.as_str())?;
        let message = format!("assign {} to {}", assignment.staff, assignment.shift);
        self.add(edit, assignment, message)
    }

    /// Writes many new entities as one change (an import). The caller has checked them; each
    /// entity is created with one batch operation. `progress` is told how many are written.
    pub fn add_many(
        &mut self,
        edit: &Edit,
        batch: &Batch,
        message: String,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Written> {
        // The fields written are exactly what the document now holds for these entities, so the
        // index takes them as they are instead of reading 100k entities back.
        let (written_fields, written) = self.write(edit, message, |s, _| {
            let mut written_fields = Vec::with_capacity(batch.len());
            let mut step = |c: Collection, key: String, fields: Fields| {
                written_fields.push((c, key, fields));
                if written_fields.len() % PROGRESS_EVERY_ENTITIES == 0 {
                    progress(written_fields.len());
                }
            };
            for e in &batch.departments {
                s.create(e)?;
                step(Collection::Departments, e.key(), stored_fields(e));
            }
            for e in &batch.staff {
                s.create(e)?;
                step(Collection::Staff, e.key(), stored_fields(e));
            }
            for e in &batch.shifts {
                s.create(e)?;
                step(Collection::Shifts, e.key(), stored_fields(e));
            }
            for e in &batch.assignments {
                s.create(e)?;
                step(Collection::Assignments, Entity::key(e), stored_fields(e));
            }
            for e in &batch.availability {
                s.create(e)?;
                step(Collection::Availability, e.key(), stored_fields(e));
            }
            Ok(written_fields)
        })?;
        let index = &mut self.view.index;
        for (collection, key, fields) in written_fields {
            index.set(collection, &key, Stored::Present(fields, false));
        }
        Ok(written)
    }

    /// Merges every change of another copy of the schedule (a backup's bytes) that this one
    /// lacks. Returns how many changes were new.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<usize> {
        let other = AutoCommit::load(bytes).map_err(|e| {
            ModelError::NotASchedule(format!("it is not an Automerge document ({e})"))
        })?;
        let mut other = Schedule::from_doc(other)?.doc;
        let before = self.doc.get_heads();
        let new = self.doc.get_changes_added(&mut other);
        let count = new.len();
        self.doc.apply_changes(new)?;
        if count > 0 {
            let after = self.doc.get_heads();
            let patches = self.doc.diff(&before, &after);
            let dirty = dirty_from_patches(&patches);
            self.refresh(&dirty);
        }
        Ok(count)
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::new()
    }
}

/// New entities for [`Schedule::add_many`].
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub departments: Vec<crate::entity::Department>,
    pub staff: Vec<crate::entity::Staff>,
    pub shifts: Vec<crate::entity::Shift>,
    pub assignments: Vec<Assignment>,
    pub availability: Vec<crate::entity::Availability>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.departments.len()
            + self.staff.len()
            + self.shifts.len()
            + self.assignments.len()
            + self.availability.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One of several values a field holds after concurrent writes.
#[derive(Clone, Debug, PartialEq)]
pub struct ConcurrentValue {
    pub value: serde_json::Value,
    /// The change that wrote it (its author and time are in the change's metadata).
    pub change: Option<ChangeHash>,
}

/// The entities that a list of patches touches.
pub fn dirty_from_patches(patches: &[Patch]) -> Dirty {
    let mut dirty = Dirty::new();
    for patch in patches {
        // A patch inside an entity names the collection and key in its path; a patch on a
        // collection map itself names the key in its action.
        let collection = match patch.path.first() {
            Some((_, Prop::Map(key))) => Collection::from_key(key),
            _ => None,
        };
        match (collection, patch.path.get(1)) {
            (Some(c), Some((_, Prop::Map(key)))) => {
                dirty.insert((c, key.to_string()));
            }
            (Some(c), None) => {
                if let PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } =
                    &patch.action
                {
                    dirty.insert((c, key.to_string()));
                }
            }
            _ => {}
        }
    }
    dirty
}

fn stored_of(collection: Collection, (fields, conflicted): (Fields, bool)) -> Stored {
    if collection.removes_softly()
        && matches!(fields.get(REMOVED_FIELD), Some(FieldValue::Bool(true)))
    {
        Stored::Removed
    } else {
        Stored::Present(fields, conflicted)
    }
}

/// The winning value of each field of an entity, and whether any field has concurrent values.
fn read_fields(doc: &AutoCommit, obj: &ObjId) -> (Fields, bool) {
    let mut fields = Fields::new();
    let mut conflicted = false;
    for item in doc.map_range(obj, ..) {
        conflicted |= item.conflict;
        let value = match &item.value {
            ValueRef::Scalar(s) => match s {
                ScalarValueRef::Str(s) => FieldValue::Str(s.to_string()),
                ScalarValueRef::Int(i) | ScalarValueRef::Timestamp(i) => FieldValue::Int(*i),
                ScalarValueRef::Uint(u) => FieldValue::Int(i64::try_from(*u).unwrap_or(i64::MAX)),
                ScalarValueRef::Boolean(b) => FieldValue::Bool(*b),
                _ => continue,
            },
            ValueRef::Object(_) => continue,
        };
        fields.insert(item.key.to_string(), value);
    }
    (fields, conflicted)
}

fn put_field(doc: &mut AutoCommit, obj: &ObjId, name: &str, value: &FieldValue) -> Result<()> {
    match value {
        // Empty text is not stored; clearing a field deletes it.
        FieldValue::Str(s) if s.is_empty() => {
            if doc.get(obj, name)?.is_some() {
                doc.delete(obj, name)?;
            }
        }
        FieldValue::Str(s) => doc.put(obj, name, s.as_str())?,
        FieldValue::Int(i) => doc.put(obj, name, *i)?,
        FieldValue::Bool(b) => doc.put(obj, name, *b)?,
    }
    Ok(())
}

/// The fields of an entity as the document stores them (empty text left out).
fn stored_fields<E: Entity>(entity: &E) -> Fields {
    entity
        .to_fields()
        .into_iter()
        .filter(|(_, v)| !v.is_empty_text())
        .collect()
}

fn to_hydrate<E: Entity>(entity: &E) -> hydrate::Value {
    let mut map = std::collections::HashMap::new();
    for (name, value) in entity.to_fields() {
        let v = match value {
            FieldValue::Str(s) if s.is_empty() => continue,
            FieldValue::Str(s) => hydrate::Value::from(ScalarValue::Str(s.into())),
            FieldValue::Int(i) => hydrate::Value::from(i),
            FieldValue::Bool(b) => hydrate::Value::from(ScalarValue::Boolean(b)),
        };
        map.insert(name.to_owned(), v);
    }
    hydrate::Value::Map(hydrate::Map::from(map))
}

/// A scalar as JSON (for history and concurrent values).
pub fn scalar_to_json(value: &ScalarValue) -> serde_json::Value {
    match value {
        ScalarValue::Str(s) => serde_json::Value::from(s.as_str()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => serde_json::Value::from(*i),
        ScalarValue::Uint(u) => serde_json::Value::from(*u),
        ScalarValue::F64(f) => serde_json::Value::from(*f),
        ScalarValue::Boolean(b) => serde_json::Value::from(*b),
        ScalarValue::Null => serde_json::Value::Null,
        other => serde_json::Value::from(other.to_string()),
    }
}
