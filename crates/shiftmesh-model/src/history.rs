//! The audit trail: who changed what, when, on which node, with field-level before and after.

use automerge::{AutoCommit, ChangeHash, PatchAction, Prop, ReadDoc, Value};
use serde::{Deserialize, Serialize};

use crate::doc::scalar_to_json;
use crate::schema::is_schema_change;

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
}

/// Splits `user@node` into its user and node.
pub fn split_author(author: &str) -> (&str, &str) {
    author.rsplit_once('@').unwrap_or((author, ""))
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
    /// Whether a change's recorded facts pass (the entity is checked on its diff).
    fn admits(&self, seconds: i64, author: &str, message: &str) -> bool {
        self.since.is_none_or(|t| seconds >= t.as_second())
            && self.until.is_none_or(|t| seconds < t.as_second())
            && self
                .author
                .as_ref()
                .is_none_or(|a| author.contains(a.as_str()))
            && self
                .kind
                .as_ref()
                .is_none_or(|k| message.starts_with(k.as_str()))
    }
}

/// The newest `limit` changes the filter admits (in causal order, newest first).
pub fn history(doc: &mut AutoCommit, limit: usize, filter: &HistoryFilter) -> Vec<HistoryEntry> {
    let metas: Vec<_> = doc
        .get_changes_meta(&[])
        .into_iter()
        .map(|m| m.into_owned())
        .filter(|m| !is_schema_change(&m.hash))
        .collect();
    let mut out = Vec::new();
    for meta in metas.into_iter().rev() {
        if out.len() >= limit {
            break;
        }
        let author = meta
            .author
            .as_ref()
            .map(|a| String::from_utf8_lossy(a.as_bytes()).into_owned())
            .unwrap_or_default();
        let message = meta.message.as_deref().unwrap_or_default();
        if !filter.admits(meta.timestamp, &author, message) {
            continue;
        }
        let operations = (meta.max_op + 1).saturating_sub(meta.start_op);
        let bulk = operations > BULK_CHANGE_OPS;
        let diff = if bulk {
            Vec::new()
        } else {
            field_changes(doc, &meta.deps, meta.hash)
        };
        if let Some(entity) = &filter.entity {
            let touched = if bulk {
                created_by(doc, &meta, entity)
            } else {
                diff.iter().any(|d| path_names(&d.path, entity))
            };
            if !touched {
                continue;
            }
        }
        let node = split_author(&author).1.to_owned();
        let total = diff.len();
        let shown: Vec<FieldChange> = diff
            .into_iter()
            .take(HISTORY_FIELDS_MAX_PER_CHANGE)
            .collect();
        out.push(HistoryEntry {
            hash: meta.hash.to_string(),
            time: jiff::Timestamp::from_second(meta.timestamp)
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default(),
            author,
            node,
            message: meta.message.map(|m| m.into_owned()).unwrap_or_default(),
            diff_omitted: total - shown.len(),
            diff: shown,
            bulk_operations: bulk.then_some(operations),
        });
    }
    out
}

/// Whether a bulk change created the entity `id` (of any collection): its map was made by one
/// of the change's own operations. A bulk change is an import or a merge of new entities, so
/// this is how an entity's history finds it without working out its whole difference.
fn created_by(doc: &AutoCommit, meta: &automerge::ChangeMetadata<'_>, id: &str) -> bool {
    let at = [meta.hash];
    crate::Collection::ALL.iter().any(|collection| {
        let Ok(Some((_, map))) = doc.get_at(automerge::ROOT, collection.key(), &at) else {
            return false;
        };
        match doc.get_at(&map, id, &at) {
            Ok(Some((_, automerge::ObjId::Id(counter, actor, _)))) => {
                actor == *meta.actor && (meta.start_op..=meta.max_op).contains(&counter)
            }
            _ => false,
        }
    })
}

fn path_names(path: &str, entity: &str) -> bool {
    let mut parts = path.split('/');
    let _collection = parts.next();
    let key = parts.next().unwrap_or("");
    // Assignment keys are SHIFT/STAFF, so the next part belongs to the key too.
    if path.starts_with("assignments/") {
        let staff = parts.next().unwrap_or("");
        key == entity || staff == entity
    } else {
        key == entity
    }
}

fn field_changes(doc: &mut AutoCommit, deps: &[ChangeHash], hash: ChangeHash) -> Vec<FieldChange> {
    let patches = doc.diff(deps, &[hash]);
    let mut out = Vec::new();
    for patch in patches {
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
        let before = match doc.get_at(&patch.obj, key.as_str(), deps) {
            Ok(Some((Value::Scalar(s), _))) => scalar_to_json(s.as_ref()),
            Ok(Some((Value::Object(_), _))) => serde_json::Value::from("(existed)"),
            _ => serde_json::Value::Null,
        };
        path.push(key);
        out.push(FieldChange {
            path: path.join("/"),
            before,
            after,
        });
    }
    out
}
