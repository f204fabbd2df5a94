//! The incremental pass: keeps every scope's conflicts and re-checks only the scopes a change
//! may have affected — those that read the changed entities now, and those whose conflicts
//! mentioned them before.

use std::collections::{BTreeMap, HashSet};

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use shiftmesh_model::{
    Acknowledgement, AssignmentKey, Collection, Dirty, Id, Index, TouchedFields,
};

use crate::check::{check, sort, sweep, week_of, weeks_of_staff, Input, Scope, Week};
use crate::conflict::{Conflict, Severity};

/// An entity a conflict names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Mention {
    Staff(Id),
    Shift(Id),
    Assignment(String),
}

fn mentions_of(conflict: &Conflict) -> impl Iterator<Item = Mention> + '_ {
    conflict
        .staff
        .iter()
        .cloned()
        .map(Mention::Staff)
        .chain(conflict.shifts.iter().cloned().map(Mention::Shift))
        .chain(
            conflict
                .assignments
                .iter()
                .cloned()
                .map(Mention::Assignment),
        )
}

/// Which scopes name each entity.
type Mentions = FxHashMap<Mention, FxHashSet<Scope>>;

/// Records that `scope`'s conflicts name what they name.
fn index_mentions(mentions: &mut Mentions, scope: &Scope, conflicts: &[Conflict]) {
    for mention in conflicts.iter().flat_map(mentions_of) {
        mentions.entry(mention).or_default().insert(scope.clone());
    }
}

/// Two parts of the index of mentions as one.
fn merge_mentions(a: Mentions, b: Mentions) -> Mentions {
    let (mut larger, smaller) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    for (mention, scopes) in smaller {
        larger.entry(mention).or_default().extend(scopes);
    }
    larger
}

/// Above this many touched entities (an import, a first sync), one full sweep is cheaper than
/// re-checking their scopes one by one.
pub const FULL_PASS_ABOVE_DIRTY: usize = 5_000;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validator {
    /// Only scopes that have conflicts; sorted only when listed.
    by_scope: FxHashMap<Scope, Vec<Conflict>>,
    /// For each entity, the scopes whose conflicts name it.
    mentioned_in: Mentions,
    /// Whose each availability entry was, to re-check them when the entry goes away.
    availability_staff: FxHashMap<Id, Id>,
    /// The zones instants were computed in: a change of any means checking everything again.
    zones: Vec<(String, Option<String>)>,
}

fn zones(input: &Input<'_>) -> Vec<(String, Option<String>)> {
    std::iter::once((String::new(), Some(input.zone.name().to_owned())))
        .chain(
            input
                .index
                .departments
                .values()
                .map(|d| (d.id.to_string(), d.time_zone.clone())),
        )
        .collect()
}

/// The weeks around a shift date whose person-week scopes may read it.
fn weeks_around(week: Week) -> [Week; 3] {
    let (year, number) = week;
    let shift = |days: i64| {
        jiff::civil::ISOWeekDate::new(year, number, jiff::civil::Weekday::Monday)
            .ok()
            .and_then(|w| w.date().checked_add(jiff::Span::new().days(days)).ok())
            .map(week_of)
            .unwrap_or(week)
    };
    [shift(-7), week, shift(7)]
}

impl Validator {
    /// The full pass.
    pub fn new(input: &Input<'_>) -> Validator {
        let mut validator = Validator {
            zones: zones(input),
            ..Validator::default()
        };
        let (found, ()) = rayon::join(
            || sweep(input),
            || validator.remember_availability(input, None),
        );
        // Which scopes name each entity, worked out in parts on every core and then merged:
        // cloning the names is most of the cost, and the parts share nothing.
        let part_len = found.len().div_ceil(rayon::current_num_threads()).max(1);
        validator.mentioned_in = found
            .par_iter()
            .with_min_len(part_len)
            .fold(FxHashMap::default, |mut part, (scope, conflicts)| {
                index_mentions(&mut part, scope, conflicts);
                part
            })
            .reduce(FxHashMap::default, merge_mentions);
        validator.by_scope = found.into_iter().collect();
        validator
    }

    /// Re-checks what `dirty` touched, and says which conflicts appeared and which went away.
    pub fn update(&mut self, input: &Input<'_>, dirty: &Dirty) -> Delta {
        self.update_touched(input, dirty, &TouchedFields::new())
    }

    /// [`Validator::update`] when it is known which fields the change wrote (`fields`, as a
    /// merge reports them): an entity touched only in fields no rule reads re-checks only its
    /// own concurrent values, not every scope that reads the entity.
    pub fn update_touched(
        &mut self,
        input: &Input<'_>,
        dirty: &Dirty,
        fields: &TouchedFields,
    ) -> Delta {
        let mut before = Vec::new();
        let mut after = Vec::new();
        if zones(input) != self.zones || dirty.len() > FULL_PASS_ABOVE_DIRTY {
            before = self.conflicts();
            *self = Validator::new(input);
            after = self.conflicts();
        } else {
            for scope in self.scopes_touched(input, dirty, fields) {
                before.extend(self.recheck(scope.clone(), input));
                after.extend(self.by_scope.get(&scope).into_iter().flatten().cloned());
            }
            self.remember_availability(input, Some(dirty));
        }
        Delta::between(before, after)
    }

    /// The open conflicts that re-checking what `dirty` touched would bring, sorted (an
    /// acknowledged warning whose data changed, so that it is open again, included), without
    /// changing this validation: for a command that runs against a validation kept elsewhere
    /// (a running node's, which the node brings up to date itself once the change is made).
    pub fn brought_by(
        &self,
        input: &Input<'_>,
        dirty: &Dirty,
        acks: &BTreeMap<String, Acknowledgement>,
    ) -> Vec<Conflict> {
        self.changed_by(input, dirty, acks).0
    }

    /// What re-checking what `dirty` touched would change: the open conflicts it brings (as
    /// [`Validator::brought_by`]) and the ids of the open ones it clears, without changing this
    /// validation.
    pub fn changed_by(
        &self,
        input: &Input<'_>,
        dirty: &Dirty,
        acks: &BTreeMap<String, Acknowledgement>,
    ) -> (Vec<Conflict>, Vec<String>) {
        let (before, after) = if zones(input) != self.zones || dirty.len() > FULL_PASS_ABOVE_DIRTY {
            (self.conflicts(), Validator::new(input).conflicts())
        } else {
            let mut before = Vec::new();
            let mut after = Vec::new();
            for scope in self.scopes_touched(input, dirty, &TouchedFields::new()) {
                before.extend(self.by_scope.get(&scope).into_iter().flatten().cloned());
                after.extend(check(&scope, input));
            }
            (before, after)
        };
        let was_open: HashSet<String> = before
            .into_iter()
            .filter(|c| !is_acknowledged(c, acks))
            .map(|c| c.id)
            .collect();
        let still_there: HashSet<&str> = after.iter().map(|c| c.id.as_str()).collect();
        let mut cleared: Vec<String> = was_open
            .iter()
            .filter(|id| !still_there.contains(id.as_str()))
            .cloned()
            .collect();
        cleared.sort();
        let mut brought: Vec<Conflict> = after
            .into_iter()
            .filter(|c| !is_acknowledged(c, acks) && !was_open.contains(&c.id))
            .collect();
        sort(&mut brought);
        (brought, cleared)
    }

    /// Checks a scope again; returns the conflicts it had before.
    fn recheck(&mut self, scope: Scope, input: &Input<'_>) -> Vec<Conflict> {
        let old = self.by_scope.remove(&scope).unwrap_or_default();
        for mention in old.iter().flat_map(mentions_of) {
            if let Some(scopes) = self.mentioned_in.get_mut(&mention) {
                scopes.remove(&scope);
                if scopes.is_empty() {
                    self.mentioned_in.remove(&mention);
                }
            }
        }
        let found = check(&scope, input);
        if !found.is_empty() {
            index_mentions(&mut self.mentioned_in, &scope, &found);
            self.by_scope.insert(scope, found);
        }
        old
    }

    fn remember_availability(&mut self, input: &Input<'_>, dirty: Option<&Dirty>) {
        let mut remember = |id: &Id| match input.index.availability.get(id) {
            Some(entry) => {
                self.availability_staff
                    .insert(id.clone(), entry.staff.clone());
            }
            None => {
                self.availability_staff.remove(id);
            }
        };
        match dirty {
            None => input.index.availability.keys().for_each(remember),
            Some(dirty) => dirty
                .iter()
                .filter(|(c, _)| *c == Collection::Availability)
                .filter_map(|(_, k)| Id::parse(k).ok())
                .for_each(|id| remember(&id)),
        }
    }

    fn mentioned(&self, mention: Mention, scopes: &mut FxHashSet<Scope>) {
        if let Some(found) = self.mentioned_in.get(&mention) {
            scopes.extend(found.iter().cloned());
        }
    }

    /// Every week of a person: the weeks of their shifts, and the scopes naming them.
    fn all_weeks_of(&self, staff: &Id, index: &Index, scopes: &mut FxHashSet<Scope>) {
        for week in weeks_of_staff(staff, index) {
            scopes.insert(Scope::StaffWeek(staff.clone(), week));
        }
        self.mentioned(Mention::Staff(staff.clone()), scopes);
    }

    /// The scopes whose conflicts may have changed when the entities in `dirty` changed.
    fn scopes_touched(
        &self,
        input: &Input<'_>,
        dirty: &Dirty,
        fields: &TouchedFields,
    ) -> FxHashSet<Scope> {
        let index = input.index;
        let mut scopes = FxHashSet::default();
        // The person-weeks that read a shift (and its neighbours) for one person now, and the
        // scopes naming the person's assignments of the days around it: a window of overlap
        // that the shift joins or leaves may start weeks earlier.
        let around = |staff: &Id, shift: &Id, scopes: &mut FxHashSet<Scope>| {
            if let Some(s) = index.shifts.get(shift) {
                for week in weeks_around(week_of(s.date)) {
                    scopes.insert(Scope::StaffWeek(staff.clone(), week));
                }
                let day = |n: i64| {
                    s.date
                        .checked_add(jiff::Span::new().days(n))
                        .unwrap_or(s.date)
                };
                for neighbour in index.assignments_of_staff_between(staff, day(-2), day(2)) {
                    self.mentioned(Mention::Assignment(neighbour.key().to_string()), scopes);
                }
            }
        };
        for entry @ (collection, key) in dirty {
            scopes.insert(Scope::Entity(*collection, key.clone()));
            let unread_only = fields.get(entry).is_some_and(|written| {
                written
                    .iter()
                    .all(|f| UNREAD_FIELDS.contains(&(*collection, f.as_str())))
            });
            if unread_only {
                continue;
            }
            match collection {
                Collection::Staff => {
                    let Ok(id) = Id::parse(key) else { continue };
                    for a in index.assignments_of_staff(&id) {
                        scopes.insert(Scope::Shift(a.shift.clone()));
                        scopes.insert(Scope::Assignment(a.key()));
                    }
                    self.all_weeks_of(&id, index, &mut scopes);
                }
                Collection::Shifts => {
                    let Ok(id) = Id::parse(key) else { continue };
                    for a in index.assignments_of_shift(&id) {
                        around(&a.staff, &id, &mut scopes);
                        scopes.insert(Scope::Assignment(a.key()));
                    }
                    self.mentioned(Mention::Shift(id.clone()), &mut scopes);
                    scopes.insert(Scope::Shift(id));
                }
                Collection::Assignments => {
                    let Ok(k) = AssignmentKey::parse(key) else {
                        continue;
                    };
                    around(&k.staff, &k.shift, &mut scopes);
                    self.mentioned(Mention::Assignment(key.clone()), &mut scopes);
                    scopes.insert(Scope::Shift(k.shift.clone()));
                    scopes.insert(Scope::Assignment(k));
                }
                Collection::Availability => {
                    let Ok(id) = Id::parse(key) else { continue };
                    let now = index.availability.get(&id).map(|e| e.staff.clone());
                    let before = self.availability_staff.get(&id).cloned();
                    for staff in now.iter().chain(before.iter()) {
                        self.all_weeks_of(staff, index, &mut scopes);
                    }
                }
                // Department zones are compared above; acknowledgements filter at the end;
                // membership, accounts and the site's settings are not part of the schedule's
                // rules (their own conflicts are the entity scope above).
                Collection::Departments
                | Collection::Acks
                | Collection::Members
                | Collection::Accounts
                | Collection::Site => {}
            }
        }
        scopes
    }

    /// How many conflicts are open (not acknowledged warnings), without copying any.
    pub fn open_count(&self, acks: &BTreeMap<String, Acknowledgement>) -> usize {
        self.by_scope
            .values()
            .flatten()
            .filter(|c| !is_acknowledged(c, acks))
            .count()
    }

    /// Every conflict, borrowed and in no particular order: for counting and filtering
    /// without copying them all.
    pub fn iter(&self) -> impl Iterator<Item = &Conflict> + '_ {
        self.by_scope.values().flatten()
    }

    /// Every conflict, sorted (errors first, then by kind and id).
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut all: Vec<Conflict> = self.by_scope.values().flatten().cloned().collect();
        sort(&mut all);
        all
    }
}

/// Fields no rule reads — nor any conflict's text, fingerprint or options — outside the
/// entity's own concurrent values: a change that wrote only these (a person renamed, a shift
/// relabelled) re-checks only that entity's scope.
const UNREAD_FIELDS: &[(Collection, &str)] = &[
    (Collection::Staff, "name"),
    (Collection::Staff, "active"),
    (Collection::Staff, "department"),
    (Collection::Staff, "employment_start"),
    (Collection::Staff, "employment_end"),
    (Collection::Shifts, "label"),
];

/// How an update changed the conflicts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delta {
    /// Conflicts that exist now and did not before (sorted).
    pub appeared: Vec<Conflict>,
    /// Conflicts that existed before and do not now (sorted).
    pub resolved: Vec<Conflict>,
}

impl Delta {
    fn between(before: Vec<Conflict>, after: Vec<Conflict>) -> Delta {
        let ids = |list: &[Conflict]| list.iter().map(|c| c.id.clone()).collect::<HashSet<_>>();
        let (before_ids, after_ids) = (ids(&before), ids(&after));
        let mut delta = Delta {
            appeared: after
                .into_iter()
                .filter(|c| !before_ids.contains(&c.id))
                .collect(),
            resolved: before
                .into_iter()
                .filter(|c| !after_ids.contains(&c.id))
                .collect(),
        };
        sort(&mut delta.appeared);
        sort(&mut delta.resolved);
        delta
    }
}

/// Splits conflicts into those still open and the warnings acknowledged for exactly the data
/// they are about (an acknowledgement lapses when its fingerprint no longer matches).
pub fn open_and_acknowledged(
    all: Vec<Conflict>,
    acks: &BTreeMap<String, Acknowledgement>,
) -> (Vec<Conflict>, Vec<Conflict>) {
    all.into_iter().partition(|c| !is_acknowledged(c, acks))
}

/// A warning acknowledged for exactly the data it is about.
pub fn is_acknowledged(c: &Conflict, acks: &BTreeMap<String, Acknowledgement>) -> bool {
    c.severity == Severity::Warning
        && acks
            .get(&c.id)
            .is_some_and(|ack| ack.fingerprint == c.fingerprint)
}
