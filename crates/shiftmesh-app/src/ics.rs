//! The iCalendar format (RFC 5545): one event per shift, text escaped, the site in every UID,
//! shifts whose local times fall in a DST gap placed honestly.

use shiftmesh_model::entity::normalize_line_breaks;
use shiftmesh_model::time::format_time;
use shiftmesh_model::{Assignment, AssignmentKey, Collection, Id, Shift, View};

use crate::session::now_ms;
use crate::transfer::ExportNotes;

/// Escapes text for an iCalendar TEXT value (RFC 5545 §3.3.11): backslash, semicolon and
/// comma are escaped, a line break (LF, CRLF or CR) becomes `\n`, and the other control
/// characters, which TEXT does not allow (tab aside), are dropped.
fn ics_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in normalize_line_breaks(text).chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
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

/// A shift's event: its real interval, and a note when its local times do not exist as
/// written (a DST gap), in which case a start that cannot be placed keeps the shift's planned
/// length instead of collapsing to nothing.
fn ics_interval(
    shift: &Shift,
    zone: &shiftmesh_model::SiteZone,
) -> (shiftmesh_model::Interval, Option<String>) {
    let time = shift.time();
    let placed = time.placed(zone);
    if !placed.start_in_gap && !placed.end_in_gap {
        return (placed.interval, None);
    }
    let planned = jiff::Span::new().minutes(
        time.start_local()
            .until(time.end_local())
            .ok()
            .and_then(|span| span.total(jiff::Unit::Minute).ok())
            .map_or(0, |m| m as i64),
    );
    let mut interval = placed.interval;
    if interval.end <= interval.start {
        interval.end = interval.start.checked_add(planned).unwrap_or(interval.end);
    }
    let which = match (placed.start_in_gap, placed.end_in_gap) {
        (true, true) => "Its start and end do",
        (true, false) => "Its start does",
        _ => "Its end does",
    };
    let local = |t: jiff::Timestamp| format_time(zone.local(t).time());
    let note = format!(
        "{which} not exist on {} in {} (the clocks skip an hour): shown from {} to {}. Fix it with shiftmesh conflicts --kind invalid-shift-time.",
        shift.date,
        zone.name(),
        local(interval.start),
        local(interval.end)
    );
    (interval, Some(note))
}

pub fn export_ics(
    schedule: &View,
    site_id: &str,
    staff: Option<&Id>,
    department: Option<&Id>,
    notes: &mut ExportNotes,
) -> String {
    let index = schedule.index();
    let zone = schedule.zone();
    let stamp = jiff::Timestamp::from_millisecond(now_ms()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    notes.leave_out(index, &[Collection::Shifts]);
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
        let assigned: Vec<&Assignment> = index.assignments_of_shift(&shift.id).collect();
        if let Some(staff) = staff {
            if !assigned.iter().any(|a| a.staff == *staff) {
                continue;
            }
        }
        let (interval, gap_note) = ics_interval(shift, zone);
        let summary = if shift.label.is_empty() {
            shift.id.to_string()
        } else {
            format!("{} ({})", shift.label, shift.id)
        };
        // The site in every UID, so that two sites' calendars never collide in one client.
        let uid = match staff {
            Some(s) => format!(
                "{}@{site_id}.shiftmesh",
                AssignmentKey::new(shift.id.clone(), s.clone())
            ),
            None => format!("{}@{site_id}.shiftmesh", shift.id),
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
        ics_line(
            &mut out,
            &format!(
                "DESCRIPTION:{}",
                ics_text(&ics_description(shift, &assigned, staff, gap_note))
            ),
        );
        ics_line(&mut out, "END:VEVENT");
    }
    ics_line(&mut out, "END:VCALENDAR");
    out
}

/// Who works the shift, with each one's role and note (the exported person's first), its
/// coverage, and any note about its times.
fn ics_description(
    shift: &Shift,
    assigned: &[&Assignment],
    staff: Option<&Id>,
    gap_note: Option<String>,
) -> String {
    let person = |a: &Assignment| {
        let mut text = a.staff.to_string();
        match (a.role.is_empty(), a.note.is_empty()) {
            (true, true) => {}
            (false, true) => text.push_str(&format!(" (role: {})", a.role)),
            (true, false) => text.push_str(&format!(" (note: {})", a.note)),
            (false, false) => text.push_str(&format!(" (role: {}; note: {})", a.role, a.note)),
        }
        text
    };
    let mut lines = Vec::new();
    if let Some(mine) = staff.and_then(|s| assigned.iter().find(|a| a.staff == *s)) {
        if !mine.role.is_empty() {
            lines.push(format!("Role: {}", mine.role));
        }
        if !mine.note.is_empty() {
            lines.push(format!("Note: {}", mine.note));
        }
    }
    lines.push(format!(
        "Assigned ({}/{} min, capacity {}): {}",
        assigned.len(),
        shift.min_staff,
        shift.capacity,
        if assigned.is_empty() {
            "nobody".to_owned()
        } else {
            assigned
                .iter()
                .map(|a| person(a))
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    lines.extend(gap_note);
    lines.join("\n")
}
