//! Secrets and canaries.
//!
//! - [`Secrets`] recognises credentials in text and JSON (a table of recognizers in `recognizers.rs`: vendor token
//!   formats, private keys, passwords in URLs and flags, secret-named assignments), redacts them, and fingerprints
//!   them with a keyed HMAC so that the same secret can be followed across events without being stored.
//! - [`forms`] lists the encodings a secret takes on its way out (base64 at any alignment, hex, percent-encoding).
//! - [`generate`] and [`plant`] make decoy credential files; [`CanaryMatcher`] finds their markers again, in any
//!   of those forms.
//!
//! Cost is linear in the text: an Aho-Corasick prefilter over literal anchors picks the recognizers that can
//! match (none, for most text), whose patterns are linear-time regexes; at most `DEFAULT_SCAN_LIMIT` bytes of a
//! text are scanned unless `Secrets::with_scan_limit` says otherwise.

mod canary;
mod forms;
mod recognizers;
mod scan;

pub use canary::{
    canary_id, generate, plant, Canary, CanaryError, CanaryHit, CanaryMatcher, CANARY_KINDS,
};
pub use forms::{forms, tagged_forms};
pub use scan::{SecretHit, Secrets, DEFAULT_SCAN_LIMIT};
