//! Cordon's core vocabulary: the events an agent produces, the findings and
//! verdicts the guard returns, the capabilities tools map to, and the policy
//! that turns findings into decisions. Pure data and logic, no I/O.

pub mod calendar;
pub mod keywords;
pub mod model;
pub mod net;
pub mod policy;
pub mod tools;

pub use keywords::Keywords;
pub use model::{Decision, Event, EventKind, Finding, Severity, Verdict};
pub use net::NetRecord;
pub use policy::{FailMode, Mode, Policy, PolicyError};
pub use tools::{Capability, ToolTable};

/// The largest char boundary of `s` at or before `i` (clamped to its length):
/// where to cut text an agent sent without splitting a character.
pub fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
