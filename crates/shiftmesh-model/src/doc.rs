//! The schedule document: its layout in Automerge, the genesis every node shares, and every
//! read and write of entities.
//!
//! Layout (maps keyed by id; entities are maps of scalar fields; docs/ARCHITECTURE.md has
//! every field):
//!
//! ```text
//! ROOT
//!   schema: 2, schema_step_2        the schema version and the steps' notes (crate::schema)
//!   site_name, time_zone            scalars written by `init`
//!   departments/<id>  staff/<id>  shifts/<id>  assignments/<shift>/<staff>
//!   availability/<id>  acks/<conflict id>  members/<peer id>  accounts/<login>
//! ```
//!
//! The collection maps are read and written by identity (the objects the genesis and the
//! schema steps created), never by looking up their root key: another Automerge writer may
//! put a rival value there, which is reported, not followed.

mod bulk;
mod revert;

use std::collections::{BTreeMap, HashMap};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    hydrate, AutoCommit, ChangeHash, ObjId, ObjType, Prop, ReadDoc, ScalarValue, ScalarValueRef,
    Value, ValueRef, ROOT,
};

use crate::entity::{Assignment, Collection, Entity, FieldValue, Fields, REMOVED_FIELD};
use crate::index::{Dirty, Index, IndexBuilder, Site, Stored, TouchedFields};
use crate::time::SiteZone;
use crate::{AssignmentKey, Id, ModelError, Result};

/// How many earlier writes of one field `restore-value` follows back before it scans.
const RESTORE_VALUES_MAX: usize = 1000;
/// How many changes, newest first, `restore-value` scans for a field that is missing now.
const RESTORE_SCAN_CHANGES_MAX: usize = 10_000;

/// How often a bulk write reports progress, in entities.
const PROGRESS_EVERY_ENTITIES: usize = 1000;

/// A merge carrying more operations than this rebuilds the index in one walk.
const MERGE_OPS_REBUILD: usize = 50_000;

/// Past this many touched entities, rebuilding the whole index in one walk is cheaper than
/// refreshing them one lookup at a time.
const REFRESH_REBUILD_ENTITIES: usize = 2000;

pub use crate::schema::{genesis, genesis_hash};

/// Who makes a change and when: recorded on the change (author, time) and on new assignments.
#[derive(Clone, Debug)]
pub struct Edit {
    /// `user@node`.
    pub author: String,
    /// Milliseconds since the Unix epoch.
    pub now_ms: i64,
}

/// Which of `hashes` the document does not hold: a presence check that does not re-encode
/// changes (as `get_change_by_hash` would). Automerge's `get_missing_deps` also names the
/// missing dependencies of changes it holds back until those arrive (after reordered
/// messages); a document may hold such changes and be whole, so only the hashes asked about
/// count. (The simulation found a reload refused for this.)
pub fn absent(doc: &AutoCommit, hashes: &[ChangeHash]) -> Vec<ChangeHash> {
    doc.get_missing_deps(hashes)
        .into_iter()
        .filter(|h| hashes.contains(h))
        .collect()
}

/// Loads a document from bytes that came from outside (a file, a peer). Automerge has panicked
/// on some malformed input; such a panic is caught and reported as a refusal.
pub fn load_untrusted(bytes: &[u8]) -> Result<AutoCommit> {
    crate::guard::check_chunks(bytes).map_err(ModelError::NotASchedule)?;
    match crate::guard::guard_panics(|| AutoCommit::load(bytes)) {
        Some(Ok(doc)) => Ok(doc),
        Some(Err(e)) => Err(ModelError::NotASchedule(format!(
            "it is not an Automerge document ({e})"
        ))),
        None => Err(ModelError::NotASchedule(
            "it is damaged (Automerge could not read it)".into(),
        )),
    }
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
            Collection::Members => index.members.contains_key(key),
            Collection::Accounts => Id::parse(key).is_ok_and(|id| index.accounts.contains_key(&id)),
            Collection::Site => key.is_empty(),
        }
    }

    /// Fails unless a live entity has this key: with NotFound, or, when the document holds it
    /// in a form this version cannot read, with what is wrong.
    pub fn require(&self, collection: Collection, key: &str) -> Result<()> {
        if self.exists(collection, key) {
            return Ok(());
        }
        if let Some(damage) = self.index.damaged.get(&(collection, key.to_owned())) {
            return Err(ModelError::Malformed {
                kind: collection.noun(),
                id: key.to_owned(),
                reason: crate::index::describe_damage(damage),
            });
        }
        Err(ModelError::NotFound {
            kind: collection.noun(),
            id: key.to_owned(),
        })
    }
}

/// The schedule: the Automerge document, its collections, and the view kept in step.
#[derive(Debug)]
pub struct Schedule {
    pub(crate) doc: AutoCommit,
    /// Each collection's map, by identity (see the module's documentation).
    collections: BTreeMap<Collection, ObjId>,
    view: View,
    /// How many schema steps opening the document applied (changes not yet persisted).
    upgraded: usize,
    /// The machine whose changes these are, and the process's nonce (see
    /// [`crate::machine_actor`]); None writes with anonymous actors.
    pub(crate) machine: Option<(String, [u8; crate::ACTOR_NONCE_BYTES])>,
    /// Members whose standing the membership rule changed since the last merge report, for
    /// [`Schedule::touched_since`] to include (their records were not written).
    rejudged: Dirty,
    /// Which machine made which change, proven (see [`crate::signatures`]).
    pub(crate) signatures: crate::signatures::Signatures,
    /// The whole document as a peer sent it, with the heads it loads to, when it replaced a
    /// fresh schedule: the store keeps these bytes as its snapshot instead of saving again.
    received_whole: Option<(Vec<u8>, Vec<ChangeHash>)>,
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
    /// The entities the change touched (what an incremental validation re-checks).
    pub dirty: Dirty,
}

/// Where an object sits in the schedule.
#[derive(Clone, Debug)]
enum Owner {
    /// The root, or something another writer put there.
    Root,
    /// A collection's map.
    Collection(Collection),
    /// An entity's map, or an object inside it (with the entity's field that holds it).
    Entity(Collection, String, Option<String>),
}

/// What a merge reports back.
#[derive(Clone, Debug, Default)]
pub struct Merged {
    /// How many changes were new to this copy.
    pub new_changes: usize,
    /// The entities those changes touched.
    pub dirty: Dirty,
    /// Of those, the ones touched only in named fields, with the fields.
    pub fields: TouchedFields,
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
    /// from an index snapshot), or builds the index when none is given. A document of an
    /// older schema is upgraded in place: the steps it lacks are applied (see
    /// [`Schedule::upgraded`]).
    pub fn from_doc_and_index(mut doc: AutoCommit, index: Option<Index>) -> Result<Schedule> {
        if !absent(&doc, &[genesis_hash()]).is_empty() {
            return Err(ModelError::NotASchedule(
                "it lacks the shiftmesh genesis change".into(),
            ));
        }
        let upgraded = crate::schema::upgrade(&mut doc)?;
        let mut collections = BTreeMap::new();
        for collection in Collection::ALL {
            let lacking = || {
                ModelError::NotASchedule(format!(
                    "it lacks shiftmesh's '{}' collection",
                    collection.key()
                ))
            };
            let id = crate::schema::collection_object(collection).ok_or_else(lacking)?;
            let obj = doc.import_obj(id).map_err(|_| lacking())?;
            if !matches!(doc.object_type(&obj), Ok(ObjType::Map)) {
                return Err(lacking());
            }
            collections.insert(collection, obj);
        }
        let prebuilt = index.is_some();
        let mut schedule = Schedule {
            doc,
            collections,
            view: View::new(index.unwrap_or_default()),
            upgraded,
            machine: None,
            rejudged: Dirty::new(),
            signatures: Default::default(),
            received_whole: None,
        };
        if prebuilt {
            // The steps add only empty collections and root settings. The snapshot keeps what
            // the document says of each member, not how the rule judges it.
            schedule.refresh(&mut Dirty::new());
            let mut index = std::mem::take(&mut schedule.view.index);
            schedule.judge_members(&mut index);
            schedule.view = View::new(index);
        } else {
            schedule.rebuild_index();
        }
        Ok(schedule)
    }

    /// How many schema steps opening the document applied: new changes that the caller
    /// persists (and that sync to the site like any other).
    pub fn upgraded(&self) -> usize {
        self.upgraded
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

    /// A collection's map; the site's settings live at the root.
    pub(crate) fn collection(&self, collection: Collection) -> &ObjId {
        self.collections.get(&collection).unwrap_or(&ROOT)
    }

    /// Rebuilds the whole index from the document.
    pub fn rebuild_index(&mut self) {
        // The largest collection is read on one core and the rest on the other: the walks
        // only read the document, and each fills its own builder.
        let (largest, rest): (Vec<Collection>, Vec<Collection>) = Collection::ALL
            .into_iter()
            .partition(|c| *c == Collection::Assignments);
        let (mut index, other) = rayon::join(
            || self.read_collections(&largest),
            || self.read_collections(&rest),
        );
        index.merge(other);
        let (site, rivals, site_conflicted) = self.read_root();
        let mut index = index.build(site);
        index.rivals = rivals;
        if site_conflicted {
            index.conflicted.insert((Collection::Site, String::new()));
        }
        let damaged: Vec<(Collection, String)> = index.damaged.keys().cloned().collect();
        self.judge_members(&mut index);
        self.view = View::new(index);
        self.describe_damage(damaged.iter());
    }

    /// Every entity of `collections`, each collection in one ordered walk (far cheaper than a
    /// lookup per key).
    fn read_collections(&self, collections: &[Collection]) -> IndexBuilder {
        let mut index = IndexBuilder::default();
        for &collection in collections {
            let obj = self.collection(collection);
            for item in self.doc.map_range(obj, ..) {
                let stored = match &item.value {
                    ValueRef::Object(ObjType::Map) => stored_of(
                        collection,
                        read_fields(&self.doc, &item.id()),
                        item.conflict,
                    ),
                    other => {
                        Stored::NotAMap(field_value(&self.doc, other, &item.id()), item.conflict)
                    }
                };
                index.add(collection, &item.key, stored);
            }
        }
        index
    }

    /// The root: the site's settings (and whether two machines set one concurrently), the
    /// schema, and the rival values other writers put at the collections' keys.
    fn read_root(&mut self) -> (Site, BTreeMap<Collection, Vec<crate::index::Rival>>, bool) {
        let mut conflicted = false;
        let mut read = |key: &str| {
            let values = self.doc.get_all(ROOT, key).unwrap_or_default();
            conflicted |= values.len() > 1;
            match self.doc.get(ROOT, key) {
                Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                    ScalarValue::Str(s) => Some(s.to_string()),
                    _ => None,
                },
                Ok(Some((Value::Object(ObjType::Text), id))) => self.doc.text(&id).ok(),
                _ => None,
            }
        };
        let name = read("site_name");
        let time_zone = read("time_zone");
        let schema = crate::schema::version_of(&self.doc);
        let newer = crate::schema::newer_steps(&self.doc, schema);
        let mut rivals = BTreeMap::new();
        for collection in Collection::ALL {
            let ours = self.collection(collection).clone();
            let values = self.doc.get_all(ROOT, collection.key()).unwrap_or_default();
            let deleted = values.is_empty();
            let others: Vec<(Value<'static>, ObjId)> = values
                .into_iter()
                .filter(|(_, id)| *id != ours)
                .map(|(value, id)| (value.to_owned(), id))
                .collect();
            let mut list = Vec::new();
            if deleted {
                // Deleting a key leaves no value to ask who did it.
                list.push(crate::index::Rival {
                    what: String::new(),
                    keys: Vec::new(),
                    entries: 0,
                    author: String::new(),
                    object: None,
                    deleted: true,
                });
            }
            for (value, id) in others {
                let (what, mut keys, object) = match value {
                    Value::Object(ObjType::Map) => {
                        let keys: Vec<String> = self.doc.keys(&id).map(|k| k.to_string()).collect();
                        (
                            format!("a map of {} entries", keys.len()),
                            keys,
                            Some(id.to_string()),
                        )
                    }
                    Value::Object(kind) => {
                        (describe_object(kind), Vec::new(), Some(id.to_string()))
                    }
                    Value::Scalar(v) => (scalar_description(v.as_ref()), Vec::new(), None),
                };
                let entries = keys.len();
                keys.truncate(crate::index::RIVAL_KEYS_MAX);
                list.push(crate::index::Rival {
                    what,
                    keys,
                    entries,
                    author: self.author_of_op(&id),
                    object,
                    deleted: false,
                });
            }
            if !list.is_empty() {
                rivals.insert(collection, list);
            }
        }
        let site = Site {
            name,
            time_zone,
            schema,
            newer,
        };
        (site, rivals, conflicted)
    }

    /// Who made the change holding an operation, `user@node` (empty when unknown).
    fn author_of_op(&mut self, op: &ObjId) -> String {
        self.doc
            .hash_for_opid(op)
            .and_then(|h| self.author_of_change(&h))
            .unwrap_or_default()
    }

    fn author_of_change(&mut self, hash: &ChangeHash) -> Option<String> {
        let meta = self.doc.get_change_meta_by_hash(hash)?;
        meta.author
            .map(|a| String::from_utf8_lossy(a.as_bytes()).into_owned())
    }

    /// Fills in, for the damaged entities among `keys`, who wrote each damaged value, and the
    /// stored fields of those that cannot be used: what only the document can tell.
    fn describe_damage<'k>(&mut self, keys: impl Iterator<Item = &'k (Collection, String)>) {
        let mut index = std::mem::take(&mut self.view.index);
        for entry @ (collection, key) in keys {
            let Some(damage) = index.damaged.get_mut(entry) else {
                continue;
            };
            let coll = self.collection(*collection).clone();
            // Whether the key holds a map, and the object (or value) it holds.
            let slot: Option<(bool, ObjId)> = self
                .doc
                .get(&coll, key.as_str())
                .ok()
                .flatten()
                .map(|(v, id)| (matches!(v, Value::Object(ObjType::Map)), id));
            for d in damage.iter_mut() {
                // The op that wrote the damaged value; for a missing field, the entity itself.
                let op = slot.as_ref().map(|(_, entity)| {
                    if d.field.is_empty() {
                        return entity.clone();
                    }
                    match self.doc.get(entity, d.field.as_str()) {
                        Ok(Some((_, id))) => id,
                        _ => entity.clone(),
                    }
                });
                if let Some(op) = op {
                    d.author = self.author_of_op(&op);
                }
            }
            if let Some(fields) = index.unreadable.get_mut(entry) {
                if let Some((true, obj)) = &slot {
                    *fields = read_fields(&self.doc, obj).0;
                }
            }
        }
        self.view.index = index;
    }

    /// Refreshes the index for the entities in `dirty` (and the site settings).
    pub fn refresh(&mut self, dirty: &mut Dirty) {
        // The rule judges again only when a member record is touched or the index is rebuilt;
        // other writes (nearly all) leave every standing as it is, and skip the comparison.
        let rejudges = dirty.len() > REFRESH_REBUILD_ENTITIES
            || dirty.iter().any(|(c, _)| *c == Collection::Members);
        if !rejudges {
            self.refresh_entities(dirty);
            return;
        }
        let judged_before = self.judged_members();
        self.refresh_entities(dirty);
        // A machine whose standing the membership rule changed is touched too, though no
        // change wrote its record (its revoker's did): what reads its standing is checked again.
        for (peer, judged) in self.judged_members() {
            if judged_before.get(&peer) != Some(&judged) {
                dirty.insert((Collection::Members, peer.clone()));
                self.rejudged.insert((Collection::Members, peer));
            }
        }
    }

    /// Each member's standing as the index holds it: (revoked, void).
    fn judged_members(&self) -> BTreeMap<String, (bool, bool)> {
        self.index()
            .members
            .iter()
            .map(|(peer, m)| (peer.clone(), (m.revoked, m.void.is_some())))
            .collect()
    }

    fn refresh_entities(&mut self, dirty: &Dirty) {
        if dirty.len() > REFRESH_REBUILD_ENTITIES {
            self.rebuild_index();
            return;
        }
        let mut index = std::mem::take(&mut self.view.index);
        for (collection, key) in dirty {
            if *collection != Collection::Site {
                index.set(*collection, key, self.stored(*collection, key));
            }
        }
        self.view.index = index;
        let (site, rivals, site_conflicted) = self.read_root();
        let mut index = std::mem::take(&mut self.view.index);
        index.site = site;
        index.rivals = rivals;
        let root = (Collection::Site, String::new());
        if site_conflicted {
            index.conflicted.insert(root);
        } else {
            index.conflicted.remove(&root);
        }
        if dirty.iter().any(|(c, _)| *c == Collection::Members) {
            self.judge_members(&mut index);
        }
        self.view = View::new(index);
        self.describe_damage(dirty.iter());
    }

    /// What the document holds for one key.
    fn stored(&self, collection: Collection, key: &str) -> Stored {
        let coll = self.collection(collection);
        let conflicted = self
            .doc
            .get_all(coll, key)
            .map(|all| all.len() > 1)
            .unwrap_or(false);
        match self.doc.get(coll, key) {
            Ok(Some((Value::Object(ObjType::Map), obj))) => {
                stored_of(collection, read_fields(&self.doc, &obj), conflicted)
            }
            Ok(Some((value, id))) => {
                Stored::NotAMap(value_field(&self.doc, &value, &id), conflicted)
            }
            _ => Stored::Absent,
        }
    }

    pub(crate) fn entity_object(&self, collection: Collection, key: &str) -> Option<ObjId> {
        if collection == Collection::Site {
            return None;
        }
        match self.doc.get(self.collection(collection), key) {
            Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
            _ => None,
        }
    }

    /// Every value the document holds for each field of an entity that has more than one
    /// (concurrent writes Automerge keeps side by side), with the change that wrote each. When
    /// the entity itself was created on several machines at once, the field "" lists each
    /// version (its fields as a JSON object). For the site, its settings at the root.
    pub fn concurrent_values(
        &mut self,
        collection: Collection,
        key: &str,
    ) -> Result<BTreeMap<String, Vec<ConcurrentValue>>> {
        let mut found: Vec<(String, Vec<RawValue>)> = Vec::new();
        if collection == Collection::Site {
            for field in SITE_FIELDS {
                let values = self.values_at(&ROOT, field)?;
                if values.len() > 1 {
                    found.push((field.to_owned(), values));
                }
            }
        } else {
            let entity = self.values_at(self.collection(collection), key)?;
            if entity.len() > 1 {
                found.push((String::new(), entity));
            }
            if let Some(obj) = self.entity_object(collection, key) {
                let conflicted: Vec<String> = self
                    .doc
                    .map_range(&obj, ..)
                    .filter(|item| item.conflict)
                    .map(|item| item.key.to_string())
                    .collect();
                for field in conflicted {
                    let values = self.values_at(&obj, &field)?;
                    found.push((field, values));
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|(field, values)| (field, self.with_authors(values)))
            .collect())
    }

    /// Every value a map key holds, with the change that wrote each (an entity as the JSON
    /// object of its fields, with the object itself).
    fn values_at(&self, obj: &ObjId, key: &str) -> Result<Vec<RawValue>> {
        Ok(self
            .doc
            .get_all(obj, key)?
            .into_iter()
            .map(|(value, id)| {
                let (value, object) = match value {
                    Value::Object(ObjType::Map) => {
                        let fields = read_fields(&self.doc, &id).0;
                        let json: serde_json::Map<String, serde_json::Value> = fields
                            .iter()
                            .map(|(name, v)| (name.to_owned(), v.to_json()))
                            .collect();
                        (serde_json::Value::Object(json), Some(id.to_string()))
                    }
                    other => (value_field(&self.doc, &other, &id).to_json(), None),
                };
                RawValue {
                    value,
                    change: self.doc.hash_for_opid(&id),
                    object,
                }
            })
            .collect())
    }

    fn with_authors(&mut self, values: Vec<RawValue>) -> Vec<ConcurrentValue> {
        values
            .into_iter()
            .map(|raw| ConcurrentValue {
                author: raw
                    .change
                    .and_then(|h| self.author_of_change(&h))
                    .unwrap_or_default(),
                machine: raw
                    .change
                    .and_then(|h| self.doc.get_change_meta_by_hash(&h))
                    .and_then(|meta| crate::members::machine_of(&meta.actor).map(str::to_owned)),
                value: raw.value,
                change: raw.change,
                object: raw.object,
            })
            .collect()
    }

    /// The concurrent values of every entity the index marks as conflicted.
    pub fn all_concurrent_values(&mut self) -> Result<crate::Concurrent> {
        let mut out = crate::Concurrent::new();
        let keys: Vec<(Collection, String)> = self.index().conflicted.iter().cloned().collect();
        for (collection, key) in keys {
            let fields = self.concurrent_values(collection, &key)?;
            if !fields.is_empty() {
                out.insert((collection, key), fields);
            }
        }
        Ok(out)
    }

    /// Applies several operations as one change; on any error nothing is kept.
    pub fn apply(&mut self, edit: &Edit, message: String, ops: &[Op]) -> Result<Written> {
        let (_, written) = self.write(edit, message, |s, dirty| {
            for op in ops {
                s.apply_op(op, dirty)?;
            }
            Ok(())
        })?;
        Ok(written)
    }

    fn apply_op(&mut self, op: &Op, dirty: &mut Dirty) -> Result<()> {
        let missing = |collection: Collection, key: &str| ModelError::NotFound {
            kind: collection.noun(),
            id: key.to_owned(),
        };
        match op {
            Op::Assign(assignment) => {
                self.require(Collection::Staff, assignment.staff.as_str())?;
                self.require(Collection::Shifts, assignment.shift.as_str())?;
                let key = Entity::key(assignment);
                if self.exists(Collection::Assignments, &key) {
                    return Err(ModelError::AlreadyExists {
                        kind: Collection::Assignments.noun(),
                        id: key,
                    });
                }
                self.create(assignment)?;
                dirty.insert((Collection::Assignments, key));
            }
            Op::Remove { collection, key } => {
                if !self.exists(*collection, key) {
                    return Err(missing(*collection, key));
                }
                if collection.removes_softly() {
                    let obj = self
                        .entity_object(*collection, key)
                        .ok_or_else(|| missing(*collection, key))?;
                    self.doc.put(&obj, REMOVED_FIELD, true)?;
                } else {
                    let coll = self.collection(*collection).clone();
                    self.doc.delete(&coll, key.as_str())?;
                }
                dirty.insert((*collection, key.clone()));
            }
            Op::SetField {
                collection: Collection::Site,
                field,
                value,
                ..
            } => {
                if !SITE_FIELDS.contains(&field.as_str()) {
                    return Err(ModelError::Refused(format!(
                        "'{field}' is not a site setting ({})",
                        SITE_FIELDS.join(", ")
                    )));
                }
                put_field(&mut self.doc, &ROOT, field, value)?;
                dirty.insert((Collection::Site, String::new()));
            }
            Op::SetField {
                collection,
                key,
                field,
                value,
            } => {
                let obj = self
                    .entity_object(*collection, key)
                    .ok_or_else(|| missing(*collection, key))?;
                put_field(&mut self.doc, &obj, field, value)?;
                dirty.insert((*collection, key.clone()));
            }
            Op::RestoreField {
                collection,
                key,
                field,
            } => {
                self.restore_field(*collection, key, field)?;
                dirty.insert((*collection, key.clone()));
            }
            Op::KeepVersion {
                collection,
                key,
                object,
            } => {
                let coll = self.collection(*collection).clone();
                let versions = self.doc.get_all(&coll, key.as_str())?;
                let chosen = versions
                    .into_iter()
                    .map(|(_, id)| id)
                    .find(|id| id.to_string() == *object)
                    .ok_or_else(|| {
                        ModelError::Refused(format!(
                            "{} '{key}' no longer has that version; list the conflicts again",
                            collection.noun()
                        ))
                    })?;
                let value = self.doc.hydrate(&chosen, None)?;
                self.doc
                    .batch_create_object(&coll, key.as_str(), &value, false)?;
                dirty.insert((*collection, key.clone()));
            }
            Op::Adopt { collection } => {
                let coll = self.collection(*collection).clone();
                let rivals: Vec<ObjId> = self
                    .doc
                    .get_all(ROOT, collection.key())?
                    .into_iter()
                    .filter(|(v, id)| matches!(v, Value::Object(ObjType::Map)) && *id != coll)
                    .map(|(_, id)| id)
                    .collect();
                for rival in rivals {
                    let entries: Vec<(String, ObjId)> = self
                        .doc
                        .map_range(&rival, ..)
                        .filter(|item| matches!(item.value, ValueRef::Object(ObjType::Map)))
                        .map(|item| (item.key.to_string(), item.id()))
                        .collect();
                    for (key, entity) in entries {
                        if self.doc.get(&coll, key.as_str())?.is_some() {
                            continue;
                        }
                        let value = self.doc.hydrate(&entity, None)?;
                        self.doc
                            .batch_create_object(&coll, key.as_str(), &value, false)?;
                        dirty.insert((*collection, key));
                    }
                }
                dirty.insert((Collection::Site, String::new()));
            }
            Op::Restore { collection, key } => {
                let obj = self
                    .entity_object(*collection, key)
                    .ok_or_else(|| missing(*collection, key))?;
                self.doc.put(&obj, REMOVED_FIELD, false)?;
                dirty.insert((*collection, key.clone()));
            }
            Op::Acknowledge(ack) => {
                let key = ack.key();
                match self.entity_object(Collection::Acks, &key) {
                    Some(obj) => {
                        for (name, value) in ack.to_fields() {
                            put_field(&mut self.doc, &obj, name, &value)?;
                        }
                    }
                    None => self.create(ack)?,
                }
                dirty.insert((Collection::Acks, key));
            }
        }
        Ok(())
    }

    /// `restore-value`: writes a field back to the newest earlier value this version can read.
    /// It first follows the field's own writes back (each write's predecessor at the heads it
    /// was made on), then, for a field that is missing now, scans the history newest first.
    fn restore_field(&mut self, collection: Collection, key: &str, field: &str) -> Result<()> {
        let coll = self.collection(collection).clone();
        let nothing = || {
            ModelError::Refused(format!(
                "the history of {} '{key}' holds no earlier {} this version can read; set one with the option 'edit'",
                collection.noun(),
                if field.is_empty() { "version of it" } else { field }
            ))
        };
        if field.is_empty() {
            // The whole entity: the newest map its key held that reads.
            let found = self.scan_history(|doc, heads| match doc.get_at(&coll, key, heads) {
                Ok(Some((Value::Object(ObjType::Map), id))) => {
                    let fields = read_fields_at(doc, &id, heads);
                    crate::index::read_damage(collection, key, fields)
                        .iter()
                        .all(|d| !d.field.is_empty())
                        .then(|| doc.hydrate(&id, Some(heads)).ok())
                        .flatten()
                }
                _ => None,
            });
            let value = found.ok_or_else(nothing)?;
            self.doc.batch_create_object(&coll, key, &value, false)?;
            return Ok(());
        }
        let obj = self
            .entity_object(collection, key)
            .ok_or_else(|| ModelError::NotFound {
                kind: collection.noun(),
                id: key.to_owned(),
            })?;
        let current = read_fields(&self.doc, &obj).0;
        let readable = |candidate: &FieldValue| {
            let mut fields = current.clone();
            fields.insert(field, candidate.clone());
            !crate::index::read_damage(collection, key, fields)
                .iter()
                .any(|d| d.field == field)
        };
        let mut pending: Vec<ObjId> = self
            .doc
            .get_all(&obj, field)?
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let mut seen = std::collections::HashSet::new();
        while let Some(op) = pending.pop() {
            if seen.len() >= RESTORE_VALUES_MAX {
                break;
            }
            let Some(hash) = self.doc.hash_for_opid(&op) else {
                continue;
            };
            if !seen.insert(hash) {
                continue;
            }
            let deps = match self.doc.get_change_meta_by_hash(&hash) {
                Some(meta) => meta.deps.to_vec(),
                None => continue,
            };
            for (value, id) in self.doc.get_all_at(&obj, field, &deps)? {
                let value = value_field(&self.doc, &value, &id);
                if readable(&value) {
                    put_field(&mut self.doc, &obj, field, &value)?;
                    return Ok(());
                }
                pending.push(id);
            }
        }
        let found = self.scan_history(|doc, heads| match doc.get_at(&obj, field, heads) {
            Ok(Some((value, id))) => Some(value_field(doc, &value, &id)).filter(&readable),
            _ => None,
        });
        let value = found.ok_or_else(nothing)?;
        put_field(&mut self.doc, &obj, field, &value)
    }

    /// The first value `probe` finds at the heads of each change, newest first (at most
    /// [`RESTORE_SCAN_CHANGES_MAX`] changes).
    fn scan_history<T>(
        &mut self,
        probe: impl Fn(&AutoCommit, &[ChangeHash]) -> Option<T>,
    ) -> Option<T> {
        let hashes: Vec<ChangeHash> = self
            .doc
            .get_changes_meta(&[])
            .iter()
            .rev()
            .take(RESTORE_SCAN_CHANGES_MAX)
            .map(|m| m.hash)
            .collect();
        hashes.into_iter().find_map(|h| probe(&self.doc, &[h]))
    }

    /// Brings back a softly removed staff member, shift or department.
    pub fn restore(
        &mut self,
        edit: &Edit,
        collection: Collection,
        key: &str,
        message: String,
    ) -> Result<Written> {
        if !self.index().is_removed(collection, key) {
            return Err(ModelError::Refused(format!(
                "{} '{key}' is not removed, so there is nothing to restore",
                collection.noun()
            )));
        }
        let obj = self
            .entity_object(collection, key)
            .ok_or_else(|| ModelError::NotFound {
                kind: collection.noun(),
                id: key.to_owned(),
            })?;
        let (_, written) = self.write(edit, message, |s, dirty| {
            s.doc.put(&obj, REMOVED_FIELD, false)?;
            dirty.insert((collection, key.to_owned()));
            Ok(())
        })?;
        Ok(written)
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
        self.writing_actor(edit);
        let result = body(self, &mut dirty).and_then(|value| {
            // A newer schema may have changed what a collection means: its note says which
            // ones this version must leave alone.
            match dirty.iter().find_map(|(c, _)| self.view.site().locked(*c)) {
                Some(reason) => Err(ModelError::NewerSchema(reason)),
                None => Ok(value),
            }
        });
        match result {
            Ok(value) => {
                let change = self.doc.commit_with(
                    CommitOptions::default()
                        .with_message(message)
                        .with_time(edit.now_ms.div_euclid(1000)),
                );
                if let Some(change) = change {
                    self.sign(change);
                }
                self.refresh(&mut dirty);
                Ok((value, Written { change, dirty }))
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
        self.update_fields(edit, updated, fields, message, false)
    }

    /// [`Schedule::update`]; with `anew`, each named field is written even where it holds the
    /// value already (Automerge makes no operation for a put of the value a key holds): the
    /// membership rule reads who wrote a field, so a machine that trusts a member must be the
    /// one on record.
    pub(crate) fn update_fields<E: Entity>(
        &mut self,
        edit: &Edit,
        updated: &E,
        fields: &[&str],
        message: String,
        anew: bool,
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
                    if anew {
                        s.doc.delete(&obj, name)?;
                    }
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
        // The fields written are exactly what the document then holds for these entities, so
        // the index takes them as they are instead of reading 100k entities back.
        let mut entities: Vec<bulk::NewEntity> = Vec::with_capacity(batch.len());
        let mut step = |c: Collection, key: String, fields: Fields| {
            entities.push((c, key, fields));
            if entities.len().is_multiple_of(PROGRESS_EVERY_ENTITIES) {
                progress(entities.len());
            }
        };
        batch
            .departments
            .iter()
            .for_each(|e| step(Collection::Departments, e.key(), stored_fields(e)));
        batch
            .staff
            .iter()
            .for_each(|e| step(Collection::Staff, e.key(), stored_fields(e)));
        batch
            .shifts
            .iter()
            .for_each(|e| step(Collection::Shifts, e.key(), stored_fields(e)));
        batch
            .assignments
            .iter()
            .for_each(|e| step(Collection::Assignments, Entity::key(e), stored_fields(e)));
        batch
            .availability
            .iter()
            .for_each(|e| step(Collection::Availability, e.key(), stored_fields(e)));
        // An empty batch goes the ordinary way, which makes no change at all.
        let mut written = if !entities.is_empty() && self.all_new(&entities) {
            let change = self.create_as_one_change(edit, &entities, message)?;
            Written {
                change: Some(change),
                dirty: Dirty::new(),
            }
        } else {
            // Some come back from a soft removal (or over an unreadable object): field by
            // field, as any single write.
            self.write(edit, message, |s, _| {
                batch.departments.iter().try_for_each(|e| s.create(e))?;
                batch.staff.iter().try_for_each(|e| s.create(e))?;
                batch.shifts.iter().try_for_each(|e| s.create(e))?;
                batch.assignments.iter().try_for_each(|e| s.create(e))?;
                batch.availability.iter().try_for_each(|e| s.create(e))
            })?
            .1
        };
        let index = &mut self.view.index;
        for (collection, key, fields) in entities {
            written.dirty.insert((collection, key.clone()));
            index.set(collection, &key, Stored::Present(fields, false));
        }
        // What a damaged entity lacks is described from the document, as a read of it does.
        let damaged: Vec<(Collection, String)> = self
            .view
            .index
            .damaged
            .keys()
            .filter(|entry| written.dirty.contains(*entry))
            .cloned()
            .collect();
        self.describe_damage(damaged.iter());
        Ok(written)
    }

    /// Whether the schedule holds nothing but the genesis and the schema steps (a machine
    /// that has just joined a site and not yet synced).
    pub fn is_fresh(&mut self) -> bool {
        self.doc
            .get_heads()
            .iter()
            .all(crate::schema::is_schema_change)
    }

    /// Replaces a fresh schedule with a whole document received from a peer, if it is a
    /// shiftmesh schedule (it holds the genesis); the view is built for it from scratch.
    /// `bytes`, when given, are the encoding `doc` was loaded from, kept for
    /// [`Schedule::take_received_whole`].
    pub fn replace_fresh(&mut self, mut doc: AutoCommit, bytes: Option<Vec<u8>>) -> Result<Merged> {
        let before = self.doc.get_heads();
        let received_whole = bytes.map(|bytes| (bytes, doc.get_heads()));
        let mut replacement = Schedule::from_doc(doc)?;
        replacement.received_whole = received_whole;
        replacement.machine = self.machine.take();
        self.hand_signatures_to(&mut replacement);
        *self = replacement;
        let new_changes = self.doc.get_changes_meta(&before).len();
        Ok(Merged {
            new_changes,
            dirty: self.index().all_keys(),
            fields: TouchedFields::new(),
        })
    }

    /// The whole document a peer sent when it replaced this fresh schedule, and the heads those
    /// bytes load to, once: a store can keep them as its snapshot rather than encode the same
    /// document again (a `save()` of a large schedule takes a good part of a second).
    pub fn take_received_whole(&mut self) -> Option<(Vec<u8>, Vec<ChangeHash>)> {
        self.received_whole.take()
    }

    /// Merges every change of another copy of the schedule (a backup's bytes) that this one
    /// lacks.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<Merged> {
        let mut other = Schedule::from_doc(load_untrusted(bytes)?)?.doc;
        let new = self.doc.get_changes_added(&mut other);
        let before = self.doc.get_heads();
        self.doc.apply_changes(new)?;
        Ok(self.absorb_since(&before))
    }

    /// Brings the view up to date after changes reached the document by another path (a sync
    /// message, a merge), given the heads from before they arrived.
    pub fn absorb_since(&mut self, before: &[ChangeHash]) -> Merged {
        self.changes_since(before, true)
    }

    /// The entities touched by the changes made since `before`, for a caller whose writes have
    /// already kept the view up to date (commands run by a node).
    pub fn touched_since(&mut self, before: &[ChangeHash]) -> Merged {
        self.changes_since(before, false)
    }

    /// What the changes since `before` touched, refreshing the view for them if asked: entity
    /// by entity, or the whole index when they are many. Their size comes from metadata first,
    /// because `get_changes` re-encodes changes from the op set, which for a whole schedule
    /// (a first sync) costs seconds and is not needed when the index is rebuilt anyway.
    fn changes_since(&mut self, before: &[ChangeHash], refresh: bool) -> Merged {
        // Signatures that came ahead of these changes are placed first.
        self.settle_signatures();
        let meta = self.doc.get_changes_meta(before);
        self.signatures.note_unsigned(&meta);
        let new_changes = meta.len();
        let ops: u64 = meta
            .iter()
            .map(|m| (m.max_op + 1).saturating_sub(m.start_op))
            .sum();
        let (dirty, fields) = if ops > MERGE_OPS_REBUILD as u64 {
            if refresh {
                self.rebuild_index();
            }
            (self.index().all_keys(), TouchedFields::new())
        } else {
            let new = self.doc.get_changes(before);
            let (mut dirty, fields) = self.touched_by(&new);
            if refresh {
                self.refresh(&mut dirty);
            }
            (dirty, fields)
        };
        let mut dirty = dirty;
        dirty.append(&mut self.rejudged);
        Merged {
            new_changes,
            dirty,
            fields,
        }
    }

    /// Whether the collection held the key (removed or not) at the given heads.
    pub fn had_key_at(&self, collection: Collection, key: &str, heads: &[ChangeHash]) -> bool {
        self.doc
            .get_at(self.collection(collection), key, heads)
            .is_ok_and(|v| v.is_some())
    }

    /// The entities that changes touched, found from their operations. (A diff of the visible
    /// state would miss a concurrent value that arrives without changing what a field shows,
    /// and that still changes the field's conflicts.) An operation on the root, or inside
    /// something another writer put there, touches the site ([`Collection::Site`]).
    fn touched_by(&self, changes: &[automerge::Change]) -> (Dirty, TouchedFields) {
        let mut dirty = Dirty::new();
        let mut fields = TouchedFields::new();
        let mut whole = Dirty::new();
        let mut owners: HashMap<String, Option<Owner>> = HashMap::new();
        for change in changes {
            for op in change.decode().operations {
                let map_key = match &op.key {
                    automerge::legacy::Key::Map(key) => Some(key.to_string()),
                    automerge::legacy::Key::Seq(_) => None,
                };
                let obj = op.obj.to_string();
                let owner = owners
                    .entry(obj)
                    .or_insert_with_key(|obj| self.owner_of(obj))
                    .clone();
                let (entry, field) = match owner {
                    Some(Owner::Root) => ((Collection::Site, String::new()), None),
                    // An operation on a collection map names the entity in its key, and makes,
                    // deletes or replaces it as a whole.
                    Some(Owner::Collection(collection)) => match map_key {
                        Some(key) => ((collection, key), None),
                        None => continue,
                    },
                    // On the entity's map, the key is the field; deeper, the field holds it.
                    Some(Owner::Entity(collection, entity, None)) => match map_key {
                        Some(key) => ((collection, entity), Some(key)),
                        None => continue,
                    },
                    Some(Owner::Entity(collection, entity, Some(field))) => {
                        ((collection, entity), Some(field))
                    }
                    None => continue,
                };
                match field {
                    Some(field) => {
                        fields.entry(entry.clone()).or_default().insert(field);
                    }
                    None => {
                        whole.insert(entry.clone());
                    }
                }
                dirty.insert(entry);
            }
        }
        fields.retain(|entry, _| !whole.contains(entry));
        (dirty, fields)
    }

    /// Where an object sits: the root (or inside another writer's value at the root), one of
    /// the collection maps (found by identity, whatever its root key shows), or an entity of
    /// one (with the entity's field that holds it, when it is deeper).
    fn owner_of(&self, obj: &str) -> Option<Owner> {
        let id = self.doc.import_obj(obj).ok()?;
        if id == ROOT {
            return Some(Owner::Root);
        }
        // From the object's own place up to the root.
        let path: Vec<(ObjId, Prop)> = self
            .doc
            .parents(&id)
            .ok()?
            .map(|p| (p.obj, p.prop))
            .collect();
        let top = match path.len() {
            0 => return None,
            1 => id.clone(),
            n => path[n - 2].0.clone(),
        };
        let Some(collection) = self
            .collections
            .iter()
            .find(|(_, o)| **o == top)
            .map(|(c, _)| *c)
        else {
            return Some(Owner::Root);
        };
        let map_key = |i: usize| match &path[i].1 {
            Prop::Map(key) => Some(key.to_string()),
            Prop::Seq(_) => None,
        };
        match path.len() {
            1 => Some(Owner::Collection(collection)),
            2 => Some(Owner::Entity(collection, map_key(0)?, None)),
            n => Some(Owner::Entity(
                collection,
                map_key(n - 2)?,
                Some(map_key(n - 3)?),
            )),
        }
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::new()
    }
}

/// One step of a change made of several (a resolution): all of a change's operations apply
/// together or not at all.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A new assignment; its staff member and shift must exist and the pair must be free.
    Assign(Assignment),
    /// Removes an entity (softly for staff, shifts and departments).
    Remove { collection: Collection, key: String },
    /// Writes one field of an existing entity.
    SetField {
        collection: Collection,
        key: String,
        field: String,
        value: FieldValue,
    },
    /// Brings back a softly removed entity.
    Restore { collection: Collection, key: String },
    /// Records (or renews) an acknowledgement.
    Acknowledge(crate::entity::Acknowledgement),
    /// Writes a field back to the newest value its history holds that this version can read
    /// (`field` empty: the whole entity, when its key holds something other than its fields).
    RestoreField {
        collection: Collection,
        key: String,
        field: String,
    },
    /// Keeps one version (`object`, as `counter@actor`) of an entity created on several
    /// machines at once: it becomes the only one, with every field it holds.
    KeepVersion {
        collection: Collection,
        key: String,
        object: String,
    },
    /// Copies into a collection every entity that a rival value at its root key (another
    /// writer's map) holds and the collection lacks.
    Adopt { collection: Collection },
}

impl Op {
    /// What the operation does, in words, for the change's message.
    pub fn describe(&self) -> String {
        match self {
            Op::Assign(a) => format!("assign {} to {}", a.staff, a.shift),
            Op::Remove { collection, key } => format!("remove {} {key}", collection.noun()),
            Op::SetField {
                collection,
                key,
                field,
                value,
            } => format!(
                "set {field} of {} {key} to {}",
                collection.noun(),
                value.to_json()
            ),
            Op::Restore { collection, key } => format!("restore {} {key}", collection.noun()),
            Op::Acknowledge(a) => format!("acknowledge {}", a.conflict),
            Op::RestoreField {
                collection,
                key,
                field,
            } if field.is_empty() => format!("restore {} {key}", collection.noun()),
            Op::RestoreField {
                collection,
                key,
                field,
            } => format!(
                "restore the last readable {field} of {} {key}",
                collection.noun()
            ),
            Op::KeepVersion {
                collection, key, ..
            } => format!("keep one version of {} {key}", collection.noun()),
            Op::Adopt { collection } => {
                format!("adopt what a rival {} map holds", collection.key())
            }
        }
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

/// A value a key holds and the change that wrote it, before the author is looked up.
struct RawValue {
    value: serde_json::Value,
    change: Option<ChangeHash>,
    object: Option<String>,
}

/// The site's settings at the root of the document.
pub const SITE_FIELDS: [&str; 2] = ["site_name", "time_zone"];

/// One of several values a field holds after concurrent writes.
#[derive(Clone, Debug, PartialEq)]
pub struct ConcurrentValue {
    pub value: serde_json::Value,
    /// The change that wrote it (its author and time are in the change's metadata).
    pub change: Option<ChangeHash>,
    /// For one version of an entity created on several machines at once: its object, as
    /// `counter@actor`.
    pub object: Option<String>,
    /// Who wrote it, `user@node` (empty when the change records no author).
    pub author: String,
    /// The machine whose actor wrote it (a peer id), if the actor names one.
    pub machine: Option<String>,
}

/// What an entity's stored fields mean; `entity_conflicted`: its key holds several objects
/// (it was created on two machines at once).
fn stored_of(
    collection: Collection,
    (fields, conflicted): (Fields, bool),
    entity_conflicted: bool,
) -> Stored {
    if collection.removes_softly()
        && matches!(fields.get(REMOVED_FIELD), Some(FieldValue::Bool(true)))
    {
        Stored::Removed
    } else {
        Stored::Present(fields, conflicted || entity_conflicted)
    }
}

/// The winning value of each field of an entity, and whether any field has concurrent values.
/// Text objects (which other Automerge writers, JavaScript's among them, make of strings) read
/// as the text they hold; nothing is skipped, so what cannot be read can be reported.
fn read_fields(doc: &AutoCommit, obj: &ObjId) -> (Fields, bool) {
    let mut fields = Fields::new();
    let mut conflicted = false;
    for item in doc.map_range(obj, ..) {
        conflicted |= item.conflict;
        let value = field_value(doc, &item.value, &item.id());
        fields.insert(item.key.to_string(), value);
    }
    (fields, conflicted)
}

/// [`read_fields`] as the document was at `heads`.
fn read_fields_at(doc: &AutoCommit, obj: &ObjId, heads: &[ChangeHash]) -> Fields {
    let mut fields = Fields::new();
    for item in doc.map_range_at(obj, .., heads) {
        let value = field_value(doc, &item.value, &item.id());
        fields.insert(item.key.to_string(), value);
    }
    fields
}

/// A value as a field reads it (see [`read_fields`]).
fn field_value(doc: &AutoCommit, value: &ValueRef<'_>, id: &ObjId) -> FieldValue {
    match value {
        ValueRef::Scalar(s) => match s {
            ScalarValueRef::Str(s) => FieldValue::Str(s.to_string()),
            ScalarValueRef::Int(i) | ScalarValueRef::Timestamp(i) | ScalarValueRef::Counter(i) => {
                FieldValue::Int(*i)
            }
            ScalarValueRef::Uint(u) => match i64::try_from(*u) {
                Ok(i) => FieldValue::Int(i),
                Err(_) => FieldValue::Foreign(format!("the number {u}")),
            },
            ScalarValueRef::F64(f) => FieldValue::Float(*f),
            ScalarValueRef::Boolean(b) => FieldValue::Bool(*b),
            ScalarValueRef::Null => FieldValue::Foreign("null".into()),
            ScalarValueRef::Bytes(b) => FieldValue::Foreign(format!("{} bytes", b.len())),
            ScalarValueRef::Unknown { type_code, .. } => {
                FieldValue::Foreign(format!("a value of unknown type {type_code}"))
            }
        },
        ValueRef::Object(ObjType::Text) => match doc.text(id) {
            Ok(text) => FieldValue::Str(text),
            Err(_) => FieldValue::Foreign("text".into()),
        },
        ValueRef::Object(kind) => FieldValue::Foreign(describe_object(*kind)),
    }
}

/// [`field_value`] for a value read with `get`.
fn value_field(doc: &AutoCommit, value: &Value<'_>, id: &ObjId) -> FieldValue {
    match value {
        Value::Object(kind) => field_value(doc, &ValueRef::Object(*kind), id),
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(t) => FieldValue::Str(t.to_string()),
            ScalarValue::Int(i) | ScalarValue::Timestamp(i) => FieldValue::Int(*i),
            ScalarValue::Counter(c) => FieldValue::Int(i64::from(c)),
            ScalarValue::Uint(u) => match i64::try_from(*u) {
                Ok(i) => FieldValue::Int(i),
                Err(_) => FieldValue::Foreign(format!("the number {u}")),
            },
            ScalarValue::F64(f) => FieldValue::Float(*f),
            ScalarValue::Boolean(b) => FieldValue::Bool(*b),
            ScalarValue::Null => FieldValue::Foreign("null".into()),
            ScalarValue::Bytes(b) => FieldValue::Foreign(format!("{} bytes", b.len())),
            ScalarValue::Unknown { type_code, .. } => {
                FieldValue::Foreign(format!("a value of unknown type {type_code}"))
            }
        },
    }
}

fn describe_object(kind: ObjType) -> String {
    match kind {
        ObjType::Map | ObjType::Table => "a map".into(),
        ObjType::List => "a list".into(),
        ObjType::Text => "text".into(),
    }
}

fn scalar_description(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Str(s) => format!("the text {:?}", s.as_str()),
        other => format!("the value {other}"),
    }
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
        FieldValue::Float(f) => doc.put(obj, name, *f)?,
        // A value of a shape shiftmesh never writes is only ever read and reported.
        FieldValue::Foreign(what) => {
            return Err(ModelError::Refused(format!(
                "{name} cannot be set to {what}"
            )))
        }
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

/// An entity as one Automerge value (a map of its non-empty fields), as `batch_create_object`
/// takes it.
pub fn to_hydrate<E: Entity>(entity: &E) -> hydrate::Value {
    let mut map = std::collections::HashMap::new();
    for (name, value) in entity.to_fields() {
        let v = match value {
            FieldValue::Str(s) if s.is_empty() => continue,
            FieldValue::Str(s) => hydrate::Value::from(ScalarValue::Str(s.into())),
            FieldValue::Int(i) => hydrate::Value::from(i),
            FieldValue::Bool(b) => hydrate::Value::from(ScalarValue::Boolean(b)),
            // Entities built by shiftmesh hold neither.
            FieldValue::Float(f) => hydrate::Value::from(ScalarValue::F64(f)),
            FieldValue::Foreign(_) => continue,
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
