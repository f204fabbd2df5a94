//! What other Automerge programs do to a shiftmesh document when they edit it the ordinary
//! way, by root key (the reference JavaScript library among them): strings as text objects,
//! numbers of the wrong type or range, missing fields, replaced or deleted collections, root
//! values. The property test and the simulation mix these writes into their workloads.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ROOT};
use rand::Rng;

/// One write by another program. Entities are named by index into the workload's own staff
/// and shift ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Foreign {
    /// A person's name as a text object (what Automerge JS makes of a string).
    TextName(usize, u8),
    /// A shift field set to a value of the wrong type or out of range.
    WrongValue(usize, &'static str, ForeignValue),
    /// A person's name deleted.
    MissingName(usize),
    /// `doc.staff = {jsN: {...}}`: the staff collection's root key replaced.
    ReplaceStaff(u8),
    /// `delete doc.shifts`.
    DeleteShifts,
    /// The site's name at the root.
    SiteName(u8),
}

/// A value of a shape or range shiftmesh does not write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ForeignValue {
    Int(i64),
    Text(&'static str),
    Float(f64),
}

/// The shift fields a foreign writer damages, and the values it writes (a whole number stored
/// as a float, 3.0, reads as 3: not every foreign write damages).
const FIELDS: [&str; 3] = ["capacity", "min_staff", "time"];
const VALUES: [ForeignValue; 5] = [
    ForeignValue::Int(12345),
    ForeignValue::Text("garbage"),
    ForeignValue::Int(-3),
    ForeignValue::Float(3.0),
    ForeignValue::Float(1.5),
];

impl Foreign {
    /// A random write to a schedule of `staff` people and `shifts` shifts.
    pub fn random(rng: &mut impl Rng, staff: usize, shifts: usize) -> Foreign {
        match rng.gen_range(0..6) {
            0 => Foreign::TextName(rng.gen_range(0..staff), rng.gen_range(0..3)),
            1 => Foreign::WrongValue(
                rng.gen_range(0..shifts),
                FIELDS[rng.gen_range(0..FIELDS.len())],
                VALUES[rng.gen_range(0..VALUES.len())],
            ),
            2 => Foreign::MissingName(rng.gen_range(0..staff)),
            3 => Foreign::ReplaceStaff(rng.gen_range(0..3)),
            4 => Foreign::DeleteShifts,
            _ => Foreign::SiteName(rng.gen_range(0..3)),
        }
    }

    /// Makes the write on `doc` (the caller commits), reaching entities as a script would:
    /// by root key, then by id.
    pub fn write(&self, doc: &mut AutoCommit, staff_ids: &[&str], shift_ids: &[&str]) {
        // These writes go into an in-memory document a test owns; a write that cannot be made
        // (the entity is gone) is skipped, as a script would find nothing to edit.
        match *self {
            Foreign::TextName(p, n) => {
                if let Some(obj) = entity(doc, "staff", staff_ids[p]) {
                    if let Ok(text) = doc.put_object(&obj, "name", ObjType::Text) {
                        let _ = doc.splice_text(&text, 0, 0, &format!("{} {n}", staff_ids[p]));
                    }
                }
            }
            Foreign::WrongValue(s, field, value) => {
                if let Some(obj) = entity(doc, "shifts", shift_ids[s]) {
                    let _ = match value {
                        ForeignValue::Int(i) => doc.put(&obj, field, i),
                        ForeignValue::Text(t) => doc.put(&obj, field, t),
                        ForeignValue::Float(x) => doc.put(&obj, field, x),
                    };
                }
            }
            Foreign::MissingName(p) => {
                if let Some(obj) = entity(doc, "staff", staff_ids[p]) {
                    let _ = doc.delete(&obj, "name");
                }
            }
            Foreign::ReplaceStaff(n) => {
                if let Ok(rival) = doc.put_object(ROOT, "staff", ObjType::Map) {
                    if let Ok(new) = doc.put_object(&rival, format!("js{n}"), ObjType::Map) {
                        let _ = doc.put(&new, "name", format!("Js {n}"));
                    }
                }
            }
            Foreign::DeleteShifts => {
                let _ = doc.delete(ROOT, "shifts");
            }
            Foreign::SiteName(n) => {
                let _ = doc.put(ROOT, "site_name", format!("Site {n}"));
            }
        }
    }
}

/// An entity's map, by root key and id.
fn entity(doc: &AutoCommit, collection: &str, key: &str) -> Option<ObjId> {
    let (_, coll) = doc.get(ROOT, collection).ok()??;
    let (_, obj) = doc.get(&coll, key).ok()??;
    Some(obj)
}
