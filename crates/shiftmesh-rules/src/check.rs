//! The checks. Every conflict belongs to exactly one *scope* (a staff member, a shift, an
//! assignment or an entity's fields), and a scope's conflicts depend only on data reachable from
//! it. The full pass checks every scope; the incremental pass re-checks the scopes a change
//! touched. Both call the same [`check`], so they agree by construction, and a property test
//! holds them to it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::Timestamp;
use shiftmesh_model::time::Placed;
use shiftmesh_model::time::{format_time, SHIFT_MAX_MINUTES};
use shiftmesh_model::{
    Assignment, AssignmentKey, Availability, Collection, Concurrent, Entity, Id, Index, Interval,
    Shift, SiteZone, Staff,
};

use crate::conflict::{
    conflict_id, Conflict, Fingerprint, Kind, OptionId, ResolutionOption, WrittenValue,
};

/// What of a shift its conflicts are about (its label and id are not).
fn with_shift(f: Fingerprint, shift: &Shift) -> Fingerprint {
    let skills: Vec<&str> = shift.skills.iter().map(String::as_str).collect();
    f.add(shift.time().encode())
        .add(shift.capacity.to_string())
        .add(shift.min_staff.to_string())
        .add(skills.join(";"))
        .add(shift.department.as_ref().map_or("", |d| d.as_str()))
}

/// What of an assignment its conflicts are about.
fn with_assignment(f: Fingerprint, a: &Assignment) -> Fingerprint {
    f.add(a.key().to_string())
        .add(a.created_at_ms.to_string())
        .add(a.window.map(|w| w.encode()).unwrap_or_default())
}

/// The shortest rest between two shifts of one person, unless configured otherwise.
pub const MIN_REST_MINUTES_DEFAULT: i64 = 10 * 60;
/// Split points of `split-time` are rounded to this many minutes.
pub const SPLIT_ROUND_MINUTES: i64 = 15;

/// Site-wide rule settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub min_rest_minutes: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_rest_minutes: MIN_REST_MINUTES_DEFAULT,
        }
    }
}

/// Everything the checks read.
pub struct Input<'a> {
    pub index: &'a Index,
    pub zone: &'a SiteZone,
    pub concurrent: &'a Concurrent,
    pub settings: Settings,
    /// Departments that keep their own zone.
    department_zones: BTreeMap<Id, SiteZone>,
}

impl<'a> Input<'a> {
    pub fn new(index: &'a Index, zone: &'a SiteZone, concurrent: &'a Concurrent) -> Input<'a> {
        let department_zones = index
            .departments
            .values()
            .filter_map(|d| {
                let zone = SiteZone::parse(d.time_zone.as_deref()?).ok()?;
                Some((d.id.clone(), zone))
            })
            .collect();
        Input {
            index,
            zone,
            concurrent,
            settings: Settings::default(),
            department_zones,
        }
    }

    /// The zone a shift's times are in: its department's, else the site's.
    pub fn zone_of(&self, shift: &Shift) -> &SiteZone {
        shift
            .department
            .as_ref()
            .and_then(|d| self.department_zones.get(d))
            .unwrap_or(self.zone)
    }

    /// The interval an assignment covers: its window if `split-time` set one, else its shift's.
    pub fn interval(&self, assignment: &Assignment, shift: &Shift) -> Interval {
        let zone = self.zone_of(shift);
        match assignment.window {
            Some(window) => window.interval(zone),
            None => shift.time().interval(zone),
        }
    }

    /// "HH:MM" of an instant in a shift's zone, with the date when it is not the shift's.
    pub fn local(&self, shift: &Shift, at: Timestamp) -> String {
        let local = self.zone_of(shift).local(at);
        if local.date() == shift.date {
            format_time(local.time())
        } else {
            format!("{} {}", local.date(), format_time(local.time()))
        }
    }

    pub fn live_shift(&self, id: &Id) -> Option<&'a Shift> {
        self.index.shifts.get(id)
    }

    pub fn live_staff(&self, id: &Id) -> Option<&'a Staff> {
        self.index.staff.get(id)
    }
}

/// What a conflict belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    StaffWeek(Id, Week),
    Shift(Id),
    Assignment(AssignmentKey),
    Entity(Collection, String),
}

/// Every scope of the schedule (what the full pass checks), each once.
pub fn for_each_scope(input: &Input<'_>, mut f: impl FnMut(Scope)) {
    let index = input.index;
    for id in index.staff.keys() {
        for week in weeks_of_staff(id, index) {
            f(Scope::StaffWeek(id.clone(), week));
        }
    }
    index
        .shifts
        .keys()
        .cloned()
        .map(Scope::Shift)
        .for_each(&mut f);
    index
        .assignments
        .keys()
        .cloned()
        .map(Scope::Assignment)
        .for_each(&mut f);
    input
        .concurrent
        .keys()
        .map(|(c, k)| Scope::Entity(*c, k.clone()))
        .for_each(&mut f);
}

/// The conflicts of one scope.
pub fn check(scope: &Scope, input: &Input<'_>) -> Vec<Conflict> {
    match scope {
        Scope::StaffWeek(id, week) => check_staff_week(id, *week, input),
        Scope::Shift(id) => check_shift(id, input),
        Scope::Assignment(key) => check_assignment(key, input),
        Scope::Entity(collection, key) => check_entity(*collection, key, input),
    }
}

/// The full pass: every conflict of the schedule, sorted (errors first, then by kind and id).
pub fn full_pass(input: &Input<'_>) -> Vec<Conflict> {
    let mut all = Vec::new();
    for_each_scope(input, |scope| all.extend(check(&scope, input)));
    sort(&mut all);
    all
}

pub fn sort(conflicts: &mut [Conflict]) {
    conflicts.sort_by(|a, b| (a.severity, a.kind, &a.id).cmp(&(b.severity, b.kind, &b.id)));
}

/// "First" is the assignment created first, then the smaller key, the same on every node.
pub fn creation_order(a: &Assignment) -> (i64, AssignmentKey) {
    (a.created_at_ms, a.key())
}

/// One assignment of a person, with its live shift and interval.
struct Held<'a> {
    assignment: &'a Assignment,
    shift: &'a Shift,
    interval: Interval,
}

/// Orders one person's assignments by time (then shift id: the person is the same).
fn sort_held(held: &mut [Held<'_>]) {
    held.sort_by(|a, b| {
        (a.interval.start, a.interval.end, &a.assignment.shift).cmp(&(
            b.interval.start,
            b.interval.end,
            &b.assignment.shift,
        ))
    });
}

/// The whole schedule in one sweep, every scope's conflicts passed to `emit` (scopes without
/// conflicts may be left out). Assignments are ordered by shift, so walking them alongside the
/// shifts pairs each with its shift without a lookup, and each shift's interval is computed
/// once. The checks are the per-scope ones; only the gathering differs from [`check`].
pub fn sweep(input: &Input<'_>, mut emit: impl FnMut(Scope, Vec<Conflict>)) {
    let index = input.index;
    let live_staff: HashSet<&Id> = index.staff.keys().collect();
    let mut by_staff: HashMap<&Id, Vec<Held<'_>>> = HashMap::with_capacity(index.staff.len());
    let mut blocks: HashMap<&Id, Blocks<'_>> = HashMap::with_capacity(index.staff.len());
    for entry in index.availability.values() {
        if entry.kind.blocks_work() && live_staff.contains(&entry.staff) {
            blocks
                .entry(&entry.staff)
                .or_default()
                .push((entry, entry.span.interval(input.zone)));
        }
    }
    let mut assignments = index.assignments.iter().peekable();
    let dangling =
        |a: &Assignment, shift_live: bool, emit: &mut dyn FnMut(Scope, Vec<Conflict>)| {
            let staff_live = live_staff.contains(&a.staff);
            let found = check_assignment_with(a, shift_live, staff_live, input);
            if !found.is_empty() {
                emit(Scope::Assignment(a.key()), found);
            }
        };
    for (shift_id, shift) in &index.shifts {
        // Assignments to shifts that sort before this one have no live shift.
        while let Some((key, a)) = assignments.peek() {
            if key.shift >= *shift_id {
                break;
            }
            dangling(a, false, &mut emit);
            assignments.next();
        }
        let placed = shift.time().placed(input.zone_of(shift));
        let interval = placed.interval;
        let mut assigned = Vec::new();
        while let Some((key, a)) = assignments.peek() {
            if key.shift != *shift_id {
                break;
            }
            if live_staff.contains(&key.staff) {
                assigned.push(*a);
                by_staff.entry(&key.staff).or_default().push(Held {
                    interval: match a.window {
                        Some(_) => input.interval(a, shift),
                        None => interval,
                    },
                    assignment: a,
                    shift,
                });
            } else {
                dangling(a, true, &mut emit);
            }
            assignments.next();
        }
        let found = check_shift_with(shift, assigned, &placed, input);
        if !found.is_empty() {
            emit(Scope::Shift(shift_id.clone()), found);
        }
    }
    for (_, a) in assignments {
        dangling(a, false, &mut emit);
    }
    for (id, staff) in &index.staff {
        let found = check_staff_held(
            staff,
            by_staff.remove(id).unwrap_or_default(),
            blocks.remove(id).unwrap_or_default(),
            input,
        );
        let mut by_week: BTreeMap<Week, Vec<Conflict>> = BTreeMap::new();
        for (week, conflict) in found {
            by_week.entry(week).or_default().push(conflict);
        }
        for (week, conflicts) in by_week {
            emit(Scope::StaffWeek(id.clone(), week), conflicts);
        }
    }
    for (collection, key) in input.concurrent.keys() {
        let found = check_entity(*collection, key, input);
        if !found.is_empty() {
            emit(Scope::Entity(*collection, key.clone()), found);
        }
    }
}

fn minutes(a: Timestamp, b: Timestamp) -> i64 {
    (b.as_second() - a.as_second()) / 60
}

fn hours(minutes: i64) -> String {
    if minutes % 60 == 0 {
        format!("{} h", minutes / 60)
    } else {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    }
}

fn key_of(a: &Assignment) -> String {
    a.key().to_string()
}

/// The conflicts of one week of one person: those anchored in that week (a pair by its earlier
/// assignment, the others by their assignment or week). Pairs can reach into the weeks either
/// side, so those are read too.
fn check_staff_week(id: &Id, week: Week, input: &Input<'_>) -> Vec<Conflict> {
    let Some(staff) = input.live_staff(id) else {
        return Vec::new();
    };
    let Some(monday) = monday_of(week) else {
        return Vec::new();
    };
    let from = monday
        .checked_sub(jiff::Span::new().days(7))
        .unwrap_or(monday);
    let to = monday
        .checked_add(jiff::Span::new().days(13))
        .unwrap_or(monday);
    let held: Vec<Held<'_>> = input
        .index
        .assignments_of_staff_between(id, from, to)
        .filter_map(|assignment| {
            let shift = input.live_shift(&assignment.shift)?;
            Some(Held {
                interval: input.interval(assignment, shift),
                assignment,
                shift,
            })
        })
        .collect();
    check_staff_held(staff, held, blocks_of(id, input), input)
        .into_iter()
        .filter(|(anchor, _)| *anchor == week)
        .map(|(_, conflict)| conflict)
        .collect()
}

/// An ISO week, as (year, week).
pub type Week = (i16, i8);

/// The ISO week of a date.
pub fn week_of(date: jiff::civil::Date) -> Week {
    let week = date.iso_week_date();
    (week.year(), week.week())
}

fn monday_of((year, week): Week) -> Option<jiff::civil::Date> {
    jiff::civil::ISOWeekDate::new(year, week, jiff::civil::Weekday::Monday)
        .ok()
        .map(|w| w.date())
}

/// The weeks in which a person has conflicts to check: those of their shifts.
pub fn weeks_of_staff(id: &Id, index: &Index) -> BTreeSet<Week> {
    index.days_of_staff(id).map(week_of).collect()
}

/// A person's conflicts among `held`, each with the week it is anchored in.
fn check_staff_held(
    staff: &Staff,
    mut held: Vec<Held<'_>>,
    blocks: Blocks<'_>,
    input: &Input<'_>,
) -> Vec<(Week, Conflict)> {
    sort_held(&mut held);
    let mut out = Vec::new();
    double_bookings(staff, &held, input, &mut out);
    rest(staff, &held, input, &mut out);
    unavailable(staff, &held, &blocks, input, &mut out);
    missing_skills(staff, &held, &mut out);
    max_hours(staff, &held, &mut out);
    out
}

fn double_bookings(
    staff: &Staff,
    held: &[Held<'_>],
    input: &Input<'_>,
    out: &mut Vec<(Week, Conflict)>,
) {
    for (i, a) in held.iter().enumerate() {
        for b in &held[i + 1..] {
            if b.interval.start >= a.interval.end {
                break;
            }
            let (first, second) = if creation_order(a.assignment) <= creation_order(b.assignment) {
                (a, b)
            } else {
                (b, a)
            };
            let overlap_start = a.interval.start.max(b.interval.start);
            let overlap_end = a.interval.end.min(b.interval.end);
            // Staggered: one starts first and the other ends last, so the overlap can be split.
            let staggered = a.interval.start < b.interval.start && a.interval.end < b.interval.end;
            let keys = [key_of(first.assignment), key_of(second.assignment)];
            let mut sorted = keys.clone();
            sorted.sort();
            let mut options = vec![
                ResolutionOption::new(
                    OptionId::KeepFirst,
                    format!("keep {} (made first), remove {}", keys[0], keys[1]),
                ),
                ResolutionOption::new(
                    OptionId::KeepSecond,
                    format!("keep {}, remove {} (made first)", keys[1], keys[0]),
                ),
            ];
            if staggered {
                options.push(ResolutionOption::new(
                    OptionId::SplitTime,
                    format!(
                        "{} works {} until the overlap's midpoint and {} from then on",
                        staff.id, a.shift.id, b.shift.id
                    ),
                ));
            }
            options.push(ResolutionOption::new(
                OptionId::FindSubstitute,
                format!("give {} to someone else (--staff ID)", second.shift.id),
            ));
            out.push((
                week_of(a.shift.date),
                Conflict {
                    id: conflict_id(
                        Kind::DoubleBooking,
                        &[staff.id.as_str(), &sorted[0], &sorted[1]],
                    ),
                    kind: Kind::DoubleBooking,
                    severity: Kind::DoubleBooking.severity(),
                    message: format!(
                        "{} is booked into {} and {}, which overlap {}–{}",
                        staff.id,
                        first.shift.id,
                        second.shift.id,
                        input.local(first.shift, overlap_start),
                        input.local(first.shift, overlap_end)
                    ),
                    staff: vec![staff.id.clone()],
                    shifts: vec![first.shift.id.clone(), second.shift.id.clone()],
                    assignments: keys.to_vec(),
                    options,
                    entity: None,
                    field: None,
                    values: Vec::new(),
                    fingerprint: with_shift(
                        with_shift(
                            with_assignment(
                                with_assignment(Fingerprint::new(), first.assignment),
                                second.assignment,
                            ),
                            first.shift,
                        ),
                        second.shift,
                    )
                    .finish(),
                },
            ));
        }
    }
}

fn rest(staff: &Staff, held: &[Held<'_>], input: &Input<'_>, out: &mut Vec<(Week, Conflict)>) {
    let min_rest = input.settings.min_rest_minutes;
    for (i, a) in held.iter().enumerate() {
        // The next shift that starts after this one ends (overlaps are double-bookings).
        let Some(b) = held[i + 1..]
            .iter()
            .find(|b| b.interval.start >= a.interval.end)
        else {
            continue;
        };
        let gap = minutes(a.interval.end, b.interval.start);
        if gap >= min_rest {
            continue;
        }
        let keys = [key_of(a.assignment), key_of(b.assignment)];
        out.push((
            week_of(a.shift.date),
            Conflict {
                id: conflict_id(
                    Kind::InsufficientRest,
                    &[staff.id.as_str(), &keys[0], &keys[1]],
                ),
                kind: Kind::InsufficientRest,
                severity: Kind::InsufficientRest.severity(),
                message: format!(
                    "{} has only {} of rest between {} and {} (the minimum is {})",
                    staff.id,
                    hours(gap),
                    a.shift.id,
                    b.shift.id,
                    hours(min_rest)
                ),
                staff: vec![staff.id.clone()],
                shifts: vec![a.shift.id.clone(), b.shift.id.clone()],
                assignments: keys.to_vec(),
                options: vec![
                    ResolutionOption::new(
                        OptionId::FindSubstitute,
                        format!("give {} to someone else (--staff ID)", b.shift.id),
                    ),
                    ResolutionOption::new(OptionId::Acknowledge, "accept the short rest"),
                ],
                entity: None,
                field: None,
                values: Vec::new(),
                fingerprint: with_shift(
                    with_shift(
                        with_assignment(
                            with_assignment(Fingerprint::new(), a.assignment),
                            b.assignment,
                        ),
                        a.shift,
                    ),
                    b.shift,
                )
                .add(min_rest.to_string())
                .finish(),
            },
        ));
    }
}

/// A person's unavailability and leave, with their intervals.
type Blocks<'a> = Vec<(&'a Availability, Interval)>;

fn blocks_of<'a>(staff: &Id, input: &Input<'a>) -> Blocks<'a> {
    input
        .index
        .availability_of_staff(staff)
        .filter(|a| a.kind.blocks_work())
        .map(|a| (a, a.span.interval(input.zone)))
        .collect()
}

fn unavailable(
    staff: &Staff,
    held: &[Held<'_>],
    blocks: &Blocks<'_>,
    input: &Input<'_>,
    out: &mut Vec<(Week, Conflict)>,
) {
    // Name the zones only when the shift's differs from the site's (a department keeping its
    // own zone), so the two times in the message can be compared.
    let zone_note = |h: &Held<'_>, zone: &SiteZone| {
        if input.zone_of(h.shift).name() != input.zone.name() {
            format!(" {}", zone.name())
        } else {
            String::new()
        }
    };
    for h in held {
        for (entry, interval) in blocks {
            if !h.interval.overlaps(interval) {
                continue;
            }
            let key = key_of(h.assignment);
            out.push((
                week_of(h.shift.date),
                Conflict {
                    id: conflict_id(Kind::StaffUnavailable, &[&key, entry.id.as_str()]),
                    kind: Kind::StaffUnavailable,
                    severity: Kind::StaffUnavailable.severity(),
                    message: format!(
                        "{} is assigned to {} ({}{}) but is {} {}{}{}",
                        staff.id,
                        h.shift.id,
                        h.shift.time(),
                        zone_note(h, input.zone_of(h.shift)),
                        if entry.kind.as_str() == "leave" {
                            "on leave"
                        } else {
                            "unavailable"
                        },
                        entry.span,
                        zone_note(h, input.zone),
                        if entry.reason.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", entry.reason)
                        }
                    ),
                    staff: vec![staff.id.clone()],
                    shifts: vec![h.shift.id.clone()],
                    assignments: vec![key],
                    options: vec![
                        ResolutionOption::new(
                            OptionId::FindSubstitute,
                            format!("give {} to someone who is free (--staff ID)", h.shift.id),
                        ),
                        ResolutionOption::new(
                            OptionId::MarkUncovered,
                            format!(
                                "remove {} from {} and leave the seat open",
                                staff.id, h.shift.id
                            ),
                        ),
                    ],
                    entity: None,
                    field: None,
                    values: Vec::new(),
                    fingerprint: with_shift(
                        with_assignment(Fingerprint::new(), h.assignment),
                        h.shift,
                    )
                    .add(entry.span.encode())
                    .add(entry.kind.as_str())
                    .finish(),
                },
            ));
        }
    }
}

fn missing_skills(staff: &Staff, held: &[Held<'_>], out: &mut Vec<(Week, Conflict)>) {
    for h in held {
        // A filter, not BTreeSet::difference: most shifts require one skill or none, and the
        // difference iterator's set-up costs more than the check itself.
        let missing: Vec<&String> = h
            .shift
            .skills
            .iter()
            .filter(|skill| !staff.skills.contains(*skill))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let key = key_of(h.assignment);
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        out.push((
            week_of(h.shift.date),
            Conflict {
                id: conflict_id(Kind::MissingSkill, &[&key]),
                kind: Kind::MissingSkill,
                severity: Kind::MissingSkill.severity(),
                message: format!(
                    "{} lacks {} that {} requires",
                    staff.id,
                    names.join(", "),
                    h.shift.id
                ),
                staff: vec![staff.id.clone()],
                shifts: vec![h.shift.id.clone()],
                assignments: vec![key],
                options: vec![
                    ResolutionOption::new(
                        OptionId::FindSubstitute,
                        format!(
                            "give {} to someone with the skills (--staff ID)",
                            h.shift.id
                        ),
                    ),
                    ResolutionOption::new(OptionId::Acknowledge, "accept the missing skill"),
                ],
                entity: None,
                field: None,
                values: Vec::new(),
                fingerprint: with_shift(with_assignment(Fingerprint::new(), h.assignment), h.shift)
                    .add(
                        staff
                            .skills
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .join(";"),
                    )
                    .finish(),
            },
        ));
    }
}

/// The ISO week of a shift (by its local start date), as (year, week).
pub fn iso_week_of(shift: &Shift) -> (i16, i8) {
    let week = shift.date.iso_week_date();
    (week.year(), week.week())
}

/// The ISO week of a shift, written as `2026-W48`.
pub fn iso_week(shift: &Shift) -> String {
    let (year, week) = iso_week_of(shift);
    format!("{year}-W{week:02}")
}

fn max_hours(staff: &Staff, held: &[Held<'_>], out: &mut Vec<(Week, Conflict)>) {
    let Some(max) = staff.max_minutes_week else {
        return;
    };
    let mut weeks: BTreeMap<(i16, i8), Vec<&Held<'_>>> = BTreeMap::new();
    for h in held {
        weeks.entry(iso_week_of(h.shift)).or_default().push(h);
    }
    for ((year, week_number), list) in weeks {
        let total: i64 = list.iter().map(|h| h.interval.minutes()).sum();
        if total <= i64::from(max) {
            continue;
        }
        let week = format!("{year}-W{week_number:02}");
        let latest = list
            .iter()
            .max_by_key(|h| creation_order(h.assignment))
            .map(|h| h.shift.id.clone());
        let mut keys: Vec<String> = list.iter().map(|h| key_of(h.assignment)).collect();
        keys.sort();
        out.push((
            (year, week_number),
            Conflict {
                id: conflict_id(Kind::MaxHoursExceeded, &[staff.id.as_str(), &week]),
                kind: Kind::MaxHoursExceeded,
                severity: Kind::MaxHoursExceeded.severity(),
                message: format!(
                    "{} works {} in {week}, over their maximum of {}",
                    staff.id,
                    hours(total),
                    hours(i64::from(max))
                ),
                staff: vec![staff.id.clone()],
                shifts: list.iter().map(|h| h.shift.id.clone()).collect(),
                assignments: keys,
                options: vec![
                    ResolutionOption::new(
                        OptionId::FindSubstitute,
                        format!(
                            "give {} (the latest added) to someone else (--staff ID)",
                            latest.map(|s| s.to_string()).unwrap_or_default()
                        ),
                    ),
                    ResolutionOption::new(OptionId::Acknowledge, "approve the overtime"),
                ],
                entity: None,
                field: None,
                values: Vec::new(),
                fingerprint: list
                    .iter()
                    .fold(Fingerprint::new().add(max.to_string()), |f, h| {
                        with_shift(with_assignment(f, h.assignment), h.shift)
                    })
                    .finish(),
            },
        ));
    }
}

/// The assignments of a shift whose staff member is live (others are dangling references).
pub fn live_assignments<'a>(shift: &Id, input: &Input<'a>) -> Vec<&'a Assignment> {
    input
        .index
        .assignments_of_shift(shift)
        .filter(|a| input.live_staff(&a.staff).is_some())
        .collect()
}

fn check_shift(id: &Id, input: &Input<'_>) -> Vec<Conflict> {
    let Some(shift) = input.live_shift(id) else {
        return Vec::new();
    };
    let placed = shift.time().placed(input.zone_of(shift));
    check_shift_with(shift, live_assignments(id, input), &placed, input)
}

/// A live shift's own conflicts, given its assignments whose staff member is live.
fn check_shift_with(
    shift: &Shift,
    assigned: Vec<&Assignment>,
    placed: &Placed,
    input: &Input<'_>,
) -> Vec<Conflict> {
    let id = &shift.id;
    let mut out = Vec::new();
    let count = assigned.len() as u32;
    if count > shift.capacity || count < shift.min_staff {
        shift_staffing(shift, &assigned, input, &mut out);
    }
    if let Some(reason) = invalid_time(shift, placed, input) {
        out.push(Conflict {
            id: conflict_id(Kind::InvalidShiftTime, &[id.as_str()]),
            kind: Kind::InvalidShiftTime,
            severity: Kind::InvalidShiftTime.severity(),
            message: format!("{} ({}) {reason}", shift.id, shift.time()),
            staff: Vec::new(),
            shifts: vec![shift.id.clone()],
            assignments: Vec::new(),
            options: vec![ResolutionOption::new(
                OptionId::EditShift,
                "set new times (--value HH:MM-HH:MM)",
            )],
            entity: None,
            field: None,
            values: Vec::new(),
            fingerprint: with_shift(Fingerprint::new(), shift).finish(),
        });
    }
    out
}

/// `capacity-exceeded` and `understaffed` (built only when the count is out of bounds).
fn shift_staffing(
    shift: &Shift,
    assigned: &[&Assignment],
    _input: &Input<'_>,
    out: &mut Vec<Conflict>,
) {
    let id = &shift.id;
    let count = assigned.len() as u32;
    let mut keys: Vec<String> = assigned.iter().map(|a| key_of(a)).collect();
    keys.sort();
    let shift_print = keys
        .iter()
        .fold(with_shift(Fingerprint::new(), shift), |f, k| f.add(k))
        .finish();
    if count > shift.capacity {
        let mut newest: Vec<&Assignment> = assigned.to_vec();
        newest.sort_by_key(|a| std::cmp::Reverse(creation_order(a)));
        let excess: Vec<String> = newest
            .iter()
            .take((count - shift.capacity) as usize)
            .map(|a| a.staff.to_string())
            .collect();
        out.push(Conflict {
            id: conflict_id(Kind::CapacityExceeded, &[id.as_str()]),
            kind: Kind::CapacityExceeded,
            severity: Kind::CapacityExceeded.severity(),
            message: format!(
                "{} has {count} people assigned but room for {}",
                shift.id, shift.capacity
            ),
            staff: assigned.iter().map(|a| a.staff.clone()).collect(),
            shifts: vec![shift.id.clone()],
            assignments: keys.clone(),
            options: vec![
                ResolutionOption::new(
                    OptionId::RemoveExcess,
                    format!("remove the most recently added: {}", excess.join(", ")),
                ),
                ResolutionOption::new(
                    OptionId::IncreaseCapacity,
                    format!("raise the capacity to {count} or more (--value N)"),
                ),
            ],
            entity: None,
            field: None,
            values: Vec::new(),
            fingerprint: shift_print.clone(),
        });
    }
    if count < shift.min_staff {
        out.push(Conflict {
            id: conflict_id(Kind::Understaffed, &[id.as_str()]),
            kind: Kind::Understaffed,
            severity: Kind::Understaffed.severity(),
            message: format!(
                "{} ({}) has {count} of the {} people it needs",
                shift.id,
                shift.time(),
                shift.min_staff
            ),
            staff: assigned.iter().map(|a| a.staff.clone()).collect(),
            shifts: vec![shift.id.clone()],
            assignments: keys.clone(),
            options: vec![
                ResolutionOption::new(
                    OptionId::FindSubstitute,
                    format!("assign someone who is free to {} (--staff ID)", shift.id),
                ),
                ResolutionOption::new(OptionId::Acknowledge, "accept the shortfall"),
            ],
            entity: None,
            field: None,
            values: Vec::new(),
            fingerprint: shift_print.clone(),
        });
    }
}

/// Why a shift's time is not valid, if it is not.
fn invalid_time(shift: &Shift, placed: &Placed, input: &Input<'_>) -> Option<String> {
    let zone = input.zone_of(shift);
    let time = shift.time();
    for (what, local, in_gap) in [
        ("starts", time.start_local(), placed.start_in_gap),
        ("ends", time.end_local(), placed.end_in_gap),
    ] {
        if in_gap {
            return Some(format!(
                "{what} at {} on {}, a time that does not exist in {} (the clocks skip it)",
                format_time(local.time()),
                local.date(),
                zone.name()
            ));
        }
    }
    let interval = placed.interval;
    if interval.end <= interval.start {
        return Some("ends before it starts once the clocks change".to_owned());
    }
    if interval.minutes() > SHIFT_MAX_MINUTES {
        return Some(format!(
            "lasts {}, longer than the maximum of {}",
            hours(interval.minutes()),
            hours(SHIFT_MAX_MINUTES)
        ));
    }
    None
}

fn check_assignment(key: &AssignmentKey, input: &Input<'_>) -> Vec<Conflict> {
    let Some(assignment) = input.index.assignments.get(key) else {
        return Vec::new();
    };
    let shift_live = input.live_shift(&key.shift).is_some();
    let staff_live = input.live_staff(&key.staff).is_some();
    check_assignment_with(assignment, shift_live, staff_live, input)
}

/// `dangling-reference` for an assignment whose shift or staff member is gone.
fn check_assignment_with(
    assignment: &Assignment,
    shift_live: bool,
    staff_live: bool,
    input: &Input<'_>,
) -> Vec<Conflict> {
    if shift_live && staff_live {
        return Vec::new();
    }
    let key = &assignment.key();
    let (shift_gone, staff_gone) = (!shift_live, !staff_live);
    let mut missing = Vec::new();
    if shift_gone {
        missing.push(format!("shift {}", key.shift));
    }
    if staff_gone {
        missing.push(format!("staff member {}", key.staff));
    }
    let restorable = (shift_gone
        && input
            .index
            .is_removed(Collection::Shifts, key.shift.as_str()))
        || (staff_gone
            && input
                .index
                .is_removed(Collection::Staff, key.staff.as_str()));
    let mut options = vec![ResolutionOption::new(
        OptionId::RemoveAssignment,
        format!("remove the assignment {key}"),
    )];
    if restorable {
        options.push(ResolutionOption::new(
            OptionId::Restore,
            format!("bring back the removed {}", missing.join(" and ")),
        ));
    }
    vec![Conflict {
        id: conflict_id(Kind::DanglingReference, &[&key.to_string()]),
        kind: Kind::DanglingReference,
        severity: Kind::DanglingReference.severity(),
        message: format!(
            "{} is assigned to {}, but the {} no longer exists",
            key.staff,
            key.shift,
            missing.join(" and the ")
        ),
        staff: vec![key.staff.clone()],
        shifts: vec![key.shift.clone()],
        assignments: vec![key.to_string()],
        options,
        entity: None,
        field: None,
        values: Vec::new(),
        fingerprint: with_assignment(Fingerprint::new(), assignment)
            .add([u8::from(shift_gone), u8::from(staff_gone)])
            .finish(),
    }]
}

/// The value a field shows now (the value Automerge picked), if the entity is live.
fn shown_value(
    collection: Collection,
    key: &str,
    field: &str,
    index: &Index,
) -> Option<serde_json::Value> {
    fn of<E: Entity>(entity: Option<&E>, field: &str) -> Option<serde_json::Value> {
        entity?
            .to_fields()
            .into_iter()
            .find(|(name, _)| *name == field)
            .map(|(_, v)| v.to_json())
    }
    match collection {
        Collection::Departments => of(
            Id::parse(key)
                .ok()
                .and_then(|id| index.departments.get(&id)),
            field,
        ),
        Collection::Staff => of(
            Id::parse(key).ok().and_then(|id| index.staff.get(&id)),
            field,
        ),
        Collection::Shifts => of(
            Id::parse(key).ok().and_then(|id| index.shifts.get(&id)),
            field,
        ),
        Collection::Assignments => of(
            AssignmentKey::parse(key)
                .ok()
                .and_then(|k| index.assignments.get(&k)),
            field,
        ),
        Collection::Availability => of(
            Id::parse(key)
                .ok()
                .and_then(|id| index.availability.get(&id)),
            field,
        ),
        Collection::Acks => of(index.acks.get(key), field),
        Collection::Members => of(index.members.get(key), field),
    }
}

fn check_entity(collection: Collection, key: &str, input: &Input<'_>) -> Vec<Conflict> {
    let Some(fields) = input.concurrent.get(&(collection, key.to_owned())) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (field, values) in fields {
        // Concurrent creations of a whole entity are not a field conflict (two nodes assigning
        // the same pair converge to one assignment by design).
        if field.is_empty() {
            continue;
        }
        let distinct: BTreeSet<String> = values.iter().map(|v| v.value.to_string()).collect();
        if distinct.len() < 2 {
            continue;
        }
        let mut written: Vec<WrittenValue> = values
            .iter()
            .map(|v| WrittenValue {
                value: v.value.clone(),
                author: v.author.clone(),
            })
            .collect();
        written.sort_by(|a, b| {
            (a.value.to_string(), &a.author).cmp(&(b.value.to_string(), &b.author))
        });
        let shown = shown_value(collection, key, field, input.index);
        let listed: Vec<String> = written
            .iter()
            .map(|w| {
                format!(
                    "{} ({})",
                    w.value,
                    if w.author.is_empty() {
                        "unknown"
                    } else {
                        &w.author
                    }
                )
            })
            .collect();
        let (staff, shifts) = match collection {
            Collection::Staff => (Id::parse(key).into_iter().collect(), Vec::new()),
            Collection::Shifts => (Vec::new(), Id::parse(key).into_iter().collect()),
            _ => (Vec::new(), Vec::new()),
        };
        out.push(Conflict {
            id: conflict_id(Kind::ConcurrentEdit, &[collection.key(), key, field]),
            kind: Kind::ConcurrentEdit,
            severity: Kind::ConcurrentEdit.severity(),
            message: format!(
                "{} {key}: {field} was set concurrently to {}; it shows {} until one is picked",
                collection.noun(),
                listed.join(" and "),
                shown
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "one of them".into())
            ),
            staff,
            shifts,
            assignments: if collection == Collection::Assignments {
                vec![key.to_owned()]
            } else {
                Vec::new()
            },
            options: vec![ResolutionOption::new(
                OptionId::PickValue,
                format!(
                    "keep one value (--value {})",
                    written
                        .iter()
                        .map(|w| w.value.to_string())
                        .collect::<Vec<_>>()
                        .join(" | ")
                ),
            )],
            entity: Some(format!("{}/{key}", collection.key())),
            field: Some(field.clone()),
            fingerprint: written
                .iter()
                .fold(Fingerprint::new(), |f, w| {
                    f.add(w.value.to_string()).add(&w.author)
                })
                .finish(),
            values: written,
        });
    }
    out
}
