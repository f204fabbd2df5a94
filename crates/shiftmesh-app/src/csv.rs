//! The CSV format: five kinds of file told apart by their header rows, read row by row into a
//! batch with errors naming `FILE:LINE`, and written back so that an export imports unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use shiftmesh_model::entity::{
    check_multiline_text, check_name, check_text, normalize_line_breaks,
};
use shiftmesh_model::time::{format_datetime, format_time, parse_date, parse_datetime, parse_time};
use shiftmesh_model::{
    Assignment, Availability, AvailabilityKind, Collection, Department, Id, LocalSpan, Schedule,
    Shift, SiteZone, Staff, View,
};

use crate::transfer::ExportNotes;
use crate::{AppError, Result};

/// The largest CSV file accepted, in bytes (a YEAR profile is about 10 MB).
pub const CSV_FILE_MAX_BYTES: u64 = 512 * 1024 * 1024;

fn invalid(message: impl std::fmt::Display) -> AppError {
    AppError::Invalid(message.to_string())
}

/// The five kinds of CSV file, by header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvKind {
    Departments,
    Staff,
    Shifts,
    Assignments,
    Availability,
}

impl CsvKind {
    pub const ALL: [CsvKind; 5] = [
        CsvKind::Departments,
        CsvKind::Staff,
        CsvKind::Shifts,
        CsvKind::Assignments,
        CsvKind::Availability,
    ];

    pub fn columns(self) -> &'static [&'static str] {
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

    pub fn file_name(self) -> &'static str {
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

    fn fail(&self, message: impl std::fmt::Display) -> AppError {
        invalid(format!("{}: {message}", self.origin))
    }

    fn id(&self, column: &str) -> Result<Id> {
        Id::parse(self.get(column)).map_err(|e| self.fail(format!("{column}: {e}")))
    }

    fn optional_id(&self, column: &str) -> Result<Option<Id>> {
        if self.get(column).is_empty() {
            Ok(None)
        } else {
            self.id(column).map(Some)
        }
    }

    fn skills(&self, column: &str) -> Result<BTreeSet<String>> {
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

    fn number(&self, column: &str, default: u32) -> Result<u32> {
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
    fn text(&self, column: &str) -> Result<String> {
        let text = self.raw(column).to_owned();
        check_text(column, &text).map_err(|e| self.fail(e))?;
        Ok(text)
    }

    /// Free text that may run over several lines (a note, a reason): the same rule as the
    /// command line's, and the one exports write by.
    fn multiline(&self, column: &str) -> Result<String> {
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
pub struct Incoming {
    pub batch: shiftmesh_model::Batch,
    origins: BTreeMap<(Collection, String), String>,
}

impl Incoming {
    fn claim(
        &mut self,
        collection: Collection,
        key: String,
        origin: &str,
        schedule: &Schedule,
    ) -> Result<()> {
        if schedule.exists(collection, &key) {
            return Err(invalid(format!(
                "{origin}: {} '{key}' already exists",
                collection.noun()
            )));
        }
        if let Some(first) = self.origins.get(&(collection, key.clone())) {
            return Err(invalid(format!(
                "{origin}: {} '{key}' is also defined at {first}",
                collection.noun()
            )));
        }
        self.origins.insert((collection, key), origin.to_owned());
        Ok(())
    }

    fn has(&self, collection: Collection, key: &str, schedule: &Schedule) -> bool {
        schedule.exists(collection, key) || self.origins.contains_key(&(collection, key.to_owned()))
    }
}

/// Reads one CSV file's rows into `incoming`; `name` is how errors refer to the file.
pub fn read_csv(
    name: &str,
    input: &[u8],
    schedule: &Schedule,
    incoming: &mut Incoming,
    now: i64,
    author: &str,
) -> Result<CsvKind> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| invalid(format!("{name}:1: the header row cannot be read ({e})")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
        .collect();
    let kind = CsvKind::of_header(&header).map_err(|e| invalid(format!("{name}:1: {e}")))?;
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
            invalid(format!("{name}:{line}: {e}"))
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
pub fn check_csv(bytes: &[u8], schedule: &Schedule) -> Result<usize> {
    if bytes.len() as u64 > CSV_FILE_MAX_BYTES {
        return Err(invalid(format!(
            "the file is {} bytes; the limit is {CSV_FILE_MAX_BYTES}",
            bytes.len()
        )));
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
) -> Result<()> {
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
                    Some(parse_hours(max).map_err(|e| row.fail(e))?)
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
pub fn check_references(incoming: &Incoming, schedule: &Schedule) -> Result<()> {
    let origin =
        |c: Collection, k: String| incoming.origins.get(&(c, k)).cloned().unwrap_or_default();
    let department = |d: &Option<Id>, c: Collection, k: String| -> Result<()> {
        if let Some(d) = d {
            if !incoming.has(Collection::Departments, d.as_str(), schedule) {
                return Err(invalid(format!(
                    "{}: department '{d}' does not exist",
                    origin(c, k)
                )));
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
            return Err(invalid(format!(
                "{}: staff member '{}' does not exist",
                at(),
                a.staff
            )));
        }
        if !incoming.has(Collection::Shifts, a.shift.as_str(), schedule) {
            return Err(invalid(format!(
                "{}: shift '{}' does not exist",
                at(),
                a.shift
            )));
        }
    }
    for a in &incoming.batch.availability {
        if !incoming.has(Collection::Staff, a.staff.as_str(), schedule) {
            return Err(invalid(format!(
                "{}: staff member '{}' does not exist",
                origin(Collection::Availability, a.id.to_string()),
                a.staff
            )));
        }
    }
    Ok(())
}

/// The five files of an export, each with its name and contents.
pub fn export_csv(
    schedule: &View,
    notes: &mut ExportNotes,
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let index = schedule.index();
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
        let failed = |e: &dyn std::fmt::Display| AppError::Refused(format!("writing CSV: {e}"));
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer
            .write_record(kind.columns())
            .map_err(|e| failed(&e))?;
        for row in rows {
            writer.write_record(&row).map_err(|e| failed(&e))?;
        }
        let bytes = writer.into_inner().map_err(|e| failed(&e))?;
        written.push((kind.file_name(), bytes));
    }
    Ok(written)
}

/// Hours as a decimal number ("38", "37.5"), returned in whole minutes.
pub fn parse_hours(text: &str) -> Result<u32, String> {
    let hours: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of hours"))?;
    if !(0.0..=168.0).contains(&hours) {
        return Err(format!("{text} hours a week is not between 0 and 168"));
    }
    Ok((hours * 60.0).round() as u32)
}

/// Minutes as hours for a file or a table: whole hours plain, others with up to two decimals.
pub fn hours(minutes: u32) -> String {
    if minutes.is_multiple_of(60) {
        format!("{}", minutes / 60)
    } else {
        format!("{:.2}", f64::from(minutes) / 60.0)
            .trim_end_matches('0')
            .to_owned()
    }
}
