//! Secrets and canaries (to be written).
