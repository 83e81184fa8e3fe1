//! The episode store (to be written).
