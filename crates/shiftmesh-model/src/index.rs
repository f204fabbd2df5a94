//! The read index: every live entity, typed, plus the lookups reads and validation need (by day,
//! by staff, by shift). It lives outside Automerge and is refreshed entity by entity from the
//! set of entities a change touched, so reads never walk the document.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;

use crate::entity::{
    Acknowledgement, Assignment, Availability, Collection, Department, Entity, Fields, Shift,
    Staff,
};
use crate::{AssignmentKey, Id};

/// Entities a change touched, by collection and key.
pub type Dirty = BTreeSet<(Collection, String)>;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Index {
    pub departments: BTreeMap<Id, Department>,
    pub staff: BTreeMap<Id, Staff>,
    pub shifts: BTreeMap<Id, Shift>,
    /// Ordered by shift, then staff, so the assignments of one shift are one range.
    pub assignments: BTreeMap<AssignmentKey, Assignment>,
    pub availability: BTreeMap<Id, Availability>,
    pub acks: BTreeMap<String, Acknowledgement>,
    /// Entities marked removed (they stay in the document so references to them can be seen).
    pub removed: BTreeSet<(Collection, String)>,
    /// Entities the document holds in a form this version cannot read, with the reason.
    pub unreadable: BTreeMap<(Collection, String), String>,
    shifts_by_day: BTreeMap<Date, BTreeSet<Id>>,
    shifts_by_staff: BTreeMap<Id, BTreeSet<Id>>,
    availability_by_staff: BTreeMap<Id, BTreeSet<Id>>,
}

/// What the document holds for one key of a collection.
pub enum Stored {
    Absent,
    Removed,
    Present(Fields),
}

impl Index {
    /// Replaces what the index holds for one entity with what the document now holds.
    pub fn set(&mut self, collection: Collection, key: &str, stored: Stored) {
        self.forget(collection, key);
        let fields = match stored {
            Stored::Absent => return,
            Stored::Removed => {
                self.removed.insert((collection, key.to_owned()));
                return;
            }
            Stored::Present(fields) => fields,
        };
        let outcome = match collection {
            Collection::Departments => {
                Department::from_fields(key, &fields).map(|e| self.insert_department(e))
            }
            Collection::Staff => Staff::from_fields(key, &fields).map(|e| self.insert_staff(e)),
            Collection::Shifts => Shift::from_fields(key, &fields).map(|e| self.insert_shift(e)),
            Collection::Assignments => {
                Assignment::from_fields(key, &fields).map(|e| self.insert_assignment(e))
            }
            Collection::Availability => {
                Availability::from_fields(key, &fields).map(|e| self.insert_availability(e))
            }
            Collection::Acks => {
                Acknowledgement::from_fields(key, &fields).map(|e| self.insert_ack(e))
            }
        };
        if let Err(e) = outcome {
            self.unreadable
                .insert((collection, key.to_owned()), e.message);
        }
    }

    fn insert_department(&mut self, e: Department) {
        self.departments.insert(e.id.clone(), e);
    }

    fn insert_staff(&mut self, e: Staff) {
        self.staff.insert(e.id.clone(), e);
    }

    fn insert_shift(&mut self, e: Shift) {
        self.shifts_by_day
            .entry(e.date)
            .or_default()
            .insert(e.id.clone());
        self.shifts.insert(e.id.clone(), e);
    }

    fn insert_assignment(&mut self, e: Assignment) {
        self.shifts_by_staff
            .entry(e.staff.clone())
            .or_default()
            .insert(e.shift.clone());
        self.assignments.insert(e.key(), e);
    }

    fn insert_availability(&mut self, e: Availability) {
        self.availability_by_staff
            .entry(e.staff.clone())
            .or_default()
            .insert(e.id.clone());
        self.availability.insert(e.id.clone(), e);
    }

    fn insert_ack(&mut self, e: Acknowledgement) {
        self.acks.insert(e.conflict.clone(), e);
    }

    fn forget(&mut self, collection: Collection, key: &str) {
        self.removed.remove(&(collection, key.to_owned()));
        self.unreadable.remove(&(collection, key.to_owned()));
        match collection {
            Collection::Departments => {
                if let Ok(id) = Id::parse(key) {
                    self.departments.remove(&id);
                }
            }
            Collection::Staff => {
                if let Ok(id) = Id::parse(key) {
                    self.staff.remove(&id);
                }
            }
            Collection::Shifts => {
                let Ok(id) = Id::parse(key) else { return };
                if let Some(old) = self.shifts.remove(&id) {
                    remove_from(&mut self.shifts_by_day, &old.date, &id);
                }
            }
            Collection::Assignments => {
                let Ok(k) = AssignmentKey::parse(key) else { return };
                if self.assignments.remove(&k).is_some() {
                    remove_from(&mut self.shifts_by_staff, &k.staff, &k.shift);
                }
            }
            Collection::Availability => {
                let Ok(id) = Id::parse(key) else { return };
                if let Some(old) = self.availability.remove(&id) {
                    remove_from(&mut self.availability_by_staff, &old.staff, &id);
                }
            }
            Collection::Acks => {
                self.acks.remove(key);
            }
        }
    }

    pub fn is_removed(&self, collection: Collection, key: &str) -> bool {
        self.removed.contains(&(collection, key.to_owned()))
    }

    /// The shifts that start on the days `from..=to`, in date order.
    pub fn shifts_between(&self, from: Date, to: Date) -> impl Iterator<Item = &Shift> + '_ {
        self.shifts_by_day
            .range(from..=to)
            .flat_map(|(_, ids)| ids.iter())
            .filter_map(|id| self.shifts.get(id))
    }

    /// The assignments of one shift, ordered by staff id.
    pub fn assignments_of_shift<'a>(
        &'a self,
        shift: &'a Id,
    ) -> impl Iterator<Item = &'a Assignment> + 'a {
        let start = AssignmentKey::new(shift.clone(), Id(String::new()));
        self.assignments
            .range(start..)
            .take_while(move |(k, _)| &k.shift == shift)
            .map(|(_, a)| a)
    }

    /// The assignments of one staff member, ordered by shift id.
    pub fn assignments_of_staff<'a>(
        &'a self,
        staff: &'a Id,
    ) -> impl Iterator<Item = &'a Assignment> + 'a {
        self.shifts_by_staff
            .get(staff)
            .into_iter()
            .flat_map(|shifts| shifts.iter())
            .filter_map(move |shift| {
                self.assignments
                    .get(&AssignmentKey::new(shift.clone(), staff.clone()))
            })
    }

    /// The availability entries of one staff member.
    pub fn availability_of_staff<'a>(
        &'a self,
        staff: &'a Id,
    ) -> impl Iterator<Item = &'a Availability> + 'a {
        self.availability_by_staff
            .get(staff)
            .into_iter()
            .flat_map(|ids| ids.iter())
            .filter_map(|id| self.availability.get(id))
    }

    /// The first and last day on which any shift starts.
    pub fn shift_date_range(&self) -> Option<(Date, Date)> {
        let first = self.shifts_by_day.keys().next()?;
        let last = self.shifts_by_day.keys().next_back()?;
        Some((*first, *last))
    }
}

fn remove_from<K: Ord, V: Ord>(map: &mut BTreeMap<K, BTreeSet<V>>, key: &K, value: &V) {
    if let Some(set) = map.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            map.remove(key);
        }
    }
}
