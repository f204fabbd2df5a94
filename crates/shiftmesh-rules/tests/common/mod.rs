//! A schedule in memory, edited through the model, with the validation pass run over it.
#![allow(dead_code)]

use std::collections::BTreeSet;

use automerge::AutoCommit;
use shiftmesh_model::time::{parse_date, parse_datetime, parse_time};
use shiftmesh_model::{
    Assignment, Availability, AvailabilityKind, Collection, Edit, Id, LocalSpan, Schedule, Shift,
    SiteZone, Staff,
};
use shiftmesh_rules::{full_pass, Conflict, Input, Kind, Validator};

pub fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

pub fn edit(at: i64) -> Edit {
    Edit {
        author: "alice@a".into(),
        now_ms: at,
    }
}

pub struct World {
    pub schedule: Schedule,
    pub clock: i64,
}

impl World {
    pub fn new(zone: &str) -> World {
        let mut schedule = Schedule::new();
        schedule
            .set_site(&edit(0), "Site", &SiteZone::parse(zone).unwrap())
            .unwrap();
        World {
            schedule,
            clock: 1_000,
        }
    }

    pub fn tick(&mut self) -> Edit {
        self.clock += 1_000;
        edit(self.clock)
    }

    pub fn staff(&mut self, key: &str, skills: &[&str], max_hours: Option<u32>) {
        let staff = Staff {
            skills: skills.iter().map(|s| s.to_string()).collect(),
            max_minutes_week: max_hours.map(|h| h * 60),
            ..Staff::new(id(key), key.to_uppercase())
        };
        let e = self.tick();
        self.schedule.add(&e, &staff, "add".into()).unwrap();
    }

    /// A shift on `date` from `times.0` to `times.1`, with (capacity, minimum staff).
    pub fn shift(
        &mut self,
        key: &str,
        date: &str,
        times: (&str, &str),
        staffing: (u32, u32),
        skills: &[&str],
    ) {
        let (start, end) = times;
        let (capacity, min) = staffing;
        let shift = Shift {
            id: id(key),
            department: None,
            date: parse_date(date).unwrap(),
            start: parse_time(start).unwrap(),
            end: parse_time(end).unwrap(),
            capacity,
            min_staff: min,
            skills: skills
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>(),
            label: String::new(),
        };
        let e = self.tick();
        self.schedule.add(&e, &shift, "add".into()).unwrap();
    }

    pub fn assign(&mut self, staff: &str, shift: &str) {
        let e = self.tick();
        let a = Assignment {
            shift: id(shift),
            staff: id(staff),
            role: String::new(),
            note: String::new(),
            created_at_ms: e.now_ms,
            created_by: e.author.clone(),
            window: None,
        };
        self.schedule.assign(&e, &a).unwrap();
    }

    pub fn away(&mut self, staff: &str, from: &str, to: &str, kind: AvailabilityKind) {
        let span =
            LocalSpan::new(parse_datetime(from).unwrap(), parse_datetime(to).unwrap()).unwrap();
        let entry = Availability {
            id: Availability::derive_id(&id(staff), &span, kind),
            staff: id(staff),
            span,
            kind,
            reason: String::new(),
        };
        let e = self.tick();
        self.schedule.add(&e, &entry, "away".into()).unwrap();
    }

    pub fn remove(&mut self, collection: Collection, key: &str) {
        let e = self.tick();
        self.schedule
            .remove(&e, collection, key, &[], "remove".into())
            .unwrap();
    }

    pub fn conflicts(&mut self) -> Vec<Conflict> {
        conflicts(&mut self.schedule)
    }

    pub fn of_kind(&mut self, kind: Kind) -> Vec<Conflict> {
        self.conflicts()
            .into_iter()
            .filter(|c| c.kind == kind)
            .collect()
    }

    /// A copy on another node (a new actor), as after a backup and merge.
    pub fn fork(&mut self) -> World {
        let bytes = self.schedule.doc_mut().save();
        World {
            schedule: Schedule::from_doc(AutoCommit::load(&bytes).unwrap()).unwrap(),
            clock: self.clock + 500,
        }
    }

    pub fn merge_from(&mut self, other: &mut World) {
        let bytes = other.schedule.doc_mut().save();
        self.schedule.merge_bytes(&bytes).unwrap();
    }
}

/// The full pass over a schedule, with the concurrent values its document holds.
pub fn conflicts(schedule: &mut Schedule) -> Vec<Conflict> {
    let concurrent = schedule.all_concurrent_values().unwrap();
    let input = Input::new(schedule.index(), schedule.zone(), &concurrent);
    let full = full_pass(&input);
    assert_eq!(
        Validator::new(&input).conflicts(),
        full,
        "the validator's first pass is the full pass"
    );
    full
}
