//! The audit trail: who changed what, when, on which node, with field-level before and after.
//!
//! Each change is worked out once, from its own operations ([`record`]): the fields it wrote,
//! each read just before and just after it. The store keeps what this gives, so `history`
//! reads the newest lines without loading the document. [`document_diff`] is the slow,
//! obviously right way (Automerge's diff of the whole document between the change's
//! dependencies and the change); the property tests hold the two equal.

use std::collections::{BTreeMap, BTreeSet};

use automerge::legacy::{Key, ObjectId};
use automerge::{
    AutoCommit, ChangeHash, ChangeMetadata, ObjId, PatchAction, Prop, ReadDoc, Value, ROOT,
};
use serde::{Deserialize, Serialize};

use crate::doc::scalar_to_json;
use crate::schema::{collection_object, is_schema_change};
use crate::Collection;

/// The most field differences listed for one change; the rest are counted.
pub const HISTORY_FIELDS_MAX_PER_CHANGE: usize = 50;
/// A change of more operations than this (an import of a year's schedule is about a million)
/// is a bulk change: history shows it as one line with its size, without its field
/// differences, which would take seconds and a gigabyte to work out.
pub const BULK_CHANGE_OPS: u64 = 10_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub hash: String,
    /// When it was made, as recorded on the change (RFC 3339, UTC, to the second).
    pub time: String,
    /// The whole author as recorded, `user@node`.
    pub author: String,
    /// The node part of the author.
    pub node: String,
    pub message: String,
    pub diff: Vec<FieldChange>,
    /// How many field differences were left out of `diff`.
    pub diff_omitted: usize,
    /// For a bulk change (more than [`BULK_CHANGE_OPS`] operations), how many operations it
    /// holds; its `diff` is then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_operations: Option<u64>,
    /// The machine its actor names (a peer id); None for the genesis, the schema's steps and
    /// changes of releases before machines were named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// Worked out when the entry is shown, not recorded: how the site knows the machine and
    /// whether the change is proven to be its (see [`Provenance`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// Who made a change, as far as it is proven.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The machine's name in the membership list (None: not a member this copy knows).
    pub machine_name: Option<String>,
    /// Whether the change carries a valid signature of its machine's key. An unverified change
    /// may have been written by anyone who held the site key, claiming any machine and person.
    pub verified: bool,
    /// Made by a revoked machine after its revocation, or by a machine whose admission is void:
    /// `revert --after-revocation` undoes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_revocation: bool,
}

/// Splits `user@node` into its user and node.
pub fn split_author(author: &str) -> (&str, &str) {
    author.rsplit_once('@').unwrap_or((author, ""))
}

/// Whether `text` names the author `author` (`person@machine`, or `name via account@machine`
/// when the name was given on the command line): the whole of it, the name and the machine
/// (`name@machine`), or the name alone.
pub fn names_author(author: &str, text: &str) -> bool {
    let (person, machine) = split_author(author);
    let name = person.rsplit_once(" via ").map_or(person, |(name, _)| name);
    text == author
        || text == name
        || text
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('@'))
            .is_some_and(|rest| rest == machine)
}

/// Which changes a history lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFilter {
    /// Only changes that touched this entity (an entity id, or an assignment's shift or staff).
    #[serde(default)]
    pub entity: Option<String>,
    /// Only changes made at or after this instant (as recorded on the change).
    #[serde(default)]
    pub since: Option<jiff::Timestamp>,
    /// Only changes made before this instant.
    #[serde(default)]
    pub until: Option<jiff::Timestamp>,
    /// Only changes whose author (`user@node`) contains this.
    #[serde(default)]
    pub author: Option<String>,
    /// Only changes whose message starts with this ("import", "assign", "revert", …).
    #[serde(default)]
    pub kind: Option<String>,
}

impl HistoryFilter {
    /// Whether an entry's recorded facts pass (the entity is found through the store's index).
    pub fn admits(&self, entry: &HistoryEntry) -> bool {
        let seconds = entry
            .time
            .parse::<jiff::Timestamp>()
            .map_or(0, |t| t.as_second());
        self.since.is_none_or(|t| seconds >= t.as_second())
            && self.until.is_none_or(|t| seconds < t.as_second())
            && self
                .author
                .as_ref()
                .is_none_or(|a| entry.author.contains(a.as_str()))
            && self
                .kind
                .as_ref()
                .is_none_or(|k| entry.message.starts_with(k.as_str()))
    }
}

/// One change as the history keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub hash: ChangeHash,
    /// Where the change sorts, newest last: its last operation's counter, which is larger than
    /// that of every change it depends on (so this order is causal), then its hash.
    pub order: u64,
    pub entry: HistoryEntry,
    /// Every entity it touched, by id (an assignment also under its shift and its staff), or
    /// for a bulk change every entity it created; sorted.
    pub entities: Vec<String>,
}

impl Recorded {
    pub fn is_bulk(&self) -> bool {
        self.entry.bulk_operations.is_some()
    }
}

/// Every change of `doc` that is not in `since` or its past, in causal order, the schema's
/// own changes left out: what a history records. `since` names changes the document holds.
pub fn changes_since(doc: &mut AutoCommit, since: &[ChangeHash]) -> Vec<ChangeMetadata<'static>> {
    doc.get_changes_meta(since)
        .into_iter()
        .map(|m| m.into_owned())
        .filter(|m| !is_schema_change(&m.hash))
        .collect()
}

/// One change recorded: its field differences worked out from its own operations, or for a
/// bulk change (more than [`BULK_CHANGE_OPS`] operations) its size and the entities it
/// created.
pub fn record(doc: &mut AutoCommit, meta: &ChangeMetadata<'_>) -> Recorded {
    let author = author_of(meta);
    let operations = change_operations(meta);
    let bulk = operations > BULK_CHANGE_OPS;
    let (diff, entities) = if bulk {
        (Vec::new(), created_by(doc, meta))
    } else {
        let diff = op_diff(doc, meta);
        let entities = diff.iter().flat_map(|d| path_entities(&d.path)).collect();
        (diff, entities)
    };
    Recorded {
        hash: meta.hash,
        order: meta.max_op,
        entry: entry(meta, author, diff, bulk.then_some(operations)),
        entities: entities.into_iter().collect(),
    }
}

/// How many operations a change holds.
pub fn change_operations(meta: &ChangeMetadata<'_>) -> u64 {
    meta.max_op.saturating_add(1).saturating_sub(meta.start_op)
}

/// The author recorded on a change (`user@node`), empty when it has none.
fn author_of(meta: &ChangeMetadata<'_>) -> String {
    meta.author
        .as_ref()
        .map(|a| String::from_utf8_lossy(a.as_bytes()).into_owned())
        .unwrap_or_default()
}

fn entry(
    meta: &ChangeMetadata<'_>,
    author: String,
    diff: Vec<FieldChange>,
    bulk_operations: Option<u64>,
) -> HistoryEntry {
    let total = diff.len();
    let shown: Vec<FieldChange> = diff
        .into_iter()
        .take(HISTORY_FIELDS_MAX_PER_CHANGE)
        .collect();
    HistoryEntry {
        hash: meta.hash.to_string(),
        time: jiff::Timestamp::from_second(meta.timestamp)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default(),
        node: split_author(&author).1.to_owned(),
        author,
        message: meta.message.as_deref().unwrap_or_default().to_owned(),
        diff_omitted: total - shown.len(),
        diff: shown,
        bulk_operations,
        machine: crate::members::machine_of(&meta.actor).map(str::to_owned),
        provenance: None,
    }
}

/// The fields a change wrote, each read at the change's dependencies (before) and at the
/// change (after), sorted by path. Keys written and removed again within the change, and
/// writes into lists, are left out, as Automerge's own diff leaves them.
fn op_diff(doc: &mut AutoCommit, meta: &ChangeMetadata<'_>) -> Vec<FieldChange> {
    let Some(change) = doc.get_change_by_hash(&meta.hash) else {
        return Vec::new();
    };
    // The keys written, by object (named `counter@actor`, "" for the root).
    let mut written: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for op in change.decode().operations {
        let object = match (op.obj, &op.key) {
            (_, Key::Seq(_)) => continue,
            (ObjectId::Root, _) => String::new(),
            (ObjectId::Id(id), _) => format!("{}@{}", id.counter(), id.actor().to_hex_string()),
        };
        if let Key::Map(key) = op.key {
            written.entry(object).or_default().insert(key.to_string());
        }
    }
    let after = [meta.hash];
    let mut out = Vec::new();
    for (object, keys) in written {
        let Some((obj, path)) = locate(doc, &object, &after) else {
            continue;
        };
        for key in keys {
            let before = read_field(doc, &obj, &key, &meta.deps, "(existed)");
            let now = read_field(doc, &obj, &key, &after, "(created)");
            if before.is_none() && now.is_none() {
                continue;
            }
            out.push(FieldChange {
                path: format!(
                    "{}{key}",
                    path.iter().map(|p| format!("{p}/")).collect::<String>()
                ),
                before: before.unwrap_or(serde_json::Value::Null),
                after: now.unwrap_or(serde_json::Value::Null),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// A map object named `counter@actor` ("" for the root) and its path of keys from the root,
/// if it is a map that can be seen at `heads`.
fn locate(doc: &AutoCommit, object: &str, heads: &[ChangeHash]) -> Option<(ObjId, Vec<String>)> {
    if object.is_empty() {
        return Some((ROOT, Vec::new()));
    }
    let (obj, kind) = doc.import(object).ok()?;
    if kind != automerge::ObjType::Map {
        return None;
    }
    let mut path = Vec::new();
    for parent in doc.parents_at(&obj, heads).ok()? {
        if !parent.visible {
            return None;
        }
        match parent.prop {
            Prop::Map(key) => path.push(key),
            Prop::Seq(_) => return None,
        }
    }
    path.reverse();
    Some((obj, path))
}

/// A field's value at `heads`: its scalar, `object` for a nested object, None when absent.
fn read_field(
    doc: &AutoCommit,
    obj: &ObjId,
    key: &str,
    heads: &[ChangeHash],
    object: &str,
) -> Option<serde_json::Value> {
    match doc.get_at(obj, key, heads) {
        Ok(Some((Value::Scalar(s), _))) => Some(scalar_to_json(s.as_ref())),
        Ok(Some((Value::Object(_), _))) => Some(serde_json::Value::from(object)),
        _ => None,
    }
}

/// The entities a difference's path names: `collection/key/field`, where an assignment's key
/// is `SHIFT/STAFF` and names its shift and its staff as well.
fn path_entities(path: &str) -> Vec<String> {
    let Some((collection, rest)) = path.split_once('/') else {
        return Vec::new();
    };
    if collection == Collection::Assignments.key() {
        let mut parts = rest.splitn(3, '/');
        let (Some(shift), Some(staff)) = (parts.next(), parts.next()) else {
            return Vec::new();
        };
        return vec![
            format!("{shift}/{staff}"),
            shift.to_owned(),
            staff.to_owned(),
        ];
    }
    let key = rest.split_once('/').map_or(rest, |(key, _)| key);
    vec![key.to_owned()]
}

/// The entities a bulk change created: those whose map was made by one of the change's own
/// operations. A bulk change is an import or a merge of new entities, so this is how an
/// entity's history finds it without working out its whole difference.
fn created_by(doc: &AutoCommit, meta: &ChangeMetadata<'_>) -> BTreeSet<String> {
    let at = [meta.hash];
    let mut created = BTreeSet::new();
    for collection in Collection::ALL {
        let Some(map) = collection_object(collection).and_then(|id| doc.import_obj(id).ok()) else {
            continue;
        };
        for item in doc.map_range_at(&map, .., &at) {
            if let ObjId::Id(counter, actor, _) = item.id() {
                if actor == *meta.actor && (meta.start_op..=meta.max_op).contains(&counter) {
                    created.extend(path_entities(&format!("{}/{}", collection.key(), item.key)));
                }
            }
        }
    }
    created
}

/// A change's entry worked out the slow way: Automerge's diff of the whole document between
/// the change's dependencies and the change, its differences sorted by path. The reference
/// [`record`] is tested against; nothing else should call it on a large document.
pub fn document_diff(doc: &mut AutoCommit, meta: &ChangeMetadata<'_>) -> HistoryEntry {
    let author = author_of(meta);
    let mut out = Vec::new();
    for patch in doc.diff(&meta.deps, &[meta.hash]) {
        let mut path: Vec<String> = patch
            .path
            .iter()
            .map(|(_, prop)| match prop {
                Prop::Map(k) => k.to_string(),
                Prop::Seq(i) => i.to_string(),
            })
            .collect();
        let (key, after) = match &patch.action {
            PatchAction::PutMap { key, value, .. } => (
                key.clone(),
                match &value.0 {
                    Value::Scalar(s) => scalar_to_json(s.as_ref()),
                    Value::Object(_) => serde_json::Value::from("(created)"),
                },
            ),
            PatchAction::DeleteMap { key } => (key.clone(), serde_json::Value::Null),
            _ => continue,
        };
        let before = read_field(doc, &patch.obj, &key, &meta.deps, "(existed)")
            .unwrap_or(serde_json::Value::Null);
        path.push(key);
        out.push(FieldChange {
            path: path.join("/"),
            before,
            after,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    entry(meta, author, out, None)
}

#[cfg(test)]
mod tests {
    use super::names_author;

    #[test]
    fn an_author_is_named_whole_by_name_and_machine_or_by_name_alone() {
        for author in ["bob@back-office", "bob via frontdesk@back-office"] {
            for text in [author, "bob@back-office", "bob"] {
                assert!(names_author(author, text), "{text} names {author}");
            }
            for text in ["bo", "bob@front-desk", "frontdesk", "bob@back-office2", ""] {
                assert!(!names_author(author, text), "{text} names {author}");
            }
        }
        // A given name that itself says "via" is cut at the last one, where the account is.
        assert!(names_author("bob via carol via alice@m", "bob via carol"));
    }
}
