//! Every place bytes from outside enter shiftmesh — the network (sync messages, announcements,
//! join messages), files (backups and merges, CSV imports, invites) and the store's own files
//! (the document, the index snapshot) — as one function each. A function returns `Err` for
//! input it refuses; it must never panic or hang, whatever the bytes. The cargo-fuzz targets
//! (`fuzz/`, run by `scripts/fuzz.sh`) and the replay of `tests/corpus/` (run by
//! `scripts/test.sh`) call the same functions.

use std::sync::OnceLock;

use automerge::AutoCommit;
use shiftmesh_model::{Edit, Index, Schedule, Staff};
use shiftmesh_sync::{
    Announcement, Engine, Input, JoinRequest, JoinResponse, Limits, Output, SavedStates,
    SyncRequest, SyncResponse,
};

/// Run once before fuzzing: a panic that shiftmesh catches and turns into a refusal (Automerge
/// on malformed input) is not a crash; every other panic still is.
pub fn init() {
    shiftmesh_model::guard::quiet_guarded_panics();
}

/// A target: bytes in, a clean refusal or acceptance out.
pub type Target = fn(&[u8]) -> Result<(), String>;

/// Every target by name (the names of the cargo-fuzz targets and of `tests/corpus/` folders).
pub const TARGETS: [(&str, Target); 8] = [
    ("sync_message", sync_message),
    ("announcement", announcement),
    ("join_message", join_message),
    ("document", document),
    ("backup_merge", backup_merge),
    ("index_snapshot", index_snapshot),
    ("csv_import", csv_import),
    ("invite", invite),
];

/// A small schedule, saved once and loaded fresh for each input.
fn seeded() -> Schedule {
    static SAVED: OnceLock<Vec<u8>> = OnceLock::new();
    let bytes = SAVED.get_or_init(|| {
        let mut schedule = Schedule::new();
        let edit = Edit {
            author: "fuzz@seed".into(),
            now_ms: 1,
        };
        for id in ["ana", "bo"] {
            let staff = Staff::new(shiftmesh_model::Id::parse(id).unwrap(), id.to_owned());
            schedule.add(&edit, &staff, format!("add {id}")).unwrap();
        }
        schedule.doc_mut().save()
    });
    let doc = AutoCommit::load(bytes).expect("the seed loads");
    Schedule::from_doc(doc).expect("the seed is a schedule")
}

fn failure(outputs: &[Output<u8>]) -> Option<String> {
    outputs.iter().find_map(|o| match o {
        Output::SessionEnded {
            outcome: shiftmesh_sync::Outcome::Failed(e),
            ..
        } => Some(e.to_string()),
        _ => None,
    })
}

/// A peer's sync message, both as the first request of its session and as the answer to
/// ours. Every request gets exactly one answer.
pub fn sync_message(data: &[u8]) -> Result<(), String> {
    let mut schedule = seeded();
    let mut engine = Engine::<u8>::new(Limits::default());
    let connected = Input::Connected {
        peer: 1,
        saved: SavedStates::default(),
        initiate: true,
    };
    engine.handle(&mut schedule, 0, connected);
    let request = SyncRequest {
        start: true,
        message: data.to_vec(),
        signatures: Vec::new(),
        want_signatures: Vec::new(),
    };
    let outputs = engine.handle(&mut schedule, 1, Input::Request { peer: 1, request });
    let answers = outputs
        .iter()
        .filter(|o| matches!(o, Output::Respond { .. }))
        .count();
    assert_eq!(answers, 1, "a request got {answers} answers");
    let response = SyncResponse {
        message: Some(data.to_vec()),
        ..SyncResponse::nothing()
    };
    let outputs = engine.handle(&mut schedule, 2, Input::Response { peer: 1, response });
    match failure(&outputs) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub fn announcement(data: &[u8]) -> Result<(), String> {
    let announcement: Announcement = ciborium::from_reader(data).map_err(|e| e.to_string())?;
    announcement.heads().map(|_| ()).map_err(|e| e.to_string())
}

pub fn join_message(data: &[u8]) -> Result<(), String> {
    let request = ciborium::from_reader::<JoinRequest, _>(data).map_err(|e| e.to_string());
    let response = ciborium::from_reader::<JoinResponse, _>(data).map_err(|e| e.to_string());
    match (request, response) {
        (Ok(request), _) => request.check().map_err(|e| e.to_string()),
        (_, Ok(_)) => Ok(()),
        (Err(e), Err(_)) => Err(e),
    }
}

/// A document as the store, `restore` and a first sync load it.
pub fn document(data: &[u8]) -> Result<(), String> {
    let doc = shiftmesh_model::load_untrusted(data).map_err(|e| e.to_string())?;
    Schedule::from_doc(doc)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A backup file merged into a schedule (`merge`).
pub fn backup_merge(data: &[u8]) -> Result<(), String> {
    seeded()
        .merge_bytes(data)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub fn index_snapshot(data: &[u8]) -> Result<(), String> {
    Index::from_snapshot(data)
        .map(|_| ())
        .ok_or_else(|| "not an index snapshot".to_owned())
}

pub fn csv_import(data: &[u8]) -> Result<(), String> {
    shiftmesh_app::check_csv(data, &seeded())
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
}

pub fn invite(data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    shiftmesh_app::Invite::decode(text).map(|_| ())
}
