//! Seeded, reproducible schedules shaped like real rosters, written in shiftmesh's CSV import
//! format. The parameters follow the employee-scheduling demo generator of Timefold (SMALL and
//! LARGE), scaled up for YEAR: 8-hour shifts at several start times per department (including
//! nights that end the next day), one required skill per person plus optional ones, about 38
//! hours per person per week, single-day unavailability and multi-day leave blocks.

pub mod foreign;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use jiff::ToSpan;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// The size and shape of a generated schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    pub staff: usize,
    pub days: usize,
    pub departments: usize,
    /// Weights of a slot having 1, 2 or 3 seats.
    pub seat_weights: [u32; 3],
    /// Staff with a single-day availability entry on each day: choices, weighted 4/3/2/1.
    pub availability_per_day: [usize; 4],
    /// Days of leave per person per year, taken in blocks of 5 to 10 days.
    pub leave_days_per_year: usize,
}

pub const SMALL: Profile = Profile {
    name: "small",
    staff: 15,
    days: 14,
    departments: 3,
    seat_weights: [9, 1, 0],
    availability_per_day: [1, 2, 3, 4],
    leave_days_per_year: 0,
};

pub const LARGE: Profile = Profile {
    name: "large",
    staff: 50,
    days: 28,
    departments: 7,
    seat_weights: [5, 3, 2],
    availability_per_day: [5, 10, 15, 20],
    leave_days_per_year: 25,
};

pub const YEAR: Profile = Profile {
    name: "year",
    staff: 500,
    days: 365,
    departments: 70,
    seat_weights: [5, 3, 2],
    availability_per_day: [50, 100, 150, 200],
    leave_days_per_year: 25,
};

impl Profile {
    pub fn by_name(name: &str) -> Option<Profile> {
        [SMALL, LARGE, YEAR].into_iter().find(|p| p.name == name)
    }
}

/// The first day of every generated schedule: a Monday, so weeks line up with ISO weeks.
pub fn first_day() -> Date {
    jiff::civil::date(2027, 1, 4)
}

/// The shift length, in hours.
const SHIFT_HOURS: i8 = 8;
/// Shifts per person per week (5 × 8 h = 40 h, about 38 h after leave and unavailability).
const SHIFTS_PER_WEEK: usize = 5;
/// Start-time templates, cycled over departments (Timefold's three).
const START_TEMPLATES: [&[i8]; 3] = [&[6, 14], &[6, 14, 22], &[6, 9, 14, 22]];
const REQUIRED_SKILLS: [&str; 2] = ["nurse", "doctor"];
const OPTIONAL_SKILLS: [&str; 3] = ["anaesthetics", "cardiology", "radiology"];
const FIRST_NAMES: [&str; 10] = [
    "Amy", "Beth", "Carl", "Dan", "Elsa", "Flo", "Gus", "Hugo", "Ivy", "Jay",
];
const LAST_NAMES: [&str; 10] = [
    "Cole", "Fox", "Green", "Jones", "King", "Li", "Poe", "Rye", "Smith", "Watt",
];
const ZONES: [&str; 3] = ["", "", "America/New_York"];

#[derive(Clone, Debug)]
pub struct GenStaff {
    pub id: String,
    pub name: String,
    pub department: usize,
    pub skills: BTreeSet<&'static str>,
}

#[derive(Clone, Debug)]
pub struct GenShift {
    pub id: String,
    pub department: usize,
    pub day: usize,
    pub start_hour: i8,
    pub capacity: usize,
    pub skill: &'static str,
}

#[derive(Clone, Debug)]
pub struct GenAvailability {
    pub staff: usize,
    pub first_day: usize,
    /// Whole days covered, from 00:00 of the first day.
    pub days: usize,
    pub kind: &'static str,
}

/// A generated schedule.
#[derive(Clone, Debug)]
pub struct Roster {
    pub profile: Profile,
    pub seed: u64,
    pub staff: Vec<GenStaff>,
    pub shifts: Vec<GenShift>,
    /// (staff index, shift index).
    pub assignments: Vec<(usize, usize)>,
    pub availability: Vec<GenAvailability>,
}

fn department_id(d: usize) -> String {
    format!("dept-{d:02}")
}

fn pick_weighted<const N: usize>(rng: &mut StdRng, weights: [u32; N]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut roll = rng.gen_range(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if roll < *w {
            return i;
        }
        roll -= w;
    }
    0
}

pub fn generate(profile: Profile, seed: u64) -> Roster {
    let mut rng = StdRng::seed_from_u64(seed);
    let staff: Vec<GenStaff> = (0..profile.staff)
        .map(|i| {
            let mut skills = BTreeSet::new();
            skills.insert(REQUIRED_SKILLS[rng.gen_range(0..REQUIRED_SKILLS.len())]);
            let optional = 1 + pick_weighted(&mut rng, [3, 1]);
            for _ in 0..optional {
                skills.insert(OPTIONAL_SKILLS[rng.gen_range(0..OPTIONAL_SKILLS.len())]);
            }
            GenStaff {
                id: format!("s{i:04}"),
                name: format!(
                    "{} {}",
                    FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())],
                    LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())]
                ),
                department: i % profile.departments,
                skills,
            }
        })
        .collect();

    let mut shifts = Vec::new();
    for day in 0..profile.days {
        let date = first_day() + (day as i64).days();
        for department in 0..profile.departments {
            for &start in START_TEMPLATES[department % START_TEMPLATES.len()] {
                let seats = 1 + pick_weighted(&mut rng, profile.seat_weights);
                let skill = if rng.gen_bool(0.5) {
                    REQUIRED_SKILLS[rng.gen_range(0..REQUIRED_SKILLS.len())]
                } else {
                    OPTIONAL_SKILLS[rng.gen_range(0..OPTIONAL_SKILLS.len())]
                };
                shifts.push(GenShift {
                    id: format!(
                        "{}-{}-{:02}00",
                        department_id(department),
                        date.strftime("%Y%m%d"),
                        start
                    ),
                    department,
                    day,
                    start_hour: start,
                    capacity: seats,
                    skill,
                });
            }
        }
    }

    // Leave blocks first, then single-day entries; neither is assigned over.
    let mut availability = Vec::new();
    let mut off = vec![vec![false; profile.days]; profile.staff];
    // Each person takes their yearly leave pro rata to the horizon, in blocks of 5 to 10 days;
    // on a short horizon a block is taken with the probability that keeps the expected days.
    let leave_days = (profile.leave_days_per_year * profile.days) as f64 / 365.0;
    for (s, days_off) in off.iter_mut().enumerate() {
        let mut left = leave_days;
        let mut attempts = 0;
        while left > 0.0 && attempts < 20 {
            attempts += 1;
            let len = rng.gen_range(5..=10usize);
            let take = rng.gen_bool((left / len as f64).min(1.0));
            left -= len as f64;
            if !take || len >= profile.days {
                continue;
            }
            let first = rng.gen_range(0..profile.days - len);
            if days_off[first..first + len].iter().any(|d| *d) {
                continue;
            }
            days_off[first..first + len]
                .iter_mut()
                .for_each(|d| *d = true);
            availability.push(GenAvailability {
                staff: s,
                first_day: first,
                days: len,
                kind: "leave",
            });
        }
    }
    // `day` is the entry's date as well as an index into each person's days off.
    #[allow(clippy::needless_range_loop)]
    for day in 0..profile.days {
        let count = profile.availability_per_day[pick_weighted(&mut rng, [4, 3, 2, 1])];
        let mut people: Vec<usize> = (0..profile.staff).collect();
        people.shuffle(&mut rng);
        for &s in people.iter().take(count.min(profile.staff)) {
            if off[s][day] {
                continue;
            }
            let kind = ["unavailable", "undesired", "desired"][rng.gen_range(0..3)];
            if kind == "unavailable" {
                off[s][day] = true;
            }
            availability.push(GenAvailability {
                staff: s,
                first_day: day,
                days: 1,
                kind,
            });
        }
    }

    let assignments = assign(&profile, &staff, &shifts, &off, &mut rng);
    Roster {
        profile,
        seed,
        staff,
        shifts,
        assignments,
        availability,
    }
}

/// Fills seats greedily, day by day: one shift a day per person, at most five a week, no seat
/// on a day off, at least 10 hours of rest after the previous day's shift; people with the
/// shift's skill first, then people of its department.
fn assign(
    profile: &Profile,
    staff: &[GenStaff],
    shifts: &[GenShift],
    off: &[Vec<bool>],
    rng: &mut StdRng,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut week_count = vec![0usize; staff.len()];
    // The end hour (possibly past 24) of each person's shift yesterday and today.
    let mut yesterday_end: Vec<Option<i8>> = vec![None; staff.len()];
    let mut today_end: Vec<Option<i8>> = vec![None; staff.len()];
    let mut by_day: Vec<Vec<usize>> = vec![Vec::new(); profile.days];
    for (i, s) in shifts.iter().enumerate() {
        by_day[s.day].push(i);
    }
    for (day, todays) in by_day.iter().enumerate() {
        if day % 7 == 0 {
            week_count.iter_mut().for_each(|c| *c = 0);
        }
        let mut busy = vec![false; staff.len()];
        let mut order = todays.clone();
        order.shuffle(rng);
        for &shift_index in &order {
            let shift = &shifts[shift_index];
            let rested = |s: usize| match yesterday_end[s] {
                Some(end) => i32::from(shift.start_hour) + 24 - i32::from(end) >= 10,
                None => true,
            };
            for _ in 0..shift.capacity {
                let eligible = |s: usize| {
                    !busy[s] && !off[s][day] && week_count[s] < SHIFTS_PER_WEEK && rested(s)
                };
                let pick = (0..staff.len()).filter(|&s| eligible(s)).max_by_key(|&s| {
                    (
                        staff[s].skills.contains(shift.skill),
                        staff[s].department == shift.department,
                        std::cmp::Reverse(week_count[s]),
                        std::cmp::Reverse((s + day) % staff.len()),
                    )
                });
                let Some(s) = pick else { break };
                busy[s] = true;
                week_count[s] += 1;
                today_end[s] = Some(shift.start_hour + SHIFT_HOURS);
                out.push((s, shift_index));
            }
        }
        std::mem::swap(&mut yesterday_end, &mut today_end);
        today_end.iter_mut().for_each(|e| *e = None);
    }
    out
}

impl Roster {
    fn date(&self, day: usize) -> Date {
        first_day() + (day as i64).days()
    }

    /// Writes the five CSV files into `dir` and returns their paths.
    pub fn write_csv(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut files = Vec::new();
        let mut write = |name: &str, text: String| -> std::io::Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            files.push(path);
            Ok(())
        };
        let mut text = String::from("id,name,time_zone\n");
        for d in 0..self.profile.departments {
            let _ = writeln!(
                text,
                "{},Department {d},{}",
                department_id(d),
                ZONES[d % ZONES.len()]
            );
        }
        write("departments.csv", text)?;
        let mut text = String::from("id,name,department,skills,max_hours_week\n");
        for s in &self.staff {
            let skills: Vec<&str> = s.skills.iter().copied().collect();
            let _ = writeln!(
                text,
                "{},{},{},{},40",
                s.id,
                s.name,
                department_id(s.department),
                skills.join(";")
            );
        }
        write("staff.csv", text)?;
        let mut text =
            String::from("id,department,date,start,end,capacity,min_staff,skills,label\n");
        for s in &self.shifts {
            let end = (s.start_hour + SHIFT_HOURS) % 24;
            let _ = writeln!(
                text,
                "{},{},{},{:02}:00,{:02}:00,{},{},{},",
                s.id,
                department_id(s.department),
                self.date(s.day),
                s.start_hour,
                end,
                s.capacity,
                s.capacity.min(1),
                s.skill
            );
        }
        write("shifts.csv", text)?;
        let mut text = String::from("staff,shift,role,note\n");
        for (s, sh) in &self.assignments {
            let _ = writeln!(text, "{},{},,", self.staff[*s].id, self.shifts[*sh].id);
        }
        write("assignments.csv", text)?;
        let mut text = String::from("staff,from,to,kind,reason\n");
        for a in &self.availability {
            let from = self.date(a.first_day);
            let to = self.date(a.first_day + a.days);
            let _ = writeln!(
                text,
                "{},{from}T00:00,{to}T00:00,{},generated",
                self.staff[a.staff].id, a.kind
            );
        }
        write("availability.csv", text)?;
        Ok(files)
    }

    /// Hours per person per week, averaged over everyone and every week.
    pub fn mean_hours_per_week(&self) -> f64 {
        let weeks = self.profile.days as f64 / 7.0;
        self.assignments.len() as f64 * f64::from(SHIFT_HOURS) / self.profile.staff as f64 / weeks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_roster_and_another_seed_another() {
        let a = generate(SMALL, 7);
        let b = generate(SMALL, 7);
        let c = generate(SMALL, 8);
        assert_eq!(a.assignments, b.assignments);
        assert_ne!(a.assignments, c.assignments);
    }

    #[test]
    fn a_large_roster_is_shaped_like_a_real_one() {
        let r = generate(LARGE, 0);
        assert_eq!(r.staff.len(), 50);
        // 20 slots a day over 28 days, 1 to 3 seats each.
        assert_eq!(r.shifts.len(), 20 * 28);
        assert!(
            r.shifts.iter().any(|s| s.start_hour == 22),
            "night shifts exist"
        );
        let hours = r.mean_hours_per_week();
        assert!(
            (30.0..=40.0).contains(&hours),
            "about 38 h a week, got {hours}"
        );
        assert!(r
            .availability
            .iter()
            .any(|a| a.kind == "leave" && a.days >= 5));
        // Nobody works twice on one day.
        let mut seen = BTreeSet::new();
        for (s, sh) in &r.assignments {
            assert!(seen.insert((*s, r.shifts[*sh].day)));
        }
    }
}
