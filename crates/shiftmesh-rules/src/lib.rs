//! The validation pass: the semantic conflicts a merge cannot see (double-booking, capacity,
//! unavailability and the rest of the catalogue), the same on every node, and the resolutions
//! that fix them as ordinary changes.
//!
//! No I/O, no clock, no randomness: the input is the schedule's read index (plus the concurrent
//! values the document holds), and the output is a sorted list of conflicts with stable ids.

mod check;
mod conflict;
mod resolve;
mod substitute;
mod validator;

pub use check::{full_pass, iso_week, Input, Scope, Settings, MIN_REST_MINUTES_DEFAULT};
pub use conflict::{
    conflict_id, Conflict, Kind, OptionId, ResolutionOption, Severity, WrittenValue,
};
pub use resolve::{plan, substitutes, Plan, Request, ResolveError};
pub use substitute::{candidates, eligibility, Candidate, CANDIDATES_MAX};
pub use validator::{open_and_acknowledged, Delta, Validator};
