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
use shiftmesh_model::entity::{check_name, check_text};
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

    fn text(&self, column: &str) -> anyhow::Result<String> {
        let text = self.get(column).to_owned();
        check_text(column, &text).map_err(|e| self.fail(e))?;
        Ok(text)
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
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let name = path.display().to_string();
    let kind = read_csv(&name, file, schedule, incoming, now, author)?;
    kinds.push((path.to_owned(), kind));
    Ok(())
}

/// Reads one CSV file's rows into `incoming`; `name` is how errors refer to the file.
fn read_csv(
    name: &str,
    input: impl std::io::Read,
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
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            anyhow::anyhow!("{name}:{line}: {e}")
        })?;
        let line = record.position().map_or(0, |p| p.line());
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
                note: row.text("note")?,
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
                reason: row.text("reason")?,
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
            let text = export_ics(schedule, args.staff.as_ref(), args.department.as_ref());
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
    })
}

fn export_csv(schedule: &View, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let index = schedule.index();
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
                        d.name.clone(),
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
                        s.name.clone(),
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
                        s.label.clone(),
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
                        a.role.clone(),
                        a.note.clone(),
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
                        a.reason.clone(),
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
    Ok(written)
}

/// Escapes text for an iCalendar property value (RFC 5545 §3.3.11).
fn ics_text(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
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

fn export_ics(schedule: &View, staff: Option<&Id>, department: Option<&Id>) -> String {
    let index = schedule.index();
    let zone = schedule.zone();
    let stamp = jiff::Timestamp::from_millisecond(now_ms()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
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
        let assigned: Vec<&str> = index
            .assignments_of_shift(&shift.id)
            .map(|a| a.staff.as_str())
            .collect();
        if let Some(staff) = staff {
            if !assigned.contains(&staff.as_str()) {
                continue;
            }
        }
        let interval = shift.time().interval(zone);
        let summary = if shift.label.is_empty() {
            shift.id.to_string()
        } else {
            format!("{} ({})", shift.label, shift.id)
        };
        let uid = match staff {
            Some(s) => format!(
                "{}@shiftmesh",
                AssignmentKey::new(shift.id.clone(), s.clone())
            ),
            None => format!("{}@shiftmesh", shift.id),
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
        let description = format!(
            "Assigned ({}/{} min, capacity {}): {}",
            assigned.len(),
            shift.min_staff,
            shift.capacity,
            if assigned.is_empty() {
                "nobody".to_owned()
            } else {
                assigned.join(", ")
            }
        );
        ics_line(&mut out, &format!("DESCRIPTION:{}", ics_text(&description)));
        ics_line(&mut out, "END:VEVENT");
    }
    ics_line(&mut out, "END:VCALENDAR");
    out
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
