//! Cordon's core vocabulary: the events an agent produces, the findings and
//! verdicts the guard returns, the capabilities tools map to, and the policy
//! that turns findings into decisions. Pure data and logic, no I/O.

pub mod model;
pub mod policy;
pub mod tools;

pub use model::{Decision, Event, EventKind, Finding, Severity, Verdict};
pub use policy::{FailMode, Mode, Policy, PolicyError};
pub use tools::{Capability, ToolTable};
