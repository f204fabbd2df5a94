//! Schema versions: the genesis (schema 1) and each later step of the document layout, as
//! changes built byte for byte the same on every node.
//!
//! A step is a change with its own fixed actor, sequence number 1, the previous step's change as
//! its only dependency, time 0 and fixed operations: it writes the root's `schema` (the version),
//! a note for older nodes (`schema_step_N`: what the step brings and which collections older
//! nodes must no longer write), and creates the step's new collections. Two machines that
//! upgrade independently therefore make the same change with the same hash, and no collection
//! ever has two rival maps. Opening an older document (a store, a backup, a peer's whole
//! document) applies the steps it lacks; a document of a newer schema is read as far as this
//! version understands it, and its note says what this version must not do.
//!
//! To add a collection: add it to [`Collection`] (and `Collection::ALL`), its entity type and
//! index map, then a [`Step`] at the end of [`STEPS`] that creates it. Never change the genesis
//! or an existing step: their hashes are what every site already holds
//! (`the_genesis_and_every_step_keep_their_hashes`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjType, ReadDoc, ScalarValue, Value, ROOT,
};
use serde::{Deserialize, Serialize};

use crate::entity::Collection;

/// The newest schema this build reads and writes.
pub const SCHEMA_VERSION: i64 = 2;

/// The root key holding the document's schema version.
pub const SCHEMA_KEY: &str = "schema";

/// The collections the genesis change creates, in the order it creates them. Frozen: the
/// genesis hash depends on it.
const GENESIS_COLLECTIONS: [Collection; 7] = [
    Collection::Departments,
    Collection::Staff,
    Collection::Shifts,
    Collection::Assignments,
    Collection::Availability,
    Collection::Acks,
    Collection::Members,
];

/// The actor of the genesis change.
const GENESIS_ACTOR: &[u8; 16] = b"shiftmesh-genesi";
const GENESIS_MESSAGE: &str = "shiftmesh genesis";

/// One step of the layout after the genesis.
struct Step {
    version: i64,
    /// The collections it creates.
    adds: &'static [Collection],
    /// What it brings, in words an older node can repeat ("to edit accounts").
    about: &'static str,
    /// Collections whose layout it changes: older nodes must not write them any more.
    locks: &'static [&'static str],
}

/// Every step after the genesis, in order. Append only.
const STEPS: &[Step] = &[Step {
    version: 2,
    adds: &[Collection::Accounts],
    about: "accounts",
    locks: &[],
}];

/// What a step tells nodes older than it, as the document records it (`schema_step_N`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepNote {
    pub version: i64,
    /// What it brings, e.g. "accounts".
    pub about: String,
    /// Collections an older node must not write.
    #[serde(default)]
    pub locks: Vec<String>,
}

fn note_key(version: i64) -> String {
    format!("schema_step_{version}")
}

fn step_actor(version: i64) -> ActorId {
    ActorId::from(format!("shiftmesh-step-{version:02}").into_bytes())
}

/// The genesis change and each step's change, with the version each brings the document to.
struct Built {
    changes: Vec<(i64, Change)>,
    /// Each collection's map, as `counter@actor` (portable between documents).
    collections: BTreeMap<Collection, String>,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        // Each step is built on a document holding exactly the genesis and the steps before
        // it, with a fixed actor and time: so its sequence number, first operation, dependencies
        // and operations are the same everywhere. These writes go into a fresh in-memory
        // document and cannot fail.
        let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR.as_slice()));
        let _ = doc.put(ROOT, SCHEMA_KEY, 1);
        for collection in GENESIS_COLLECTIONS {
            let _ = doc.put_object(ROOT, collection.key(), ObjType::Map);
        }
        doc.commit_with(
            CommitOptions::default()
                .with_message(GENESIS_MESSAGE)
                .with_time(0),
        );
        let mut changes = vec![(1, doc.get_last_local_change().expect("the genesis change"))];
        for step in STEPS {
            doc.set_actor(step_actor(step.version));
            let _ = doc.put(ROOT, SCHEMA_KEY, step.version);
            let note = StepNote {
                version: step.version,
                about: step.about.to_owned(),
                locks: step.locks.iter().map(|l| (*l).to_owned()).collect(),
            };
            let note = serde_json::to_string(&note).expect("a step note serialises");
            let _ = doc.put(ROOT, note_key(step.version), note);
            for collection in step.adds {
                let _ = doc.put_object(ROOT, collection.key(), ObjType::Map);
            }
            doc.commit_with(
                CommitOptions::default()
                    .with_message(format!("shiftmesh schema {}", step.version))
                    .with_time(0),
            );
            let change = doc.get_last_local_change().expect("a step's change");
            changes.push((step.version, change));
        }
        let collections = Collection::ALL
            .into_iter()
            .filter_map(|c| match doc.get(ROOT, c.key()) {
                Ok(Some((Value::Object(ObjType::Map), id))) => Some((c, id.to_string())),
                _ => None,
            })
            .collect();
        Built {
            changes,
            collections,
        }
    })
}

/// The document with its genesis change only (schema 1).
pub fn genesis() -> AutoCommit {
    let mut doc = AutoCommit::new();
    // The genesis has no dependencies: applying it to an empty document cannot fail.
    let _ = doc.apply_changes([built().changes[0].1.clone()]);
    doc
}

/// The hash of the genesis change, the same on every node.
pub fn genesis_hash() -> ChangeHash {
    built().changes[0].1.hash()
}

/// The hash of each step's change after the genesis, with its version.
pub fn step_hashes() -> Vec<(i64, ChangeHash)> {
    built().changes[1..]
        .iter()
        .map(|(v, c)| (*v, c.hash()))
        .collect()
}

/// Whether a change is the genesis or a schema step: the same on every node, made by no one,
/// and left out of the history.
pub fn is_schema_change(hash: &ChangeHash) -> bool {
    built().changes.iter().any(|(_, c)| c.hash() == *hash)
}

/// The map of a collection, as `counter@actor`: the object created by the genesis or the step
/// that brought it, wherever another writer may since have put something else at its key.
pub fn collection_object(collection: Collection) -> Option<&'static str> {
    built().collections.get(&collection).map(String::as_str)
}

/// Applies the steps the document lacks, in order, so it has this version's layout; returns
/// how many were applied. A document of this or a newer schema is left as it is.
pub fn upgrade(doc: &mut AutoCommit) -> Result<usize, automerge::AutomergeError> {
    let wanted: Vec<&(i64, Change)> = built().changes[1..].iter().collect();
    let hashes: Vec<ChangeHash> = wanted.iter().map(|(_, c)| c.hash()).collect();
    let absent = crate::doc::absent(doc, &hashes);
    let missing: Vec<Change> = wanted
        .into_iter()
        .filter(|(_, c)| absent.contains(&c.hash()))
        .map(|(_, c)| c.clone())
        .collect();
    let count = missing.len();
    if count > 0 {
        doc.apply_changes(missing)?;
    }
    Ok(count)
}

/// The version the document records (1 when unreadable: the genesis wrote 1).
pub fn version_of(doc: &AutoCommit) -> i64 {
    doc.get_all(ROOT, SCHEMA_KEY)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(value, _)| match value {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Int(i) => Some(*i),
                ScalarValue::Uint(u) => i64::try_from(*u).ok(),
                _ => None,
            },
            Value::Object(_) => None,
        })
        .max()
        .unwrap_or(1)
}

/// The notes of the steps the document holds beyond this version's, in order.
pub fn newer_steps(doc: &AutoCommit, version: i64) -> Vec<StepNote> {
    (SCHEMA_VERSION + 1..=version)
        .map(|v| {
            let text = match doc.get(ROOT, note_key(v).as_str()) {
                Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                    ScalarValue::Str(t) => Some(t.to_string()),
                    _ => None,
                },
                _ => None,
            };
            text.and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(StepNote {
                    version: v,
                    about: String::new(),
                    locks: Vec::new(),
                })
        })
        .collect()
}

/// Whether a root key is one shiftmesh writes (collections of any version, settings, schema
/// notes): the others belong to other writers and are left alone.
pub fn is_schema_key(key: &str) -> bool {
    key == SCHEMA_KEY || key.starts_with("schema_step_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_genesis_and_every_step_keep_their_hashes() {
        // Every site holds these changes; a different hash would make rival collections.
        // Computed once by the release that introduced each step; never edit a line.
        let expected = [
            (
                1,
                "f0c5be2f96a82f2485ecf6485716cce8039cf40af07f8cbfe8e96bb5acaadd96",
            ),
            (
                2,
                "89e0101e8e999f059f8968bebc2bcf01cc5488dc0d69e7635f0095744e00d24a",
            ),
        ];
        let actual: Vec<(i64, String)> = built()
            .changes
            .iter()
            .map(|(v, c)| (*v, c.hash().to_string()))
            .collect();
        let printed: Vec<(i64, &str)> = actual.iter().map(|(v, h)| (*v, h.as_str())).collect();
        assert_eq!(printed, expected);
    }

    #[test]
    fn steps_are_in_order_and_each_brings_a_new_version() {
        let mut version = 1;
        for step in STEPS {
            assert_eq!(
                step.version,
                version + 1,
                "steps are numbered one after another"
            );
            version = step.version;
        }
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn every_collection_has_its_map() {
        for collection in Collection::ALL {
            assert!(
                collection_object(collection).is_some(),
                "{collection} is created by the genesis or a step"
            );
        }
    }

    #[test]
    fn upgrading_twice_adds_nothing_and_two_upgrades_agree() {
        let mut a = genesis();
        let mut b = genesis();
        assert_eq!(upgrade(&mut a).unwrap(), STEPS.len());
        assert_eq!(upgrade(&mut a).unwrap(), 0);
        upgrade(&mut b).unwrap();
        assert_eq!(a.get_heads(), b.get_heads());
        assert_eq!(version_of(&a), SCHEMA_VERSION);
    }
}
