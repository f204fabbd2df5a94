//! Each kind of conflict, with its edges, and each resolution.

mod common;

use common::{id, World};
use shiftmesh_model::{AvailabilityKind, Collection};
use shiftmesh_rules::{plan, substitutes, Input, Kind, Request, ResolveError, Severity};

fn resolve(
    world: &mut World,
    kind: Kind,
    option: &str,
    staff: Option<&str>,
    value: Option<&str>,
) -> Result<(), ResolveError> {
    let conflict = world
        .of_kind(kind)
        .into_iter()
        .next()
        .expect("a conflict of that kind");
    let concurrent = world.schedule.all_concurrent_values().unwrap();
    let e = world.tick();
    let planned = {
        let input = Input::new(world.schedule.index(), world.schedule.zone(), &concurrent);
        let request = Request {
            option: option.into(),
            staff: staff.map(id),
            value: value.map(str::to_owned),
            note: None,
        };
        plan(&conflict, &request, &input, &e)?
    };
    world
        .schedule
        .apply(&e, planned.message, &planned.ops)
        .unwrap();
    Ok(())
}

#[test]
fn back_to_back_shifts_do_not_conflict_but_overlapping_ones_do() {
    let mut w = World::new("Europe/Berlin");
    w.staff("sarah", &[], None);
    w.shift("early", "2026-11-23", ("06:00", "14:00"), (1, 1), &[]);
    w.shift("late", "2026-11-23", ("14:00", "22:00"), (1, 1), &[]);
    w.shift("mid", "2026-11-23", ("12:00", "16:00"), (1, 1), &[]);
    w.assign("sarah", "early");
    w.assign("sarah", "late");
    assert!(w.of_kind(Kind::DoubleBooking).is_empty());
    w.assign("sarah", "mid");
    let found = w.of_kind(Kind::DoubleBooking);
    assert_eq!(
        found.len(),
        1,
        "mid joins early and late into one window of overlap"
    );
    assert_eq!(found[0].severity, Severity::Error);
    assert_eq!(
        found[0].message,
        "sarah is booked into 3 shifts that overlap between 06:00 and 22:00: early, late, mid"
    );
    assert_eq!(found[0].shifts, [id("early"), id("late"), id("mid")]);
    resolve(&mut w, Kind::DoubleBooking, "keep-second", None, None).unwrap();
    let left: Vec<&str> = w
        .schedule
        .index()
        .assignments
        .keys()
        .map(|k| k.shift.as_str())
        .collect();
    assert_eq!(
        left,
        ["late"],
        "keep-second keeps the second made, and only it"
    );
    assert!(w.of_kind(Kind::DoubleBooking).is_empty());
}

#[test]
fn a_pair_of_overlapping_shifts_is_named_with_its_overlap() {
    let mut w = World::new("Europe/Berlin");
    w.staff("sarah", &[], None);
    w.shift("early", "2026-11-23", ("06:00", "14:00"), (1, 1), &[]);
    w.shift("mid", "2026-11-23", ("12:00", "16:00"), (1, 1), &[]);
    w.assign("sarah", "early");
    w.assign("sarah", "mid");
    let found = w.of_kind(Kind::DoubleBooking);
    assert_eq!(
        found[0].message,
        "sarah is booked into early and mid, which overlap 12:00–14:00"
    );
}

/// A member once wrote 1,200 overlapping shifts for one person: pairs made 719,400 conflicts
/// and stalled every node. Windows make one.
#[test]
fn many_overlapping_shifts_of_one_person_make_one_conflict() {
    let mut w = World::new("UTC");
    w.staff("sam", &[], None);
    const OVERLAPPING: usize = 300;
    for n in 0..OVERLAPPING {
        let minute = n % 60;
        let start = format!("{:02}:{minute:02}", 8 + n / 60);
        w.shift(
            &format!("s{n:04}"),
            "2026-11-23",
            (&start, "23:00"),
            (1, 0),
            &[],
        );
        w.assign("sam", &format!("s{n:04}"));
    }
    let conflicts = w.conflicts();
    let double: Vec<_> = conflicts
        .iter()
        .filter(|c| c.kind == Kind::DoubleBooking)
        .collect();
    assert_eq!(double.len(), 1);
    assert_eq!(double[0].assignments.len(), OVERLAPPING);
    assert!(
        conflicts.len() < 2 * OVERLAPPING,
        "conflicts grow with the shifts, not their square: {}",
        conflicts.len()
    );
}

#[test]
fn an_overnight_shift_overlaps_the_next_morning() {
    let mut w = World::new("Europe/Berlin");
    w.staff("sam", &[], None);
    w.shift("night", "2026-11-23", ("22:00", "06:00"), (1, 1), &[]);
    w.shift("dawn", "2026-11-24", ("05:00", "13:00"), (1, 1), &[]);
    w.assign("sam", "night");
    w.assign("sam", "dawn");
    let found = w.of_kind(Kind::DoubleBooking);
    assert_eq!(found.len(), 1);
    assert!(
        found[0]
            .message
            .contains("2026-11-24 05:00–2026-11-24 06:00"),
        "{}",
        found[0].message
    );
}

#[test]
fn keep_first_keeps_the_assignment_made_first() {
    let mut w = World::new("UTC");
    w.staff("sarah", &[], None);
    w.shift("b-shift", "2026-11-23", ("09:00", "13:00"), (1, 0), &[]);
    w.shift("a-shift", "2026-11-23", ("09:00", "12:00"), (1, 0), &[]);
    w.assign("sarah", "b-shift");
    w.assign("sarah", "a-shift");
    let conflict = &w.of_kind(Kind::DoubleBooking)[0];
    assert_eq!(
        conflict.assignments,
        ["b-shift/sarah", "a-shift/sarah"],
        "first is the one made first"
    );
    assert!(
        !conflict
            .options
            .iter()
            .any(|o| o.id.as_str() == "split-time"),
        "one contains the other"
    );
    resolve(&mut w, Kind::DoubleBooking, "keep-first", None, None).unwrap();
    assert!(w.conflicts().is_empty());
    assert_eq!(w.schedule.index().assignments.len(), 1);
    assert!(w
        .schedule
        .index()
        .assignments
        .keys()
        .any(|k| k.shift.as_str() == "b-shift"));
}

#[test]
fn split_time_divides_a_staggered_overlap() {
    let mut w = World::new("UTC");
    w.staff("sarah", &[], None);
    w.shift("one", "2026-11-23", ("08:00", "12:00"), (1, 0), &[]);
    w.shift("two", "2026-11-23", ("10:00", "14:00"), (1, 0), &[]);
    w.assign("sarah", "one");
    w.assign("sarah", "two");
    resolve(&mut w, Kind::DoubleBooking, "split-time", None, None).unwrap();
    assert!(w.of_kind(Kind::DoubleBooking).is_empty());
    let windows: Vec<String> = w
        .schedule
        .index()
        .assignments
        .values()
        .map(|a| a.window.unwrap().encode())
        .collect();
    assert_eq!(
        windows,
        [
            "2026-11-23T08:00/2026-11-23T11:00",
            "2026-11-23T11:00/2026-11-23T14:00"
        ]
    );
}

#[test]
fn three_way_capacity_overflow_removes_the_most_recent() {
    let mut w = World::new("UTC");
    for p in ["ann", "bob", "cy"] {
        w.staff(p, &[], None);
    }
    w.shift("desk", "2026-11-23", ("09:00", "17:00"), (2, 1), &[]);
    let mut b = w.fork();
    let mut c = w.fork();
    w.assign("ann", "desk");
    b.clock += 10;
    b.assign("bob", "desk");
    c.clock += 20;
    c.assign("cy", "desk");
    w.merge_from(&mut b);
    w.merge_from(&mut c);
    let found = w.of_kind(Kind::CapacityExceeded);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].options[0].label.ends_with(": cy"),
        "{}",
        found[0].options[0].label
    );
    resolve(&mut w, Kind::CapacityExceeded, "remove-excess", None, None).unwrap();
    let left: Vec<&str> = w
        .schedule
        .index()
        .assignments
        .keys()
        .map(|k| k.staff.as_str())
        .collect();
    assert_eq!(left, ["ann", "bob"]);
    assert!(w.conflicts().is_empty());
}

#[test]
fn increase_capacity_refuses_too_small_a_value() {
    let mut w = World::new("UTC");
    for p in ["ann", "bob"] {
        w.staff(p, &[], None);
    }
    w.shift("desk", "2026-11-23", ("09:00", "17:00"), (2, 1), &[]);
    w.assign("ann", "desk");
    w.assign("bob", "desk");
    let e = w.tick();
    let s = w.schedule.index().shifts[&id("desk")].clone();
    w.schedule
        .update(
            &e,
            &shiftmesh_model::Shift {
                capacity: 1,
                min_staff: 1,
                ..s
            },
            &["capacity"],
            "cap".into(),
        )
        .unwrap();
    let err = resolve(
        &mut w,
        Kind::CapacityExceeded,
        "increase-capacity",
        None,
        Some("1"),
    )
    .unwrap_err();
    assert!(matches!(err, ResolveError::BadValue(_)));
    resolve(
        &mut w,
        Kind::CapacityExceeded,
        "increase-capacity",
        None,
        Some("2"),
    )
    .unwrap();
    assert!(w.conflicts().is_empty());
}

#[test]
fn leave_makes_an_assignment_an_error_and_substitutes_must_be_free() {
    let mut w = World::new("Europe/Berlin");
    w.staff("sam", &["guide"], None);
    w.staff("free", &["guide"], None);
    w.staff("busy", &["guide"], None);
    w.staff("unskilled", &[], None);
    w.shift(
        "tue-am",
        "2026-11-24",
        ("09:00", "13:00"),
        (1, 1),
        &["guide"],
    );
    w.shift("tue-other", "2026-11-24", ("10:00", "12:00"), (1, 0), &[]);
    w.assign("busy", "tue-other");
    w.assign("sam", "tue-am");
    w.away(
        "sam",
        "2026-11-24T00:00",
        "2026-11-25T00:00",
        AvailabilityKind::Leave,
    );
    let found = w.of_kind(Kind::StaffUnavailable);
    assert_eq!(found.len(), 1);
    let concurrent = w.schedule.all_concurrent_values().unwrap();
    let (shift, offered) = {
        let input = Input::new(w.schedule.index(), w.schedule.zone(), &concurrent);
        substitutes(&found[0], &input).unwrap()
    };
    assert_eq!(shift.as_str(), "tue-am");
    let names: Vec<&str> = offered.iter().map(|c| c.staff.as_str()).collect();
    assert_eq!(names, ["free"], "only people who are free and skilled");
    let err = resolve(
        &mut w,
        Kind::StaffUnavailable,
        "find-substitute",
        Some("busy"),
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("busy with tue-other"), "{err}");
    resolve(
        &mut w,
        Kind::StaffUnavailable,
        "find-substitute",
        Some("free"),
        None,
    )
    .unwrap();
    assert!(w.of_kind(Kind::StaffUnavailable).is_empty());
    assert!(w
        .schedule
        .index()
        .assignments
        .keys()
        .any(|k| k.staff.as_str() == "free"));
}

#[test]
fn unavailable_is_an_error_but_desired_and_undesired_are_not() {
    let mut w = World::new("UTC");
    w.staff("sam", &[], None);
    w.shift("s", "2026-11-24", ("09:00", "13:00"), (1, 0), &[]);
    w.assign("sam", "s");
    w.away(
        "sam",
        "2026-11-24T08:00",
        "2026-11-24T10:00",
        AvailabilityKind::Desired,
    );
    w.away(
        "sam",
        "2026-11-24T12:00",
        "2026-11-24T15:00",
        AvailabilityKind::Undesired,
    );
    assert!(w.conflicts().is_empty());
    w.away(
        "sam",
        "2026-11-24T12:59",
        "2026-11-24T15:00",
        AvailabilityKind::Unavailable,
    );
    assert_eq!(w.of_kind(Kind::StaffUnavailable).len(), 1);
    resolve(&mut w, Kind::StaffUnavailable, "mark-uncovered", None, None).unwrap();
    assert!(w.schedule.index().assignments.is_empty());
}

#[test]
fn delete_versus_assign_leaves_a_dangling_reference_that_can_be_restored() {
    let mut a = World::new("UTC");
    a.staff("sam", &[], None);
    a.shift("tue-pm", "2026-11-24", ("14:00", "18:00"), (1, 0), &[]);
    let mut b = a.fork();
    a.remove(Collection::Shifts, "tue-pm");
    b.assign("sam", "tue-pm");
    a.merge_from(&mut b);
    b.merge_from(&mut a);
    let on_a = a.of_kind(Kind::DanglingReference);
    assert_eq!(on_a.len(), 1);
    assert_eq!(
        on_a,
        b.of_kind(Kind::DanglingReference),
        "the same conflict with the same id on both"
    );
    assert!(
        on_a[0].message.contains("shift tue-pm no longer exists"),
        "{}",
        on_a[0].message
    );
    resolve(&mut a, Kind::DanglingReference, "restore", None, None).unwrap();
    assert!(a.conflicts().is_empty());
    assert!(a.schedule.index().shifts.contains_key(&id("tue-pm")));
}

#[test]
fn a_shift_across_a_dst_change_is_valid_but_one_starting_in_the_gap_is_not() {
    let mut w = World::new("Europe/Berlin");
    w.shift("night", "2026-03-28", ("22:00", "06:00"), (1, 0), &[]);
    assert!(w.conflicts().is_empty(), "7 real hours, fine");
    w.shift("gap", "2026-03-29", ("02:30", "06:00"), (1, 0), &[]);
    let found = w.of_kind(Kind::InvalidShiftTime);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("does not exist in Europe/Berlin"),
        "{}",
        found[0].message
    );
    resolve(
        &mut w,
        Kind::InvalidShiftTime,
        "edit-shift",
        None,
        Some("03:00-06:00"),
    )
    .unwrap();
    assert!(w.conflicts().is_empty());
    // A 24-hour shift on the night the clocks go back lasts 25 hours.
    w.shift("long", "2026-10-24", ("22:00", "22:00"), (1, 0), &[]);
    assert!(w.of_kind(Kind::InvalidShiftTime)[0]
        .message
        .contains("longer than the maximum"));
}

#[test]
fn warnings_for_skills_staffing_rest_and_hours() {
    let mut w = World::new("UTC");
    w.staff("ann", &["nurse"], Some(16));
    w.shift(
        "icu",
        "2026-11-23",
        ("06:00", "14:00"),
        (2, 2),
        &["nurse", "icu"],
    );
    w.shift("eve", "2026-11-23", ("20:00", "23:59"), (1, 0), &[]);
    w.shift("tue", "2026-11-24", ("06:00", "14:00"), (1, 0), &[]);
    w.assign("ann", "icu");
    w.assign("ann", "eve");
    w.assign("ann", "tue");
    let kinds: Vec<Kind> = w.conflicts().iter().map(|c| c.kind).collect();
    assert!(kinds.contains(&Kind::MissingSkill));
    assert!(kinds.contains(&Kind::Understaffed));
    assert!(
        kinds.contains(&Kind::InsufficientRest),
        "6 h between 23:59 and 06:00"
    );
    assert!(kinds.contains(&Kind::MaxHoursExceeded), "20 h against 16 h");
    assert!(w
        .conflicts()
        .iter()
        .all(|c| c.severity == Severity::Warning));
}

#[test]
fn an_acknowledgement_lapses_when_the_data_changes() {
    let mut w = World::new("UTC");
    w.shift("s", "2026-11-23", ("09:00", "13:00"), (2, 1), &[]);
    resolve(&mut w, Kind::Understaffed, "acknowledge", None, None).unwrap();
    let open = |w: &mut World| {
        let all = w.conflicts();
        shiftmesh_rules::open_and_acknowledged(all, &w.schedule.index().acks.clone()).0
    };
    assert!(open(&mut w).is_empty(), "acknowledged");
    let e = w.tick();
    let s = w.schedule.index().shifts[&id("s")].clone();
    let renamed = shiftmesh_model::Shift {
        label: "renamed".into(),
        ..s.clone()
    };
    w.schedule
        .update(&e, &renamed, &["label"], "label".into())
        .unwrap();
    assert!(
        open(&mut w).is_empty(),
        "a new label is not what the warning is about"
    );
    let e = w.tick();
    let later = shiftmesh_model::Shift {
        start: shiftmesh_model::time::parse_time("10:00").unwrap(),
        ..s
    };
    w.schedule
        .update(&e, &later, &["time"], "time".into())
        .unwrap();
    assert_eq!(
        open(&mut w).len(),
        1,
        "the shift moved, so the acknowledgement lapsed"
    );
}

#[test]
fn errors_cannot_be_acknowledged_and_unknown_options_are_refused() {
    let mut w = World::new("UTC");
    w.staff("sam", &[], None);
    w.shift("a", "2026-11-23", ("09:00", "13:00"), (1, 0), &[]);
    w.shift("b", "2026-11-23", ("10:00", "14:00"), (1, 0), &[]);
    w.assign("sam", "a");
    w.assign("sam", "b");
    let before = w.schedule.heads();
    assert!(matches!(
        resolve(&mut w, Kind::DoubleBooking, "acknowledge", None, None),
        Err(ResolveError::ErrorsCannotBeAcknowledged(_))
    ));
    assert!(matches!(
        resolve(&mut w, Kind::DoubleBooking, "remove-excess", None, None),
        Err(ResolveError::OptionNotOffered { .. })
    ));
    assert!(matches!(
        resolve(&mut w, Kind::DoubleBooking, "find-substitute", None, None),
        Err(ResolveError::Missing { .. })
    ));
    assert_eq!(w.schedule.heads(), before, "nothing written");
}

#[test]
fn concurrent_edits_list_every_value_with_its_author_and_pick_value_settles_them() {
    let mut a = World::new("UTC");
    a.shift("s", "2026-11-23", ("09:00", "13:00"), (2, 1), &[]);
    let mut b = a.fork();
    let s = a.schedule.index().shifts[&id("s")].clone();
    let e = a.tick();
    a.schedule
        .update(
            &e,
            &shiftmesh_model::Shift {
                capacity: 3,
                ..s.clone()
            },
            &["capacity"],
            "3".into(),
        )
        .unwrap();
    let e = shiftmesh_model::Edit {
        author: "bob@b".into(),
        now_ms: 9_000,
    };
    b.schedule
        .update(
            &e,
            &shiftmesh_model::Shift { capacity: 4, ..s },
            &["capacity"],
            "4".into(),
        )
        .unwrap();
    a.merge_from(&mut b);
    b.merge_from(&mut a);
    let found = a.of_kind(Kind::ConcurrentEdit);
    assert_eq!(found.len(), 1);
    assert_eq!(found, b.of_kind(Kind::ConcurrentEdit));
    let authors: Vec<&str> = found[0].values.iter().map(|v| v.author.as_str()).collect();
    assert_eq!(authors, ["alice@a", "bob@b"]);
    assert!(resolve(&mut a, Kind::ConcurrentEdit, "pick-value", None, Some("5")).is_err());
    resolve(&mut a, Kind::ConcurrentEdit, "pick-value", None, Some("3")).unwrap();
    assert!(a.of_kind(Kind::ConcurrentEdit).is_empty());
    assert_eq!(a.schedule.index().shifts[&id("s")].capacity, 3);
}

#[test]
fn a_department_in_another_zone_places_its_shifts_there_and_says_so() {
    let mut w = World::new("Europe/Berlin");
    let e = w.tick();
    let dept = shiftmesh_model::Department {
        id: id("ny"),
        name: "New York desk".into(),
        time_zone: Some("America/New_York".into()),
    };
    w.schedule.add(&e, &dept, "dept".into()).unwrap();
    w.staff("sam", &[], None);
    w.shift("late", "2026-11-23", ("20:00", "23:00"), (1, 0), &[]);
    let e = w.tick();
    let late = w.schedule.index().shifts[&id("late")].clone();
    let moved = shiftmesh_model::Shift {
        department: Some(id("ny")),
        ..late
    };
    w.schedule
        .update(&e, &moved, &["department"], "dept".into())
        .unwrap();
    w.assign("sam", "late");
    // 20:00–23:00 in New York is 02:00–05:00 the next day in Berlin.
    w.away(
        "sam",
        "2026-11-24T00:00",
        "2026-11-24T03:00",
        AvailabilityKind::Unavailable,
    );
    let found = w.of_kind(Kind::StaffUnavailable);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("America/New_York") && found[0].message.contains("Europe/Berlin"),
        "{}",
        found[0].message
    );
}
