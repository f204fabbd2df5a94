//! The shiftmesh schedule: ids, typed entities, the Automerge document layout, and a read index.
//!
//! This crate does no I/O and reads no clock or randomness of its own (the author and the time
//! of a change come in through [`Edit`], the machine's key and its per-process nonce through
//! [`Schedule::sign_as`]; ed25519 signatures are deterministic), so it is tested
//! deterministically. The one exception is the
//! Automerge actor, which Automerge draws at random whenever a document is created or loaded.

pub mod doc;
pub mod entity;
mod error;
pub mod guard;
pub mod history;
mod id;
pub mod index;
mod members;
pub mod schema;
pub mod signature_file;
mod signatures;
pub mod time;

pub use doc::{
    absent, genesis_hash, load_untrusted, Batch, ConcurrentValue, Edit, Merged, Op, Schedule, View,
    Written, SITE_FIELDS,
};

/// The concurrent values of conflicted entities: (collection, key) → field → values.
pub type Concurrent = std::collections::BTreeMap<
    (Collection, String),
    std::collections::BTreeMap<String, Vec<ConcurrentValue>>,
>;
pub use entity::{
    Account, Acknowledgement, Assignment, Availability, AvailabilityKind, Collection, Damage,
    Department, Entity, FieldValue, Member, Read, Role, Shift, Staff,
};
pub use error::{InputError, ModelError, Result};
pub use id::{AssignmentKey, Id, ID_MAX_BYTES};
pub use index::{describe_damage, parse_field, Dirty, Index, Rival, Site, TouchedFields};
pub use members::{machine_actor, machine_of, ACTOR_NONCE_BYTES};
pub use schema::{StepNote, SCHEMA_VERSION};
pub use signatures::{
    public_key_of, Accepted, ChangeSignature, MAX_PENDING_SIGNATURES, MAX_WANTED_SIGNATURES,
    SIGNATURE_BYTES,
};
pub use time::{Interval, LocalSpan, ShiftTime, SiteZone};
