//! Moving data in and out: CSV import, JSON, CSV and iCalendar export, backup, restore and
//! merge. Files on this machine are read and written only for its owner; any caller may hand
//! the bytes over in the request instead.

use std::path::{Path, PathBuf};

use serde_json::json;
use shiftmesh_model::entity::exportable_text;
use shiftmesh_model::{Collection, Schedule, View};
use shiftmesh_store::{write_file_atomically, Store};

use crate::conflicts::Checked;
use crate::context::Context;
use crate::csv::{check_references, read_csv, Incoming, CSV_FILE_MAX_BYTES};
use crate::reply::{BackedUp, Counts, Exported, Imported, MergedFile, Reply, Restored};
use crate::request::{ExportFormat, Source};
use crate::{AppError, Result};

/// The largest backup accepted, in bytes.
pub const BACKUP_FILE_MAX_BYTES: u64 = 1024 * 1024 * 1024;

/// The bytes a source holds, within `max` bytes.
fn read_source(source: &Source, max: u64) -> Result<(String, Vec<u8>)> {
    match source {
        Source::Bytes { name, data } => {
            if data.len() as u64 > max {
                return Err(AppError::Invalid(format!(
                    "{name}: {} bytes; the limit is {max}",
                    data.len()
                )));
            }
            Ok((name.clone(), data.clone()))
        }
        Source::Path(path) => {
            let meta = std::fs::metadata(path).map_err(|e| AppError::file(path, e))?;
            if meta.len() > max {
                return Err(AppError::Invalid(format!(
                    "{}: the file is {} bytes; the limit is {max}",
                    path.display(),
                    meta.len()
                )));
            }
            let data = std::fs::read(path).map_err(|e| AppError::file(path, e))?;
            Ok((path.display().to_string(), data))
        }
    }
}

pub(crate) fn counts(b: &shiftmesh_model::Batch) -> Counts {
    Counts {
        departments: b.departments.len(),
        staff: b.staff.len(),
        shifts: b.shifts.len(),
        assignments: b.assignments.len(),
        availability: b.availability.len(),
    }
}

pub fn import(ctx: &mut Context, files: Vec<Source>) -> Result<Reply> {
    let edit = ctx.edit()?;
    let mut incoming = Incoming::default();
    let mut names = Vec::new();
    {
        let s = ctx.db.open()?;
        for source in &files {
            let (name, bytes) = read_source(source, CSV_FILE_MAX_BYTES)?;
            read_csv(
                &name,
                &bytes,
                &s.schedule,
                &mut incoming,
                edit.now_ms,
                &edit.author,
            )?;
            names.push(name);
        }
        check_references(&incoming, &s.schedule)?;
    }
    if incoming.batch.is_empty() {
        return Err(AppError::Invalid(
            "nothing to import: the files hold no rows".into(),
        ));
    }
    let imported = counts(&incoming.batch);
    let message = format!("import {} from {}", imported.describe(), names.join(", "));
    let conflicts = write_batch(ctx, &edit, &incoming.batch, message)?;
    Ok(Reply::Imported(Imported {
        imported,
        conflicts,
    }))
}

/// Writes many new entities as one change, with progress, persists it, and returns the
/// conflicts it brought, dated.
pub(crate) fn write_batch(
    ctx: &mut Context,
    edit: &shiftmesh_model::Edit,
    batch: &shiftmesh_model::Batch,
    message: String,
) -> Result<Vec<shiftmesh_rules::Conflict>> {
    let total = batch.len();
    let mut progress = ctx.progress.take();
    let (s, checked) = Checked::open(&mut ctx.db)?;
    let written = s.schedule.add_many(edit, batch, message, &mut |done| {
        if let Some(report) = progress.as_mut() {
            report("writing", done, total);
        }
    })?;
    if let Some(report) = progress.as_mut() {
        report("saving", total, total);
    }
    s.persist()?;
    Ok(checked.caused(&mut s.schedule, &written.dirty)?.brought)
}

pub fn export(
    ctx: &mut Context,
    format: ExportFormat,
    staff: Option<shiftmesh_model::Id>,
    department: Option<shiftmesh_model::Id>,
    out: Option<PathBuf>,
) -> Result<Reply> {
    let r = ctx.db.read()?;
    let schedule = r.view();
    if let Some(staff) = &staff {
        schedule.require(Collection::Staff, staff.as_str())?;
    }
    if let Some(d) = &department {
        schedule.require(Collection::Departments, d.as_str())?;
    }
    let mut notes = ExportNotes::default();
    match (format, out) {
        (ExportFormat::Json, None) => Ok(Reply::Exported(Exported::Content {
            json: Some(export_json(schedule)),
            text: None,
            notes: Vec::new(),
        })),
        (ExportFormat::Json, Some(path)) => {
            let text = serde_json::to_string_pretty(&export_json(schedule))
                .map_err(|e| AppError::Refused(format!("writing JSON: {e}")))?;
            write_file_atomically(&path, text.as_bytes())?;
            Ok(written(vec![path], notes))
        }
        (ExportFormat::Csv, None) => Err(AppError::Usage(
            "export --format csv needs --out DIR (it writes five files)".into(),
        )),
        (ExportFormat::Csv, Some(dir)) => {
            let files = crate::csv::export_csv(schedule, &mut notes)?;
            std::fs::create_dir_all(&dir).map_err(|e| AppError::file(&dir, e))?;
            let mut paths = Vec::new();
            for (name, bytes) in files {
                let path = dir.join(name);
                write_file_atomically(&path, &bytes)?;
                paths.push(path);
            }
            Ok(written(paths, notes))
        }
        (ExportFormat::Ics, out) => {
            let site_id = r.identity().site_key.site_id();
            let text = crate::ics::export_ics(
                schedule,
                &site_id,
                staff.as_ref(),
                department.as_ref(),
                &mut notes,
            );
            match out {
                Some(path) => {
                    write_file_atomically(&path, text.as_bytes())?;
                    Ok(written(vec![path], notes))
                }
                None => Ok(Reply::Exported(Exported::Content {
                    json: None,
                    text: Some(text),
                    notes: notes.into_lines(),
                })),
            }
        }
    }
}

fn written(paths: Vec<PathBuf>, notes: ExportNotes) -> Reply {
    Reply::Exported(Exported::Written {
        written: paths,
        notes: notes.into_lines(),
    })
}

fn export_json(schedule: &View) -> serde_json::Value {
    let index = schedule.index();
    json!({
        "site": {"name": schedule.site().name, "time_zone": schedule.zone().name()},
        "departments": index.departments.values().collect::<Vec<_>>(),
        "staff": index.staff.values().collect::<Vec<_>>(),
        "shifts": index.shifts.values().collect::<Vec<_>>(),
        "assignments": index.assignments.values().collect::<Vec<_>>(),
        "availability": index.availability.values().collect::<Vec<_>>(),
        "acknowledgements": index.acks.values().collect::<Vec<_>>(),
        // What this version cannot read, as stored, with what is wrong (see unreadable-field).
        "unreadable": Collection::ALL
            .into_iter()
            .flat_map(|c| {
                crate::views::unreadable(index, c)
                    .into_iter()
                    .map(move |u| json!({"collection": c.key(), "entity": u}))
            })
            .collect::<Vec<_>>(),
    })
}

/// What an export could not write as stored: values with characters the import refuses
/// (written with spaces in their place), and entities this version cannot read (left out).
#[derive(Default)]
pub struct ExportNotes {
    replaced: usize,
    left_out: Vec<String>,
}

impl ExportNotes {
    pub fn line(&mut self, text: &str) -> String {
        self.clean(text, false)
    }

    pub fn lines(&mut self, text: &str) -> String {
        self.clean(text, true)
    }

    fn clean(&mut self, text: &str, multiline: bool) -> String {
        let (cleaned, changed) = exportable_text(text, multiline);
        self.replaced += usize::from(changed);
        cleaned
    }

    /// Notes the entities of `collections` that cannot be read, which the export leaves out.
    pub fn leave_out(&mut self, index: &shiftmesh_model::Index, collections: &[Collection]) {
        for (collection, key) in index.unreadable.keys() {
            if collections.contains(collection) {
                self.left_out.push(format!("{} {key}", collection.noun()));
            }
        }
    }

    /// What to tell the user (on stderr, so that the exported data stays clean).
    pub fn into_lines(self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.replaced > 0 {
            lines.push(format!(
                "{} value(s) held characters an import refuses (line breaks in names or labels, control characters); they were written with spaces in their place",
                self.replaced
            ));
        }
        if !self.left_out.is_empty() {
            lines.push(format!(
                "left out what this version cannot read: {} (see 'shiftmesh conflicts --kind unreadable-field')",
                self.left_out.join(", ")
            ));
        }
        lines
    }
}

pub fn backup(ctx: &mut Context, file: Option<PathBuf>) -> Result<Reply> {
    let s = ctx.db.open()?;
    let bytes = s.schedule.doc_mut().save();
    let changes = s.schedule.change_count();
    let size = bytes.len();
    let data = match &file {
        Some(path) => {
            write_backup(path, &bytes, &s.schedule)?;
            Vec::new()
        }
        None => bytes,
    };
    Ok(Reply::BackedUp(BackedUp {
        written: file,
        bytes: size,
        changes,
        data,
    }))
}

/// Writes a backup (`bytes`, the whole document) to `path`, and beside it the signatures of its
/// changes (`PATH.signatures`, see [`shiftmesh_model::signature_file`]).
pub(crate) fn write_backup(path: &Path, bytes: &[u8], schedule: &Schedule) -> Result<()> {
    write_file_atomically(path, bytes)?;
    let signatures = shiftmesh_model::signature_file::encode(&schedule.signatures());
    write_file_atomically(&signatures_beside(path), &signatures)?;
    Ok(())
}

/// Where the signatures of the backup at `path` are.
pub(crate) fn signatures_beside(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(shiftmesh_model::signature_file::SUFFIX);
    PathBuf::from(name)
}

/// The signatures beside a backup read from a file, if there are any (a backup uploaded as
/// bytes, or carried without them, has none: its changes show as unverified until a peer
/// that holds their signatures is met).
fn signatures_of(source: &Source) -> Result<Vec<shiftmesh_model::ChangeSignature>> {
    let Source::Path(path) = source else {
        return Ok(Vec::new());
    };
    let beside = signatures_beside(path);
    if !beside.exists() {
        return Ok(Vec::new());
    }
    let (_, bytes) = read_source(&Source::Path(beside), BACKUP_FILE_MAX_BYTES)?;
    Ok(shiftmesh_model::signature_file::decode(&bytes))
}

/// Replaces the schedule of a data directory with a backup. Only with no node running (the
/// front end asks before it calls this).
pub fn restore(data_dir: &Path, source: &Source) -> Result<Reply> {
    let (name, bytes) = read_source(source, BACKUP_FILE_MAX_BYTES)?;
    let not_a_backup = |e: &dyn std::fmt::Display| {
        AppError::Invalid(format!("{name} is not a shiftmesh backup ({e})"))
    };
    let doc = shiftmesh_model::load_untrusted(&bytes).map_err(|e| not_a_backup(&e))?;
    let mut schedule = Schedule::from_doc(doc).map_err(|e| not_a_backup(&e))?;
    if !Store::is_initialised(data_dir) {
        return Err(AppError::Refused(format!(
            "{} is not initialised; run 'shiftmesh init' first, then restore",
            data_dir.display()
        )));
    }
    // Only the signatures that verify against their changes' machines are kept.
    schedule.accept_signatures(signatures_of(source)?);
    let aside = Store::replace(data_dir, schedule.doc_mut())?;
    let store = Store::open(data_dir)?.store;
    crate::session::save_signatures(&store, schedule.take_unsaved_signatures())?;
    store.flush_signatures()?;
    Ok(Reply::Restored(Restored {
        restored: name,
        changes: schedule.change_count(),
        damaged_store_moved_to: aside,
    }))
}

pub fn merge(ctx: &mut Context, source: Source) -> Result<Reply> {
    let (name, bytes) = read_source(&source, BACKUP_FILE_MAX_BYTES)?;
    let now_ms = ctx.edit()?.now_ms;
    let (s, checked) = Checked::open(&mut ctx.db)?;
    let before = s.schedule.heads();
    s.schedule.accept_signatures(signatures_of(&source)?);
    let merged = s
        .schedule
        .merge_bytes(&bytes)
        .map_err(|e| AppError::Invalid(format!("{name} cannot be merged: {e}")))?;
    s.persist()?;
    if merged.new_changes > 0 {
        // What this file brought, so that `revert --last-merge` can undo all of it at once.
        let hex = |heads: &[automerge::ChangeHash]| heads.iter().map(|h| h.to_string()).collect();
        let record = shiftmesh_store::MergeRecord {
            name: name.clone(),
            at_ms: now_ms,
            new_changes: merged.new_changes,
            before: hex(&before),
            after: hex(&s.schedule.heads()),
        };
        s.store.set_last_merge(Some(&record))?;
    }
    let conflicts = checked.caused(&mut s.schedule, &merged.dirty)?.brought;
    Ok(Reply::Merged(MergedFile {
        merged: name,
        new_changes: merged.new_changes,
        conflicts,
    }))
}
