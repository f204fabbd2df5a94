//! The incremental pass: keeps every scope's conflicts and re-checks only the scopes a change
//! touched.

use std::collections::{BTreeMap, HashMap, HashSet};

use shiftmesh_model::{Acknowledgement, AssignmentKey, Collection, Dirty, Id};

use crate::check::{check, sort, sweep, Input, Scope};
use crate::conflict::{Conflict, Severity};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validator {
    /// Only scopes that have conflicts; sorted only when listed.
    by_scope: HashMap<Scope, Vec<Conflict>>,
    /// Whose each availability entry was, to re-check them when the entry goes away.
    availability_staff: HashMap<Id, Id>,
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

impl Validator {
    /// The full pass.
    pub fn new(input: &Input<'_>) -> Validator {
        let mut validator = Validator {
            zones: zones(input),
            ..Validator::default()
        };
        sweep(input, |scope, found| {
            validator.by_scope.insert(scope, found);
        });
        validator.remember_availability(input, None);
        validator
    }

    /// Re-checks what `dirty` touched.
    pub fn update(&mut self, input: &Input<'_>, dirty: &Dirty) {
        if zones(input) != self.zones {
            *self = Validator::new(input);
            return;
        }
        for scope in self.scopes_touched(input, dirty) {
            self.recheck(scope, input);
        }
        self.remember_availability(input, Some(dirty));
    }

    fn recheck(&mut self, scope: Scope, input: &Input<'_>) {
        let found = check(&scope, input);
        if found.is_empty() {
            self.by_scope.remove(&scope);
        } else {
            self.by_scope.insert(scope, found);
        }
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

    /// The scopes whose conflicts may have changed when the entities in `dirty` changed.
    fn scopes_touched(&self, input: &Input<'_>, dirty: &Dirty) -> HashSet<Scope> {
        let index = input.index;
        let mut scopes = HashSet::new();
        for (collection, key) in dirty {
            scopes.insert(Scope::Entity(*collection, key.clone()));
            match collection {
                Collection::Staff => {
                    let Ok(id) = Id::parse(key) else { continue };
                    for a in index.assignments_of_staff(&id) {
                        scopes.insert(Scope::Shift(a.shift.clone()));
                        scopes.insert(Scope::Assignment(a.key()));
                    }
                    scopes.insert(Scope::Staff(id));
                }
                Collection::Shifts => {
                    let Ok(id) = Id::parse(key) else { continue };
                    for a in index.assignments_of_shift(&id) {
                        scopes.insert(Scope::Staff(a.staff.clone()));
                        scopes.insert(Scope::Assignment(a.key()));
                    }
                    scopes.insert(Scope::Shift(id));
                }
                Collection::Assignments => {
                    let Ok(k) = AssignmentKey::parse(key) else {
                        continue;
                    };
                    scopes.insert(Scope::Shift(k.shift.clone()));
                    scopes.insert(Scope::Staff(k.staff.clone()));
                    scopes.insert(Scope::Assignment(k));
                }
                Collection::Availability => {
                    let Ok(id) = Id::parse(key) else { continue };
                    if let Some(entry) = index.availability.get(&id) {
                        scopes.insert(Scope::Staff(entry.staff.clone()));
                    }
                    if let Some(staff) = self.availability_staff.get(&id) {
                        scopes.insert(Scope::Staff(staff.clone()));
                    }
                }
                // Department zones are compared above; acknowledgements filter at the end.
                Collection::Departments | Collection::Acks => {}
            }
        }
        scopes
    }

    /// Every conflict, sorted (errors first, then by kind and id).
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut all: Vec<Conflict> = self.by_scope.values().flatten().cloned().collect();
        sort(&mut all);
        all
    }
}

/// Splits conflicts into those still open and the warnings acknowledged for exactly the data
/// they are about (an acknowledgement lapses when its fingerprint no longer matches).
pub fn open_and_acknowledged(
    all: Vec<Conflict>,
    acks: &BTreeMap<String, Acknowledgement>,
) -> (Vec<Conflict>, Vec<Conflict>) {
    all.into_iter().partition(|c| {
        !(c.severity == Severity::Warning
            && acks
                .get(&c.id)
                .is_some_and(|ack| ack.fingerprint == c.fingerprint))
    })
}
