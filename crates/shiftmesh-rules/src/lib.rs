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

pub use check::{
    full_pass, iso_week, sort as sort_conflicts, Input, Scope, Settings, MIN_REST_MINUTES_DEFAULT,
};
pub use conflict::{
    conflict_id, Conflict, Kind, OptionId, ResolutionOption, Severity, WrittenValue,
};
pub use resolve::{plan, substitutes, Plan, Request, ResolveError};
pub use substitute::{
    candidates, cover, eligibility, Candidate, Cover, NearMiss, CANDIDATES_MAX, NEAR_MISSES_MAX,
};
pub use validator::{is_acknowledged, open_and_acknowledged, Delta, Validator};
