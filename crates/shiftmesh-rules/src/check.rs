//! The checks. Every conflict belongs to exactly one *scope* (a staff member, a shift, an
//! assignment or an entity's fields), and a scope's conflicts depend only on data reachable from
//! it. The full pass checks every scope; the incremental pass re-checks the scopes a change
//! touched. Both call the same [`check`], so they agree by construction, and a property test
//! holds them to it.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use shiftmesh_model::time::{format_time, SHIFT_MAX_MINUTES};
use shiftmesh_model::time::{Placed, ShiftTime};
use shiftmesh_model::{
    Assignment, AssignmentKey, Availability, Collection, Concurrent, Entity, Id, Index, Interval,
    Shift, SiteZone, Staff,
};

use crate::conflict::{
    conflict_id, first_day, Conflict, Fingerprint, Kind, OptionId, ResolutionOption, WrittenValue,
};

/// What of a shift its conflicts are about (its label and id are not).
fn with_shift(f: Fingerprint, shift: &Shift) -> Fingerprint {
    // The same bytes as `ShiftTime::encode`, the numbers' text and the skills joined by ";",
    // written straight into the hash: fingerprints must not change, or acknowledgements lapse.
    let (start, end) = (shift.start, shift.end);
    f.add_text(format_args!(
        "{}T{:02}:{:02}/{:02}:{:02}",
        shift.date,
        start.hour(),
        start.minute(),
        end.hour(),
        end.minute()
    ))
    .add_text(shift.capacity)
    .add_text(shift.min_staff)
    .add_joined(shift.skills.iter(), ";")
    .add(shift.department.as_ref().map_or("", |d| d.as_str()))
}

/// What of an assignment its conflicts are about.
fn with_assignment(f: Fingerprint, a: &Assignment) -> Fingerprint {
    f.add_text(format_args!("{}/{}", a.shift, a.staff))
        .add_text(a.created_at_ms)
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    entity_scopes(input).into_iter().for_each(f);
}

/// The entities whose own conflicts (concurrent values, damaged fields, and for the site the
/// rival collections) must be checked, each once.
fn entity_scopes(input: &Input<'_>) -> BTreeSet<Scope> {
    let mut scopes: BTreeSet<Scope> = input
        .concurrent
        .keys()
        .chain(input.index.damaged.keys())
        .map(|(c, k)| Scope::Entity(*c, k.clone()))
        .collect();
    if !input.index.rivals.is_empty() {
        scopes.insert(Scope::Entity(Collection::Site, String::new()));
    }
    scopes
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

/// Errors first, then by date (conflicts about no shift before dated ones), kind and id.
pub fn sort(conflicts: &mut [Conflict]) {
    conflicts.sort_by(|a, b| {
        (a.severity, a.date, a.kind, &a.id).cmp(&(b.severity, b.date, b.kind, &b.id))
    });
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
    /// The ISO week of the shift's date, worked out once per shift rather than by every check.
    week: Week,
    /// Whether the shift requires a skill the person lacks: worked out where the shift is read
    /// anyway, so that the person's check need not reach into every shift's skills again.
    lacks_skills: bool,
}

impl<'a> Held<'a> {
    fn new(
        staff: &Staff,
        assignment: &'a Assignment,
        shift: &'a Shift,
        interval: Interval,
        week: Week,
    ) -> Self {
        Held {
            assignment,
            shift,
            interval,
            week,
            lacks_skills: !shift.skills.iter().all(|s| staff.skills.contains(s)),
        }
    }
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

/// One scope's conflicts, as the sweep finds them.
pub type Found = (Scope, Vec<Conflict>);

/// What one stretch of shifts gathers: the conflicts of its shifts and of its assignments, and
/// each live person's assignments in it (by the person's place in [`Index::staff`]).
struct Stretch<'a> {
    found: Vec<Found>,
    held: Vec<Vec<Held<'a>>>,
}

/// Stretches of shifts per thread in the full pass: more than one, so that a thread that
/// finishes early takes another instead of waiting for the slowest.
const STRETCHES_PER_THREAD: usize = 4;

/// The whole schedule in one sweep: every scope's conflicts (scopes without conflicts may be
/// left out), in no particular order. Assignments are ordered by shift, so walking them
/// alongside the shifts pairs each with its shift without a lookup, and each shift's interval is
/// computed once. The schedule is cut into stretches of shifts, walked on every core at once, and
/// then each person's assignments, gathered from all stretches, are checked on every core too.
/// The checks are the per-scope ones; only the gathering differs from [`check`].
pub fn sweep(input: &Input<'_>) -> Vec<Found> {
    let index = input.index;
    let people: Vec<(&Id, &Staff)> = index.staff.iter().collect();
    // Each live person's place in `people`, so that what is gathered for them is kept in a list
    // rather than looked up by name again.
    let live_staff: FxHashMap<&Id, (usize, &Staff)> = people
        .iter()
        .enumerate()
        .map(|(number, (id, staff))| (*id, (number, *staff)))
        .collect();
    let shifts: Vec<(&Id, &Shift)> = index.shifts.iter().collect();
    let assignments: Vec<&Assignment> = index.assignments.values().collect();
    let stretch_count = rayon::current_num_threads() * STRETCHES_PER_THREAD;
    let stretch_len = shifts.len().div_ceil(stretch_count).max(1);
    // Stretch `i` holds the shifts from its first one up to the next stretch's first, and the
    // assignments whose shift sorts in that range: the first also takes those before every
    // shift, the last those after.
    let starts: Vec<usize> = (0..stretch_count)
        .map(|i| (i * stretch_len).min(shifts.len()))
        .map(|first| match shifts.get(first) {
            _ if first == 0 => 0,
            Some((id, _)) => assignments.partition_point(|a| a.shift < **id),
            None => assignments.len(),
        })
        .chain(std::iter::once(assignments.len()))
        .collect();
    let (stretches, blocks) = rayon::join(
        || {
            (0..stretch_count)
                .into_par_iter()
                .map(|i| {
                    let first = (i * stretch_len).min(shifts.len());
                    let last = ((i + 1) * stretch_len).min(shifts.len());
                    walk_stretch(
                        &shifts[first..last],
                        &assignments[starts[i]..starts[i + 1]],
                        &live_staff,
                        input,
                    )
                })
                .collect::<Vec<_>>()
        },
        || {
            let mut blocks: Vec<Blocks<'_>> = people.iter().map(|_| Vec::new()).collect();
            for entry in index.availability.values() {
                if !entry.kind.blocks_work() {
                    continue;
                }
                if let Some((number, _)) = live_staff.get(&entry.staff) {
                    blocks[*number].push((entry, entry.span.interval(input.zone)));
                }
            }
            blocks
        },
    );
    let mut found = Vec::new();
    let mut by_staff: Vec<Vec<Held<'_>>> = people.iter().map(|_| Vec::new()).collect();
    for stretch in stretches {
        found.extend(stretch.found);
        for (all, held) in by_staff.iter_mut().zip(stretch.held) {
            all.extend(held);
        }
    }
    found.par_extend(
        people
            .into_par_iter()
            .zip(by_staff)
            .zip(blocks)
            .flat_map_iter(|(((id, staff), held), blocks)| {
                let mut by_week: BTreeMap<Week, Vec<Conflict>> = BTreeMap::new();
                for (week, conflict) in check_staff_held(staff, held, blocks, input) {
                    by_week.entry(week).or_default().push(conflict);
                }
                by_week
                    .into_iter()
                    .map(move |(week, conflicts)| (Scope::StaffWeek(id.clone(), week), conflicts))
            }),
    );
    for scope in entity_scopes(input) {
        let Scope::Entity(collection, key) = &scope else {
            continue;
        };
        let conflicts = check_entity(*collection, key, input);
        if !conflicts.is_empty() {
            found.push((scope, conflicts));
        }
    }
    found
}

/// One stretch of the sweep: `shifts` in order, and the assignments whose shift sorts among
/// them (or, at either end of the schedule, before or after every shift).
fn walk_stretch<'a>(
    shifts: &[(&'a Id, &'a Shift)],
    assignments: &[&'a Assignment],
    live_staff: &FxHashMap<&'a Id, (usize, &'a Staff)>,
    input: &Input<'a>,
) -> Stretch<'a> {
    let mut stretch = Stretch {
        found: Vec::new(),
        held: (0..live_staff.len()).map(|_| Vec::new()).collect(),
    };
    let mut assignments = assignments.iter().copied().peekable();
    let mut placed_at: FxHashMap<(ShiftTime, &str), (Placed, Week)> = FxHashMap::default();
    let dangling = |a: &Assignment, shift_live: bool, found: &mut Vec<Found>| {
        let staff_live = live_staff.contains_key(&a.staff);
        let conflicts = check_assignment_with(a, shift_live, staff_live, input);
        if !conflicts.is_empty() {
            found.push((Scope::Assignment(a.key()), conflicts));
        }
    };
    for &(shift_id, shift) in shifts {
        // Assignments to shifts that sort before this one have no live shift.
        while let Some(a) = assignments.next_if(|a| a.shift < *shift_id) {
            dangling(a, false, &mut stretch.found);
        }
        let zone = input.zone_of(shift);
        // Many shifts share a time (a site's few patterns on each day), and placing one in its
        // zone is the costly part of reading it, so each time is placed once per stretch.
        let (placed, week) = *placed_at
            .entry((shift.time(), zone.name()))
            .or_insert_with(|| (shift.time().placed(zone), week_of(shift.date)));
        let interval = placed.interval;
        let mut assigned = Vec::new();
        while let Some(a) = assignments.next_if(|a| a.shift == *shift_id) {
            match live_staff.get(&a.staff) {
                Some(&(number, staff)) => {
                    assigned.push(a);
                    let interval = match a.window {
                        Some(_) => input.interval(a, shift),
                        None => interval,
                    };
                    stretch.held[number].push(Held::new(staff, a, shift, interval, week));
                }
                None => dangling(a, true, &mut stretch.found),
            }
        }
        let conflicts = check_shift_with(shift, assigned, &placed, input);
        if !conflicts.is_empty() {
            stretch
                .found
                .push((Scope::Shift(shift_id.clone()), conflicts));
        }
    }
    for a in assignments {
        dangling(a, false, &mut stretch.found);
    }
    stretch
}

fn minutes(a: Timestamp, b: Timestamp) -> i64 {
    (b.as_second() - a.as_second()) / 60
}

/// Minutes as hours in messages: "38 h", "7 h 30 min".
pub(crate) fn hours(minutes: i64) -> String {
    if minutes % 60 == 0 {
        format!("{} h", minutes / 60)
    } else {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    }
}

/// An assignment's key as text (`SHIFT/STAFF`), as `AssignmentKey` writes it.
fn key_of(a: &Assignment) -> String {
    format!("{}/{}", a.shift, a.staff)
}

/// The conflicts of one week of one person: those anchored in that week (a pair or a window of
/// overlap by its earliest assignment, the others by their assignment or week). They can reach
/// into the weeks either side, so those are read too.
fn check_staff_week(id: &Id, week: Week, input: &Input<'_>) -> Vec<Conflict> {
    let Some(staff) = input.live_staff(id) else {
        return Vec::new();
    };
    let Some(monday) = monday_of(week) else {
        return Vec::new();
    };
    let days = |n: i64| {
        monday
            .checked_add(jiff::Span::new().days(n))
            .unwrap_or(monday)
    };
    let held_between = |from, to| {
        input
            .index
            .assignments_of_staff_between(id, from, to)
            .filter_map(|assignment| {
                let shift = input.live_shift(&assignment.shift)?;
                let interval = input.interval(assignment, shift);
                Some(Held::new(
                    staff,
                    assignment,
                    shift,
                    interval,
                    week_of(shift.date),
                ))
            })
    };
    let mut to = days(13);
    let mut held: Vec<Held<'_>> = held_between(days(-7), to).collect();
    // A window of overlap that starts this week can run on past the days read: read on, a
    // fortnight at a time, while the last window still starts this week (a shift is at most a
    // day long, so a fortnight without one ends every window).
    loop {
        sort_held(&mut held);
        let last_window_start = overlap_windows(&held)
            .pop()
            .filter(|w| w.end == held.len())
            .map(|w| held[w.start].week);
        if last_window_start != Some(week) {
            break;
        }
        let next = to.checked_add(jiff::Span::new().days(14)).unwrap_or(to);
        let read = held.len();
        held.extend(held_between(to.tomorrow().unwrap_or(to), next));
        to = next;
        if held.len() == read {
            break;
        }
    }
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
    mut blocks: Blocks<'_>,
    input: &Input<'_>,
) -> Vec<(Week, Conflict)> {
    sort_held(&mut held);
    blocks.sort_by(|(a, x), (b, y)| (x.start, x.end, &a.id).cmp(&(y.start, y.end, &b.id)));
    let mut out = Vec::new();
    double_bookings(staff, &held, input, &mut out);
    rest(staff, &held, input, &mut out);
    unavailable(staff, &held, &blocks, input, &mut out);
    missing_skills(staff, &held, input, &mut out);
    max_hours(staff, &held, &mut out);
    out
}

/// One person's assignments in start order, gathered into windows of overlap: each assignment
/// of a window starts before the latest end among those before it in the window. A window of
/// two is the classic pair; a longer one is reported whole, so one person's n overlapping
/// assignments make one conflict rather than n²/2 (which let one CSV stall every node).
fn overlap_windows(held: &[Held<'_>]) -> Vec<std::ops::Range<usize>> {
    let mut windows = Vec::new();
    let mut first = 0;
    let mut latest_end = None;
    for (i, h) in held.iter().enumerate() {
        match latest_end {
            Some(end) if h.interval.start < end => latest_end = Some(h.interval.end.max(end)),
            _ => {
                if i - first >= 2 {
                    windows.push(first..i);
                }
                first = i;
                latest_end = Some(h.interval.end);
            }
        }
    }
    if held.len() - first >= 2 {
        windows.push(first..held.len());
    }
    windows
}

fn double_bookings(
    staff: &Staff,
    held: &[Held<'_>],
    input: &Input<'_>,
    out: &mut Vec<(Week, Conflict)>,
) {
    for window in overlap_windows(held).into_iter().map(|r| &held[r]) {
        out.push((window[0].week, double_booking(staff, window, input)));
    }
}

/// The conflict of one window of overlapping assignments (at least two, in start order).
fn double_booking(staff: &Staff, window: &[Held<'_>], input: &Input<'_>) -> Conflict {
    let mut made: Vec<&Held<'_>> = window.iter().collect();
    made.sort_by_key(|h| creation_order(h.assignment));
    let (first, second) = (made[0], made[1]);
    let keys: Vec<String> = made.iter().map(|h| key_of(h.assignment)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    let mut id_parts = vec![staff.id.as_str()];
    id_parts.extend(sorted.iter().map(String::as_str));
    let mut options = Vec::new();
    let message;
    if let [a, b] = window {
        let overlap_start = a.interval.start.max(b.interval.start);
        let overlap_end = a.interval.end.min(b.interval.end);
        options.push(ResolutionOption::new(
            OptionId::KeepFirst,
            format!("keep {} (made first), remove {}", keys[0], keys[1]),
        ));
        options.push(ResolutionOption::new(
            OptionId::KeepSecond,
            format!("keep {}, remove {} (made first)", keys[1], keys[0]),
        ));
        // Staggered: one starts first and the other ends last, so the overlap can be split.
        if a.interval.start < b.interval.start && a.interval.end < b.interval.end {
            options.push(ResolutionOption::new(
                OptionId::SplitTime,
                format!(
                    "{} works {} until the overlap's midpoint and {} from then on",
                    staff.id, a.shift.id, b.shift.id
                ),
            ));
        }
        message = format!(
            "{} is booked into {} and {}, which overlap {}–{}",
            staff.id,
            first.shift.id,
            second.shift.id,
            input.local(first.shift, overlap_start),
            input.local(first.shift, overlap_end)
        );
    } else {
        let others = keys.len() - 1;
        options.push(ResolutionOption::new(
            OptionId::KeepFirst,
            format!("keep {} (made first), remove the other {others}", keys[0]),
        ));
        options.push(ResolutionOption::new(
            OptionId::KeepSecond,
            format!("keep {}, remove the other {others}", keys[1]),
        ));
        let window_start = window[0].interval.start;
        let window_end = window
            .iter()
            .map(|h| h.interval.end)
            .max()
            .unwrap_or(window_start);
        message = format!(
            "{} is booked into {} shifts that overlap between {} and {}: {}",
            staff.id,
            made.len(),
            input.local(window[0].shift, window_start),
            input.local(window[0].shift, window_end),
            made.iter()
                .map(|h| h.shift.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    options.push(ResolutionOption::new(
        OptionId::FindSubstitute,
        format!("give {} to someone else (--staff ID)", second.shift.id),
    ));
    let fingerprint = made
        .iter()
        .fold(Fingerprint::new(), |f, h| with_assignment(f, h.assignment));
    let fingerprint = made
        .iter()
        .fold(fingerprint, |f, h| with_shift(f, h.shift))
        .finish();
    Conflict {
        id: conflict_id(Kind::DoubleBooking, &id_parts),
        kind: Kind::DoubleBooking,
        severity: Kind::DoubleBooking.severity(),
        message,
        staff: vec![staff.id.clone()],
        shifts: made.iter().map(|h| h.shift.id.clone()).collect(),
        assignments: keys,
        options,
        entity: None,
        field: None,
        values: Vec::new(),
        date: made.iter().map(|h| h.shift.date).min(),
        fingerprint,
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
            a.week,
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
                date: Some(a.shift.date.min(b.shift.date)),
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
                .add_text(min_rest)
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
    // Blocks in start order: those that can overlap a shift start after the shift's start less
    // the longest block, and before its end, found by two binary searches instead of a scan.
    let longest = blocks
        .iter()
        .map(|(_, i)| i.end.duration_since(i.start))
        .max()
        .unwrap_or_default();
    for h in held {
        let earliest = h
            .interval
            .start
            .checked_sub(longest)
            .unwrap_or(h.interval.start);
        let from = blocks.partition_point(|(_, i)| i.start < earliest);
        let to = blocks.partition_point(|(_, i)| i.start < h.interval.end);
        for (entry, interval) in blocks.get(from..to).unwrap_or_default() {
            if !h.interval.overlaps(interval) {
                continue;
            }
            let key = key_of(h.assignment);
            out.push((
                h.week,
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
                    date: Some(h.shift.date),
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

fn missing_skills(
    staff: &Staff,
    held: &[Held<'_>],
    input: &Input<'_>,
    out: &mut Vec<(Week, Conflict)>,
) {
    // Skills that cannot be read say nothing about who lacks what.
    let index = input.index;
    if index.is_damaged(Collection::Staff, staff.id.as_str(), "skills") {
        return;
    }
    for h in held.iter().filter(|h| h.lacks_skills) {
        if index.is_damaged(Collection::Shifts, h.shift.id.as_str(), "skills") {
            continue;
        }
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
            h.week,
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
                date: Some(h.shift.date),
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
pub fn iso_week_of(shift: &Shift) -> Week {
    week_of(shift.date)
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
    // In time order the weeks nearly always come in runs already, so the stable sort is a
    // single pass; it keeps each week's assignments in time order.
    let mut by_week: Vec<&Held<'_>> = held.iter().collect();
    by_week.sort_by_key(|h| h.week);
    for list in by_week.chunk_by(|a, b| a.week == b.week) {
        let (year, week_number) = list[0].week;
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
                date: list.iter().map(|h| h.shift.date).min(),
                fingerprint: list
                    .iter()
                    .fold(Fingerprint::new().add_text(max), |f, h| {
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
    // A damaged capacity or minimum reads as a fallback that no check may act on.
    let damaged = |field: &str| {
        input
            .index
            .is_damaged(Collection::Shifts, shift.id.as_str(), field)
    };
    out.retain(|c| match c.kind {
        Kind::CapacityExceeded => !damaged("capacity"),
        Kind::Understaffed => !damaged("min_staff"),
        _ => true,
    });
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
            date: Some(shift.date),
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
            date: Some(shift.date),
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
            date: Some(shift.date),
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
    let key = &assignment.key();
    // A shift or person the document holds in a form this version cannot read is still there:
    // its `unreadable-field` conflict says so, and its assignments are not dangling.
    let index = input.index;
    let shift_live = shift_live || index.is_unreadable(Collection::Shifts, key.shift.as_str());
    let staff_live = staff_live || index.is_unreadable(Collection::Staff, key.staff.as_str());
    if shift_live && staff_live {
        return Vec::new();
    }
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
        date: first_day(index, std::slice::from_ref(&key.shift)),
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
    let id = || Id::parse(key).ok();
    match collection {
        Collection::Departments => of(id().and_then(|id| index.departments.get(&id)), field),
        Collection::Staff => of(id().and_then(|id| index.staff.get(&id)), field),
        Collection::Shifts => of(id().and_then(|id| index.shifts.get(&id)), field),
        Collection::Assignments => of(
            AssignmentKey::parse(key)
                .ok()
                .and_then(|k| index.assignments.get(&k)),
            field,
        ),
        Collection::Availability => of(id().and_then(|id| index.availability.get(&id)), field),
        Collection::Acks => of(index.acks.get(key), field),
        Collection::Members => of(index.members.get(key), field),
        Collection::Accounts => of(id().and_then(|id| index.accounts.get(&id)), field),
        Collection::Site => match field {
            "site_name" => index.site.name.clone().map(serde_json::Value::from),
            "time_zone" => index.site.time_zone.clone().map(serde_json::Value::from),
            _ => None,
        },
    }
}

/// How a conflict names an entity: `collection/key`, or `site` for the site's settings.
pub fn entity_ref(collection: Collection, key: &str) -> String {
    match collection {
        Collection::Site => "site".to_owned(),
        _ => format!("{}/{key}", collection.key()),
    }
}

/// An entity as a message names it: "shift mon-night", "the site".
fn entity_words(collection: Collection, key: &str) -> String {
    match collection {
        Collection::Site => "the site".to_owned(),
        _ => format!("{} {key}", collection.noun()),
    }
}

/// The people and shifts a conflict about an entity names, for badges and lookups.
fn named_by(collection: Collection, key: &str) -> (Vec<Id>, Vec<Id>, Vec<String>) {
    match collection {
        Collection::Staff => (Id::parse(key).into_iter().collect(), Vec::new(), Vec::new()),
        Collection::Shifts => (Vec::new(), Id::parse(key).into_iter().collect(), Vec::new()),
        Collection::Assignments => match AssignmentKey::parse(key) {
            Ok(k) => (vec![k.staff], vec![k.shift], vec![key.to_owned()]),
            Err(_) => (Vec::new(), Vec::new(), vec![key.to_owned()]),
        },
        _ => (Vec::new(), Vec::new(), Vec::new()),
    }
}

/// The conflicts of an entity's own data: its damaged fields, its concurrent values, a
/// creation on several machines at once; for the site, also the rival collections.
fn check_entity(collection: Collection, key: &str, input: &Input<'_>) -> Vec<Conflict> {
    let mut out = Vec::new();
    if collection == Collection::Site {
        rival_collections(input, &mut out);
    }
    if let Some(damage) = input.index.damaged.get(&(collection, key.to_owned())) {
        for d in damage {
            out.push(unreadable_field(collection, key, d, input));
        }
    }
    if let Some(fields) = input.concurrent.get(&(collection, key.to_owned())) {
        for (field, values) in fields {
            let found = if field.is_empty() {
                concurrent_create(collection, key, values, input)
            } else {
                concurrent_edit(collection, key, field, values, input)
            };
            out.extend(found);
        }
    }
    out
}

fn written_values(values: &[shiftmesh_model::ConcurrentValue]) -> Vec<WrittenValue> {
    let mut written: Vec<WrittenValue> = values
        .iter()
        .map(|v| WrittenValue {
            value: v.value.clone(),
            author: v.author.clone(),
            machine: v.machine.clone(),
            change: v.change.map(|h| h.to_string()),
            provenance: None,
            object: v.object.clone(),
        })
        .collect();
    written.sort_by(|a, b| {
        (a.value.to_string(), &a.author, &a.object).cmp(&(
            b.value.to_string(),
            &b.author,
            &b.object,
        ))
    });
    written
}

fn listed(written: &[WrittenValue]) -> Vec<String> {
    written
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
        .collect()
}

fn concurrent_edit(
    collection: Collection,
    key: &str,
    field: &str,
    values: &[shiftmesh_model::ConcurrentValue],
    input: &Input<'_>,
) -> Option<Conflict> {
    let distinct: BTreeSet<String> = values.iter().map(|v| v.value.to_string()).collect();
    if distinct.len() < 2 {
        return None;
    }
    let written = written_values(values);
    let shown = shown_value(collection, key, field, input.index);
    let (staff, shifts, assignments) = named_by(collection, key);
    let date = first_day(input.index, &shifts);
    Some(Conflict {
        id: conflict_id(Kind::ConcurrentEdit, &[collection.key(), key, field]),
        kind: Kind::ConcurrentEdit,
        severity: Kind::ConcurrentEdit.severity(),
        message: format!(
            "{}: {field} was set concurrently to {}; it shows {} until one is picked",
            entity_words(collection, key),
            listed(&written).join(" and "),
            shown
                .map(|v| v.to_string())
                .unwrap_or_else(|| "one of them".into())
        ),
        staff,
        shifts,
        assignments,
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
        entity: Some(entity_ref(collection, key)),
        field: Some(field.to_owned()),
        date,
        fingerprint: written
            .iter()
            .fold(Fingerprint::new(), |f, w| {
                f.add(w.value.to_string()).add(&w.author)
            })
            .finish(),
        values: written,
    })
}

/// Fields that say who made an entity and when, not what it is: two machines making the same
/// entity differ in these, and that is no conflict (two nodes assigning the same pair converge
/// to one assignment by design).
const BOOKKEEPING_FIELDS: &[&str] = &[
    "created_at",
    "created_by",
    "by",
    "at",
    "added_by",
    "added_at",
];

/// `concurrent-create`: an id created on several machines at once, with different fields.
/// Automerge shows one version and hides the others' fields.
fn concurrent_create(
    collection: Collection,
    key: &str,
    values: &[shiftmesh_model::ConcurrentValue],
    input: &Input<'_>,
) -> Option<Conflict> {
    let content = |v: &serde_json::Value| -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => serde_json::Value::Object(
                map.iter()
                    .filter(|(k, _)| !BOOKKEEPING_FIELDS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        }
    };
    let distinct: BTreeSet<String> = values
        .iter()
        .map(|v| content(&v.value).to_string())
        .collect();
    if distinct.len() < 2 {
        return None;
    }
    let written = written_values(values);
    // The fields whose values differ between the versions, each with every version's value.
    let mut differing: BTreeSet<String> = BTreeSet::new();
    for w in &written {
        if let serde_json::Value::Object(map) = content(&w.value) {
            differing.extend(map.keys().cloned());
        }
    }
    differing.retain(|field| {
        let seen: BTreeSet<String> = written
            .iter()
            .map(|w| {
                w.value
                    .get(field)
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            })
            .collect();
        seen.len() > 1
    });
    let (staff, shifts, assignments) = named_by(collection, key);
    let date = first_day(input.index, &shifts);
    let authors: Vec<String> = written
        .iter()
        .enumerate()
        .map(|(i, w)| {
            format!(
                "{} by {}",
                i + 1,
                if w.author.is_empty() {
                    "unknown"
                } else {
                    &w.author
                }
            )
        })
        .collect();
    Some(Conflict {
        id: conflict_id(Kind::ConcurrentCreate, &[collection.key(), key]),
        kind: Kind::ConcurrentCreate,
        severity: Kind::ConcurrentCreate.severity(),
        message: format!(
            "{} was created on {} machines at once ({}); they differ in {}, and only one version shows until one is kept",
            entity_words(collection, key),
            written.len(),
            authors.join(", "),
            differing.into_iter().collect::<Vec<_>>().join(", ")
        ),
        staff,
        shifts,
        assignments,
        options: vec![ResolutionOption::new(
            OptionId::KeepVersion,
            format!(
                "keep one version with all its fields (--value {})",
                (1..=written.len())
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
        )],
        entity: Some(entity_ref(collection, key)),
        field: None,
        date,
        fingerprint: written
            .iter()
            .fold(Fingerprint::new(), |f, w| {
                f.add(content(&w.value).to_string()).add(&w.author)
            })
            .finish(),
        values: written,
    })
}

/// `unreadable-field`: a field another writer left in a form this version cannot read.
fn unreadable_field(
    collection: Collection,
    key: &str,
    damage: &shiftmesh_model::Damage,
    input: &Input<'_>,
) -> Conflict {
    let usable = !input.index.is_unreadable(collection, key);
    let field = if damage.field.is_empty() {
        "it".to_owned()
    } else {
        damage.field.clone()
    };
    let consequence = if usable {
        format!("{field} is left out of every check until it is fixed")
    } else if collection == Collection::Shifts || collection == Collection::Staff {
        "it is listed but left out of views and checks until it is fixed; its assignments are kept"
            .to_owned()
    } else {
        "it is listed but left out of views and checks until it is fixed".to_owned()
    };
    let holds = match &damage.stored {
        Some(value) => format!("{field} holds {} and {}", value.describe(), damage.problem),
        None => format!("{field} {}", damage.problem),
    };
    let by = if damage.author.is_empty() {
        String::new()
    } else {
        format!(" (written by {})", damage.author)
    };
    let mut options = vec![ResolutionOption::new(
        OptionId::RestoreValue,
        if damage.field.is_empty() {
            "bring back the newest readable version from its history".to_owned()
        } else {
            format!("set {field} back to the newest readable value in its history")
        },
    )];
    if !damage.field.is_empty() {
        options.push(ResolutionOption::new(
            OptionId::Edit,
            format!("set {field} to a new value (--value …)"),
        ));
    }
    let (staff, shifts, assignments) = named_by(collection, key);
    let date = first_day(input.index, &shifts);
    Conflict {
        id: conflict_id(
            Kind::UnreadableField,
            &[collection.key(), key, &damage.field],
        ),
        kind: Kind::UnreadableField,
        severity: Kind::UnreadableField.severity(),
        message: format!(
            "{}: {holds}{by}; {consequence}",
            entity_words(collection, key)
        ),
        staff,
        shifts,
        assignments,
        options,
        entity: Some(entity_ref(collection, key)),
        field: Some(damage.field.clone()),
        values: vec![WrittenValue {
            value: damage
                .stored
                .as_ref()
                .map_or(serde_json::Value::Null, |v| v.to_json()),
            author: damage.author.clone(),
            machine: None,
            change: None,
            provenance: None,
            object: None,
        }],
        date,
        fingerprint: Fingerprint::new()
            .add(damage.stored_text())
            .add(&damage.problem)
            .add(&damage.author)
            .finish(),
    }
}

/// `rival-collection`: for each collection whose root key another writer filled with a value
/// of its own.
fn rival_collections(input: &Input<'_>, out: &mut Vec<Conflict>) {
    for (collection, rivals) in &input.index.rivals {
        let name = collection.key();
        let described: Vec<String> = rivals
            .iter()
            .map(|r| {
                let by = if r.author.is_empty() {
                    "another writer".to_owned()
                } else {
                    r.author.clone()
                };
                let holding = if r.keys.is_empty() {
                    String::new()
                } else {
                    format!(
                        " holding {}{}",
                        r.keys.join(", "),
                        if r.entries > r.keys.len() {
                            ", …"
                        } else {
                            ""
                        }
                    )
                };
                if r.deleted {
                    "was deleted".to_owned()
                } else {
                    format!("holds {}{holding} (written by {by})", r.what)
                }
            })
            .collect();
        let entries: usize = rivals.iter().map(|r| r.entries).sum();
        let mut options = Vec::new();
        if entries > 0 {
            options.push(ResolutionOption::new(
                OptionId::Adopt,
                format!("copy the entries it holds that {name} lacks into {name}, and accept it"),
            ));
        }
        options.push(ResolutionOption::new(
            OptionId::Acknowledge,
            format!("leave it; shiftmesh keeps using its own {name}"),
        ));
        out.push(Conflict {
            id: conflict_id(Kind::RivalCollection, &[name]),
            kind: Kind::RivalCollection,
            severity: Kind::RivalCollection.severity(),
            message: format!(
                "another writer changed the document's '{name}' key, which {}; shiftmesh keeps reading and writing its own {name}, but other Automerge programs may not see it",
                described.join(" and ")
            ),
            staff: Vec::new(),
            shifts: Vec::new(),
            assignments: Vec::new(),
            options,
            entity: Some(entity_ref(Collection::Site, "")),
            field: Some(name.to_owned()),
            values: Vec::new(),
            date: None,
            fingerprint: rivals
                .iter()
                .fold(Fingerprint::new(), |f, r| {
                    f.add(&r.what)
                        .add(r.keys.join(";"))
                        .add(r.entries.to_string())
                        .add(&r.author)
                })
                .finish(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(skills: &[&str], department: Option<&str>) -> Shift {
        Shift {
            id: Id::parse("early").unwrap(),
            department: department.map(|d| Id::parse(d).unwrap()),
            date: jiff::civil::date(2026, 11, 23),
            start: jiff::civil::time(6, 0, 0, 0),
            end: jiff::civil::time(14, 30, 0, 0),
            capacity: 12,
            min_staff: 3,
            skills: skills.iter().map(|s| s.to_string()).collect(),
            label: "Early".into(),
        }
    }

    /// Fingerprints are stored with acknowledgements, so the bytes hashed must stay those of
    /// the first release, which built each part as a string first.
    #[test]
    fn fingerprints_hash_the_same_bytes_as_the_text_they_were_first_built_from() {
        for (skills, department) in [
            (&[][..], None),
            (&["first-aid"][..], Some("front")),
            (&["first-aid", "tills"][..], None),
        ] {
            let s = shift(skills, department);
            let joined: Vec<&str> = s.skills.iter().map(String::as_str).collect();
            let first_release = Fingerprint::new()
                .add(s.time().encode())
                .add(s.capacity.to_string())
                .add(s.min_staff.to_string())
                .add(joined.join(";"))
                .add(s.department.as_ref().map_or("", |d| d.as_str()))
                .finish();
            assert_eq!(with_shift(Fingerprint::new(), &s).finish(), first_release);
        }
        let a = Assignment {
            shift: Id::parse("early").unwrap(),
            staff: Id::parse("sarah").unwrap(),
            role: String::new(),
            note: String::new(),
            created_at_ms: -1_764_000_000_123,
            created_by: "alice@desk".into(),
            window: None,
        };
        let first_release = Fingerprint::new()
            .add(a.key().to_string())
            .add(a.created_at_ms.to_string())
            .add("")
            .add(600.to_string())
            .finish();
        assert_eq!(
            with_assignment(Fingerprint::new(), &a)
                .add_text(600)
                .finish(),
            first_release
        );
        assert_eq!(key_of(&a), a.key().to_string());
    }
}
