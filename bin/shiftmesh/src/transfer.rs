//! Moving data in and out: CSV import and export, JSON and iCalendar export, backup, restore
//! and merge by file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use shiftmesh_model::entity::{
    check_multiline_text, check_name, check_text, exportable_text, normalize_line_breaks,
};
use shiftmesh_model::time::{format_datetime, format_time, parse_date, parse_datetime, parse_time};
use shiftmesh_model::{
    Assignment, AssignmentKey, Availability, AvailabilityKind, Batch, Collection, Department, Id,
    LocalSpan, Schedule, Shift, SiteZone, Staff, View,
};
use shiftmesh_store::{write_file_atomically, Store};

use crate::cli::{BackupArgs, ExportArgs, ExportFormat, ImportArgs, MergeArgs, RestoreArgs};
use crate::context::{now_ms, Context};
use crate::output;
use crate::views::hours;

/// A progress bar appears only once work has taken this long.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);
/// The largest CSV file accepted, in bytes (a YEAR profile is about 10 MB).
const CSV_FILE_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// The largest backup file accepted, in bytes.
const BACKUP_FILE_MAX_BYTES: u64 = 1024 * 1024 * 1024;

/// The five kinds of CSV file, by header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CsvKind {
    Departments,
    Staff,
    Shifts,
    Assignments,
    Availability,
}

impl CsvKind {
    const ALL: [CsvKind; 5] = [
        CsvKind::Departments,
        CsvKind::Staff,
        CsvKind::Shifts,
        CsvKind::Assignments,
        CsvKind::Availability,
    ];

    fn columns(self) -> &'static [&'static str] {
        match self {
            CsvKind::Departments => &["id", "name", "time_zone"],
            CsvKind::Staff => &["id", "name", "department", "skills", "max_hours_week"],
            CsvKind::Shifts => &[
                "id",
                "department",
                "date",
                "start",
                "end",
                "capacity",
                "min_staff",
                "skills",
                "label",
            ],
            CsvKind::Assignments => &["staff", "shift", "role", "note"],
            CsvKind::Availability => &["staff", "from", "to", "kind", "reason"],
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            CsvKind::Departments => "departments.csv",
            CsvKind::Staff => "staff.csv",
            CsvKind::Shifts => "shifts.csv",
            CsvKind::Assignments => "assignments.csv",
            CsvKind::Availability => "availability.csv",
        }
    }

    /// Which kind a header row describes. Columns may come in any order; a column that belongs
    /// to no kind is an error that names it.
    fn of_header(header: &[String]) -> Result<CsvKind, String> {
        let given: BTreeSet<&str> = header.iter().map(|h| h.trim()).collect();
        let best = CsvKind::ALL
            .into_iter()
            .max_by_key(|k| k.columns().iter().filter(|c| given.contains(*c)).count())
            .unwrap_or(CsvKind::Staff);
        let expected: BTreeSet<&str> = best.columns().iter().copied().collect();
        let extra: Vec<&str> = given.difference(&expected).copied().collect();
        let missing: Vec<&str> = expected.difference(&given).copied().collect();
        if extra.is_empty() && missing.is_empty() {
            return Ok(best);
        }
        let mut message = String::from("the header row does not match any import format");
        if !extra.is_empty() {
            let _ = write!(message, "; unknown column(s): {}", extra.join(", "));
        }
        if !missing.is_empty() {
            let _ = write!(
                message,
                "; missing for {}: {}",
                best.file_name(),
                missing.join(", ")
            );
        }
        Err(message)
    }
}

/// A row being read, for error messages that say `FILE:LINE: what is wrong`.
struct Row<'a> {
    origin: String,
    columns: &'a BTreeMap<String, usize>,
    record: &'a csv::StringRecord,
}

impl Row<'_> {
    fn get(&self, column: &str) -> &str {
        self.columns
            .get(column)
            .and_then(|i| self.record.get(*i))
            .map(str::trim)
            .unwrap_or("")
    }

    fn fail(&self, message: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{}: {message}", self.origin)
    }

    fn id(&self, column: &str) -> anyhow::Result<Id> {
        Id::parse(self.get(column)).map_err(|e| self.fail(format!("{column}: {e}")))
    }

    fn optional_id(&self, column: &str) -> anyhow::Result<Option<Id>> {
        if self.get(column).is_empty() {
            Ok(None)
        } else {
            self.id(column).map(Some)
        }
    }

    fn skills(&self, column: &str) -> anyhow::Result<BTreeSet<String>> {
        self.get(column)
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                Id::parse(s)
                    .map(|id| id.to_string())
                    .map_err(|e| self.fail(format!("{column}: {e}")))
            })
            .collect()
    }

    fn number(&self, column: &str, default: u32) -> anyhow::Result<u32> {
        let text = self.get(column);
        if text.is_empty() {
            return Ok(default);
        }
        text.parse()
            .map_err(|_| self.fail(format!("{column}: '{text}' is not a whole number")))
    }

    /// A cell as written, untrimmed: free text keeps its spaces, so an export reads back
    /// exactly.
    fn raw(&self, column: &str) -> &str {
        self.columns
            .get(column)
            .and_then(|i| self.record.get(*i))
            .unwrap_or("")
    }

    /// One line of free text (a name, a label).
    fn text(&self, column: &str) -> anyhow::Result<String> {
        let text = self.raw(column).to_owned();
        check_text(column, &text).map_err(|e| self.fail(e))?;
        Ok(text)
    }

    /// Free text that may run over several lines (a note, a reason): the same rule as the
    /// command line's, and the one exports write by.
    fn multiline(&self, column: &str) -> anyhow::Result<String> {
        let text = normalize_line_breaks(self.raw(column));
        check_multiline_text(column, &text).map_err(|e| self.fail(e))?;
        Ok(text)
    }
}

/// Line numbers of a file's records, from their byte offsets. (The csv crate's own count is
/// one short on CRLF files.) Records come in order, so the count carries on from the last.
struct Lines<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl Lines<'_> {
    /// The line on which the record at `offset` starts (1-based); a CR, LF or CRLF ends a
    /// line. On a CRLF file the csv crate reports a record's offset between the CR and the LF
    /// that end the line before it, so line breaks at the offset are stepped over first.
    fn at(&mut self, offset: u64) -> u64 {
        let mut offset = (offset as usize).min(self.bytes.len());
        while matches!(self.bytes.get(offset), Some(b'\n' | b'\r')) {
            offset += 1;
        }
        if offset < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        let mut i = self.offset;
        while i < offset {
            match self.bytes[i] {
                b'\n' => self.line += 1,
                b'\r' if self.bytes.get(i + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
            i += 1;
        }
        self.offset = offset;
        self.line
    }
}

/// What an import will write, each entity with the row it came from.
#[derive(Default)]
struct Incoming {
    batch: Batch,
    origins: BTreeMap<(Collection, String), String>,
}

impl Incoming {
    fn claim(
        &mut self,
        collection: Collection,
        key: String,
        origin: &str,
        schedule: &Schedule,
    ) -> anyhow::Result<()> {
        if schedule.exists(collection, &key) {
            bail!("{origin}: {} '{key}' already exists", collection.noun());
        }
        if let Some(first) = self.origins.get(&(collection, key.clone())) {
            bail!(
                "{origin}: {} '{key}' is also defined at {first}",
                collection.noun()
            );
        }
        self.origins.insert((collection, key), origin.to_owned());
        Ok(())
    }

    fn has(&self, collection: Collection, key: &str, schedule: &Schedule) -> bool {
        schedule.exists(collection, key) || self.origins.contains_key(&(collection, key.to_owned()))
    }
}

fn read_rows(
    path: &Path,
    schedule: &Schedule,
    incoming: &mut Incoming,
    now: i64,
    author: &str,
    kinds: &mut Vec<(PathBuf, CsvKind)>,
) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.len() > CSV_FILE_MAX_BYTES {
        bail!(
            "{}: the file is {} bytes; the limit is {CSV_FILE_MAX_BYTES}",
            path.display(),
            meta.len()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let name = path.display().to_string();
    let kind = read_csv(&name, &bytes, schedule, incoming, now, author)?;
    kinds.push((path.to_owned(), kind));
    Ok(())
}

/// Reads one CSV file's rows into `incoming`; `name` is how errors refer to the file.
fn read_csv(
    name: &str,
    input: &[u8],
    schedule: &Schedule,
    incoming: &mut Incoming,
    now: i64,
    author: &str,
) -> anyhow::Result<CsvKind> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("{name}:1: the header row cannot be read"))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
        .collect();
    let kind = CsvKind::of_header(&header).map_err(|e| anyhow::anyhow!("{name}:1: {e}"))?;
    let columns: BTreeMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.clone(), i))
        .collect();
    let mut lines = Lines {
        bytes: input,
        offset: 0,
        line: 1,
    };
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| lines.at(p.byte()));
            anyhow::anyhow!("{name}:{line}: {e}")
        })?;
        let line = record.position().map_or(0, |p| lines.at(p.byte()));
        let row = Row {
            origin: format!("{name}:{line}"),
            columns: &columns,
            record: &record,
        };
        read_row(kind, &row, schedule, incoming, now, author)?;
    }
    Ok(kind)
}

/// Reads one CSV file's bytes the way `import` does, against `schedule`, and returns how many
/// entities it holds; nothing is written. The fuzz targets and the corpus replay use it.
pub fn check_csv(bytes: &[u8], schedule: &Schedule) -> anyhow::Result<usize> {
    if bytes.len() as u64 > CSV_FILE_MAX_BYTES {
        bail!(
            "the file is {} bytes; the limit is {CSV_FILE_MAX_BYTES}",
            bytes.len()
        );
    }
    let mut incoming = Incoming::default();
    read_csv(
        "input.csv",
        bytes,
        schedule,
        &mut incoming,
        0,
        "check@check",
    )?;
    check_references(&incoming, schedule)?;
    Ok(incoming.batch.len())
}

fn read_row(
    kind: CsvKind,
    row: &Row<'_>,
    schedule: &Schedule,
    incoming: &mut Incoming,
    now: i64,
    author: &str,
) -> anyhow::Result<()> {
    match kind {
        CsvKind::Departments => {
            let zone = row.get("time_zone");
            if !zone.is_empty() {
                SiteZone::parse(zone).map_err(|e| row.fail(e))?;
            }
            let d = Department {
                id: row.id("id")?,
                name: row.text("name")?,
                time_zone: (!zone.is_empty()).then(|| zone.to_owned()),
            };
            check_name("name", &d.name).map_err(|e| row.fail(e))?;
            incoming.claim(
                Collection::Departments,
                d.id.to_string(),
                &row.origin,
                schedule,
            )?;
            incoming.batch.departments.push(d);
        }
        CsvKind::Staff => {
            let max = row.get("max_hours_week");
            let s = Staff {
                department: row.optional_id("department")?,
                skills: row.skills("skills")?,
                max_minutes_week: if max.is_empty() {
                    None
                } else {
                    Some(crate::cli::parse_hours(max).map_err(|e| row.fail(e))?)
                },
                ..Staff::new(row.id("id")?, row.text("name")?)
            };
            s.check().map_err(|e| row.fail(e))?;
            incoming.claim(Collection::Staff, s.id.to_string(), &row.origin, schedule)?;
            incoming.batch.staff.push(s);
        }
        CsvKind::Shifts => {
            let capacity = row.number("capacity", 1)?;
            let s = Shift {
                id: row.id("id")?,
                department: row.optional_id("department")?,
                date: parse_date(row.get("date")).map_err(|e| row.fail(e))?,
                start: parse_time(row.get("start")).map_err(|e| row.fail(e))?,
                end: parse_time(row.get("end")).map_err(|e| row.fail(e))?,
                capacity,
                min_staff: row.number("min_staff", 1.min(capacity))?,
                skills: row.skills("skills")?,
                label: row.text("label")?,
            };
            s.check().map_err(|e| row.fail(e))?;
            incoming.claim(Collection::Shifts, s.id.to_string(), &row.origin, schedule)?;
            incoming.batch.shifts.push(s);
        }
        CsvKind::Assignments => {
            let a = Assignment {
                staff: row.id("staff")?,
                shift: row.id("shift")?,
                role: row.text("role")?,
                note: row.multiline("note")?,
                created_at_ms: now,
                created_by: author.to_owned(),
                window: None,
            };
            incoming.claim(
                Collection::Assignments,
                a.key().to_string(),
                &row.origin,
                schedule,
            )?;
            incoming.batch.assignments.push(a);
        }
        CsvKind::Availability => {
            let from =
                parse_datetime(row.get("from")).map_err(|e| row.fail(format!("from: {e}")))?;
            let to = parse_datetime(row.get("to")).map_err(|e| row.fail(format!("to: {e}")))?;
            let span = LocalSpan::new(from, to).map_err(|e| row.fail(e))?;
            let kind_text = row.get("kind");
            let kind = if kind_text.is_empty() {
                AvailabilityKind::Unavailable
            } else {
                AvailabilityKind::parse(kind_text).map_err(|e| row.fail(e))?
            };
            let staff = row.id("staff")?;
            let a = Availability {
                id: Availability::derive_id(&staff, &span, kind),
                staff,
                span,
                kind,
                reason: row.multiline("reason")?,
            };
            incoming.claim(
                Collection::Availability,
                a.id.to_string(),
                &row.origin,
                schedule,
            )?;
            incoming.batch.availability.push(a);
        }
    }
    Ok(())
}

/// Every reference in the import resolves, to the schedule or to the import itself.
fn check_references(incoming: &Incoming, schedule: &Schedule) -> anyhow::Result<()> {
    let origin =
        |c: Collection, k: String| incoming.origins.get(&(c, k)).cloned().unwrap_or_default();
    let department = |d: &Option<Id>, c: Collection, k: String| -> anyhow::Result<()> {
        if let Some(d) = d {
            if !incoming.has(Collection::Departments, d.as_str(), schedule) {
                bail!("{}: department '{d}' does not exist", origin(c, k));
            }
        }
        Ok(())
    };
    for s in &incoming.batch.staff {
        department(&s.department, Collection::Staff, s.id.to_string())?;
    }
    for s in &incoming.batch.shifts {
        department(&s.department, Collection::Shifts, s.id.to_string())?;
    }
    for a in &incoming.batch.assignments {
        let at = || origin(Collection::Assignments, a.key().to_string());
        if !incoming.has(Collection::Staff, a.staff.as_str(), schedule) {
            bail!("{}: staff member '{}' does not exist", at(), a.staff);
        }
        if !incoming.has(Collection::Shifts, a.shift.as_str(), schedule) {
            bail!("{}: shift '{}' does not exist", at(), a.shift);
        }
    }
    for a in &incoming.batch.availability {
        if !incoming.has(Collection::Staff, a.staff.as_str(), schedule) {
            bail!(
                "{}: staff member '{}' does not exist",
                origin(Collection::Availability, a.id.to_string()),
                a.staff
            );
        }
    }
    Ok(())
}

/// A progress bar on stderr that shows itself only when work takes longer than a second and
/// stderr is a terminal.
struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
}

impl Progress {
    fn new(total: usize, what: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta} left)")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        Progress {
            bar,
            started: Instant::now(),
            shown: false,
        }
    }

    fn set(&mut self, done: usize) {
        if !self.shown
            && !crate::output::capturing()
            && self.started.elapsed() > PROGRESS_AFTER
            && std::io::stderr().is_terminal()
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_position(done as u64);
    }

    fn message(&mut self, what: &str) {
        self.bar.set_message(what.to_owned());
    }

    fn finish(self) {
        self.bar.finish_and_clear();
    }
}

pub fn import(ctx: &mut Context, args: ImportArgs) -> anyhow::Result<()> {
    let s = ctx.db.open()?;
    let edit = s.edit();
    let mut incoming = Incoming::default();
    let mut kinds = Vec::new();
    // Departments and staff are read before what refers to them, whatever the order given.
    for path in &args.files {
        read_rows(
            path,
            &s.schedule,
            &mut incoming,
            edit.now_ms,
            &edit.author,
            &mut kinds,
        )?;
    }
    check_references(&incoming, &s.schedule)?;
    let total = incoming.batch.len();
    if total == 0 {
        bail!("nothing to import: the files hold no rows");
    }
    let mut progress = Progress::new(total, "importing");
    let files: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
    let message = format!(
        "import {} from {}",
        counts(&incoming.batch),
        files.join(", ")
    );
    s.schedule
        .add_many(&edit, &incoming.batch, message, &mut |done| {
            progress.set(done)
        })?;
    progress.message("saving");
    progress.set(total);
    s.persist()?;
    progress.finish();
    let b = &incoming.batch;
    let value = json!({"imported": {"departments": b.departments.len(), "staff": b.staff.len(), "shifts": b.shifts.len(),
                                    "assignments": b.assignments.len(), "availability": b.availability.len()}});
    output::either(ctx.json, &value, || format!("imported {}", counts(b)))
}

fn counts(b: &Batch) -> String {
    let parts: Vec<String> = [
        (b.departments.len(), "departments"),
        (b.staff.len(), "staff"),
        (b.shifts.len(), "shifts"),
        (b.assignments.len(), "assignments"),
        (b.availability.len(), "availability entries"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    parts.join(", ")
}

pub fn export(ctx: &mut Context, args: ExportArgs) -> anyhow::Result<()> {
    let r = ctx.db.read()?;
    let schedule = &r.view();
    if let Some(staff) = &args.staff {
        schedule.require(Collection::Staff, staff.as_str())?;
    }
    if let Some(d) = &args.department {
        schedule.require(Collection::Departments, d.as_str())?;
    }
    match args.format {
        ExportFormat::Json => {
            let value = export_json(schedule);
            match &args.out {
                Some(path) => {
                    write_file_atomically(path, serde_json::to_string_pretty(&value)?.as_bytes())?;
                    output::either(ctx.json, &json!({"written": path}), || {
                        format!("wrote {}", path.display())
                    })
                }
                None => output::json(&value),
            }
        }
        ExportFormat::Csv => {
            let Some(dir) = &args.out else {
                return Err(crate::UsageError(
                    "export --format csv needs --out DIR (it writes five files)".into(),
                )
                .into());
            };
            std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
            let written = export_csv(schedule, dir)?;
            output::either(ctx.json, &json!({"written": written}), || {
                format!(
                    "wrote {}",
                    written
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        }
        ExportFormat::Ics => {
            let site_id = r.identity().site_key.site_id();
            let text = export_ics(
                schedule,
                &site_id,
                args.staff.as_ref(),
                args.department.as_ref(),
            );
            match &args.out {
                Some(path) => {
                    write_file_atomically(path, text.as_bytes())?;
                    output::either(ctx.json, &json!({"written": path}), || {
                        format!("wrote {}", path.display())
                    })
                }
                None => output::text(&text),
            }
        }
    }
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
struct ExportNotes {
    replaced: usize,
    left_out: Vec<String>,
}

impl ExportNotes {
    fn line(&mut self, text: &str) -> String {
        self.clean(text, false)
    }

    fn lines(&mut self, text: &str) -> String {
        self.clean(text, true)
    }

    fn clean(&mut self, text: &str, multiline: bool) -> String {
        let (cleaned, changed) = exportable_text(text, multiline);
        self.replaced += usize::from(changed);
        cleaned
    }

    /// Notes the entities of `collections` that cannot be read, which the export leaves out.
    fn leave_out(&mut self, index: &shiftmesh_model::Index, collections: &[Collection]) {
        for (collection, key) in index.unreadable.keys() {
            if collections.contains(collection) {
                self.left_out.push(format!("{} {key}", collection.noun()));
            }
        }
    }

    /// Tells the user on stderr, so the exported data itself stays clean.
    fn report(&self) {
        if self.replaced > 0 {
            eprintln!(
                "note: {} value(s) held characters an import refuses (line breaks in names or labels, control characters); they were written with spaces in their place",
                self.replaced
            );
        }
        if !self.left_out.is_empty() {
            eprintln!(
                "note: left out what this version cannot read: {} (see 'shiftmesh conflicts --kind unreadable-field')",
                self.left_out.join(", ")
            );
        }
    }
}

fn export_csv(schedule: &View, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let index = schedule.index();
    let mut notes = ExportNotes::default();
    notes.leave_out(index, &Collection::ALL);
    let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(";");
    let opt = |id: &Option<Id>| id.as_ref().map(Id::to_string).unwrap_or_default();
    let mut written = Vec::new();
    for kind in CsvKind::ALL {
        let rows: Vec<Vec<String>> = match kind {
            CsvKind::Departments => index
                .departments
                .values()
                .map(|d| {
                    vec![
                        d.id.to_string(),
                        notes.line(&d.name),
                        d.time_zone.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
            CsvKind::Staff => index
                .staff
                .values()
                .map(|s| {
                    vec![
                        s.id.to_string(),
                        notes.line(&s.name),
                        opt(&s.department),
                        join(&s.skills),
                        s.max_minutes_week.map(hours).unwrap_or_default(),
                    ]
                })
                .collect(),
            CsvKind::Shifts => index
                .shifts
                .values()
                .map(|s| {
                    vec![
                        s.id.to_string(),
                        opt(&s.department),
                        s.date.to_string(),
                        format_time(s.start),
                        format_time(s.end),
                        s.capacity.to_string(),
                        s.min_staff.to_string(),
                        join(&s.skills),
                        notes.line(&s.label),
                    ]
                })
                .collect(),
            CsvKind::Assignments => index
                .assignments
                .values()
                .map(|a| {
                    vec![
                        a.staff.to_string(),
                        a.shift.to_string(),
                        notes.line(&a.role),
                        notes.lines(&a.note),
                    ]
                })
                .collect(),
            CsvKind::Availability => index
                .availability
                .values()
                .map(|a| {
                    vec![
                        a.staff.to_string(),
                        format_datetime(a.span.from),
                        format_datetime(a.span.to),
                        a.kind.as_str().to_owned(),
                        notes.lines(&a.reason),
                    ]
                })
                .collect(),
        };
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(kind.columns())?;
        for row in rows {
            writer.write_record(&row)?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| anyhow::anyhow!("csv: {e}"))?;
        let path = dir.join(kind.file_name());
        write_file_atomically(&path, &bytes)?;
        written.push(path);
    }
    notes.report();
    Ok(written)
}

/// Escapes text for an iCalendar TEXT value (RFC 5545 §3.3.11): backslash, semicolon and
/// comma are escaped, a line break (LF, CRLF or CR) becomes `\n`, and the other control
/// characters, which TEXT does not allow (tab aside), are dropped.
fn ics_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in normalize_line_breaks(text).chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets, as RFC 5545 §3.1 requires.
fn ics_line(out: &mut String, line: &str) {
    let mut width = 0;
    for ch in line.chars() {
        if width + ch.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += ch.len_utf8();
    }
    out.push_str("\r\n");
}

fn ics_instant(t: jiff::Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// A shift's event: its real interval, and a note when its local times do not exist as
/// written (a DST gap), in which case a start that cannot be placed keeps the shift's planned
/// length instead of collapsing to nothing.
fn ics_interval(
    shift: &Shift,
    zone: &shiftmesh_model::SiteZone,
) -> (shiftmesh_model::Interval, Option<String>) {
    let time = shift.time();
    let placed = time.placed(zone);
    if !placed.start_in_gap && !placed.end_in_gap {
        return (placed.interval, None);
    }
    let planned = jiff::Span::new().minutes(
        time.start_local()
            .until(time.end_local())
            .ok()
            .and_then(|span| span.total(jiff::Unit::Minute).ok())
            .map_or(0, |m| m as i64),
    );
    let mut interval = placed.interval;
    if interval.end <= interval.start {
        interval.end = interval.start.checked_add(planned).unwrap_or(interval.end);
    }
    let which = match (placed.start_in_gap, placed.end_in_gap) {
        (true, true) => "Its start and end do",
        (true, false) => "Its start does",
        _ => "Its end does",
    };
    let local = |t: jiff::Timestamp| format_time(zone.local(t).time());
    let note = format!(
        "{which} not exist on {} in {} (the clocks skip an hour): shown from {} to {}. Fix it with shiftmesh conflicts --kind invalid-shift-time.",
        shift.date,
        zone.name(),
        local(interval.start),
        local(interval.end)
    );
    (interval, Some(note))
}

fn export_ics(
    schedule: &View,
    site_id: &str,
    staff: Option<&Id>,
    department: Option<&Id>,
) -> String {
    let index = schedule.index();
    let zone = schedule.zone();
    let stamp = jiff::Timestamp::from_millisecond(now_ms()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let mut notes = ExportNotes::default();
    notes.leave_out(index, &[Collection::Shifts]);
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//shiftmesh//schedule//EN",
        "CALSCALE:GREGORIAN",
    ] {
        ics_line(&mut out, line);
    }
    let site = schedule
        .site()
        .name
        .clone()
        .unwrap_or_else(|| "shiftmesh".into());
    ics_line(
        &mut out,
        &format!(
            "X-WR-CALNAME:{}",
            ics_text(&match (staff, department) {
                (Some(s), _) => format!("{site}: {s}"),
                (None, Some(d)) => format!("{site}: {d}"),
                _ => site.clone(),
            })
        ),
    );
    for shift in index.shifts.values() {
        if department.is_some() && shift.department.as_ref() != department {
            continue;
        }
        let assigned: Vec<&Assignment> = index.assignments_of_shift(&shift.id).collect();
        if let Some(staff) = staff {
            if !assigned.iter().any(|a| a.staff == *staff) {
                continue;
            }
        }
        let (interval, gap_note) = ics_interval(shift, zone);
        let summary = if shift.label.is_empty() {
            shift.id.to_string()
        } else {
            format!("{} ({})", shift.label, shift.id)
        };
        // The site in every UID, so that two sites' calendars never collide in one client.
        let uid = match staff {
            Some(s) => format!(
                "{}@{site_id}.shiftmesh",
                AssignmentKey::new(shift.id.clone(), s.clone())
            ),
            None => format!("{}@{site_id}.shiftmesh", shift.id),
        };
        ics_line(&mut out, "BEGIN:VEVENT");
        ics_line(&mut out, &format!("UID:{}", ics_text(&uid)));
        ics_line(&mut out, &format!("DTSTAMP:{}", ics_instant(stamp)));
        ics_line(
            &mut out,
            &format!("DTSTART:{}", ics_instant(interval.start)),
        );
        ics_line(&mut out, &format!("DTEND:{}", ics_instant(interval.end)));
        ics_line(&mut out, &format!("SUMMARY:{}", ics_text(&summary)));
        if let Some(d) = &shift.department {
            ics_line(
                &mut out,
                &format!(
                    "LOCATION:{}",
                    ics_text(
                        index
                            .departments
                            .get(d)
                            .map_or(d.as_str(), |d| d.name.as_str())
                    )
                ),
            );
        }
        ics_line(
            &mut out,
            &format!(
                "DESCRIPTION:{}",
                ics_text(&ics_description(shift, &assigned, staff, gap_note))
            ),
        );
        ics_line(&mut out, "END:VEVENT");
    }
    ics_line(&mut out, "END:VCALENDAR");
    notes.report();
    out
}

/// Who works the shift, with each one's role and note (the exported person's first), its
/// coverage, and any note about its times.
fn ics_description(
    shift: &Shift,
    assigned: &[&Assignment],
    staff: Option<&Id>,
    gap_note: Option<String>,
) -> String {
    let person = |a: &Assignment| {
        let mut text = a.staff.to_string();
        match (a.role.is_empty(), a.note.is_empty()) {
            (true, true) => {}
            (false, true) => text.push_str(&format!(" (role: {})", a.role)),
            (true, false) => text.push_str(&format!(" (note: {})", a.note)),
            (false, false) => text.push_str(&format!(" (role: {}; note: {})", a.role, a.note)),
        }
        text
    };
    let mut lines = Vec::new();
    if let Some(mine) = staff.and_then(|s| assigned.iter().find(|a| a.staff == *s)) {
        if !mine.role.is_empty() {
            lines.push(format!("Role: {}", mine.role));
        }
        if !mine.note.is_empty() {
            lines.push(format!("Note: {}", mine.note));
        }
    }
    lines.push(format!(
        "Assigned ({}/{} min, capacity {}): {}",
        assigned.len(),
        shift.min_staff,
        shift.capacity,
        if assigned.is_empty() {
            "nobody".to_owned()
        } else {
            assigned
                .iter()
                .map(|a| person(a))
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    lines.extend(gap_note);
    lines.join("\n")
}

pub fn backup(ctx: &mut Context, args: BackupArgs) -> anyhow::Result<()> {
    let s = ctx.db.open()?;
    let bytes = s.schedule.doc_mut().save();
    write_file_atomically(&args.file, &bytes)?;
    let changes = s.schedule.change_count();
    output::either(
        ctx.json,
        &json!({"written": args.file, "bytes": bytes.len(), "changes": changes}),
        || {
            format!(
                "wrote {} ({} bytes, {changes} changes)",
                args.file.display(),
                bytes.len()
            )
        },
    )
}

/// Reads a backup file and checks it holds a shiftmesh schedule.
fn read_backup(path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.len() > BACKUP_FILE_MAX_BYTES {
        bail!(
            "{}: the file is {} bytes; the limit is {BACKUP_FILE_MAX_BYTES}",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("{}", path.display()))
}

pub fn restore(ctx: &mut Context, args: RestoreArgs) -> anyhow::Result<()> {
    let bytes = read_backup(&args.file)?;
    let doc = shiftmesh_model::load_untrusted(&bytes)
        .with_context(|| format!("{} is not a shiftmesh backup", args.file.display()))?;
    let mut schedule = Schedule::from_doc(doc)
        .with_context(|| format!("{} is not a shiftmesh backup", args.file.display()))?;
    if !Store::is_initialised(&ctx.data_dir) {
        bail!(
            "{} is not initialised; run 'shiftmesh init' first, then restore",
            ctx.data_dir.display()
        );
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(crate::UsageError(
                "restore replaces this node's schedule; pass --yes to confirm".into(),
            )
            .into());
        }
        eprint!(
            "Replace the schedule in {} with {}? [y/N] ",
            ctx.data_dir.display(),
            args.file.display()
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("restore cancelled; nothing changed");
        }
    }
    let aside = Store::replace(&ctx.data_dir, schedule.doc_mut())?;
    let changes = schedule.change_count();
    output::either(
        ctx.json,
        &json!({"restored": args.file, "changes": changes, "damaged_store_moved_to": aside}),
        || {
            let mut text = format!("restored {} ({changes} changes)", args.file.display());
            if let Some(aside) = &aside {
                let _ = write!(text, "; the damaged store was moved to {}", aside.display());
            }
            text
        },
    )
}

pub fn merge(ctx: &mut Context, args: MergeArgs) -> anyhow::Result<()> {
    let bytes = read_backup(&args.file)?;
    let s = ctx.db.open()?;
    let new = s
        .schedule
        .merge_bytes(&bytes)
        .with_context(|| format!("{} cannot be merged", args.file.display()))?
        .new_changes;
    s.persist()?;
    output::either(
        ctx.json,
        &json!({"merged": args.file, "new_changes": new}),
        || {
            if new == 0 {
                format!(
                    "{} holds no change this node lacks; nothing merged",
                    args.file.display()
                )
            } else {
                format!("merged {new} new change(s) from {}", args.file.display())
            }
        },
    )
}
