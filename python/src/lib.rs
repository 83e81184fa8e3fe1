//! `cordon._native`: the check engine and the episode tracker, in process.
//!
//! Events and verdicts cross the boundary as the check contract's JSON lines
//! (`../shared/docs/contract.md`), so the Python side stays a thin layer and
//! the two shapes cannot drift apart.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use cordon_core::policy::{FailMode, Mode};
use cordon_core::{Event, Policy, Severity};
use cordon_engine::Engine;
use cordon_episode::{Tracker, TrackerLimits};
use cordon_secrets::Secrets;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

// The allocator the `cordon` binary ships with: the engine allocates per
// call (parse trees, views), and mimalloc's thread-local free lists are what
// its latency is measured with.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Engines are compiled once per distinct policy and live for the whole
/// process: the tracker borrows its engine, and a program builds few policies,
/// so interning them bounds what is kept while making each `Guard` cheap.
static ENGINES: LazyLock<Mutex<HashMap<String, &'static Engine>>> = LazyLock::new(Default::default);

/// Secret fingerprints only need to match within this process.
static SECRETS: LazyLock<Secrets> = LazyLock::new(|| {
    let mut key = [0u8; 32];
    // A zero key still follows secrets; it only makes fingerprints guessable.
    let _ = getrandom::fill(&mut key);
    Secrets::new(key)
});

fn engine_for(policy_toml: &str, mode: Option<&str>, block_on: Option<Vec<String>>) -> PyResult<&'static Engine> {
    let key = format!("{mode:?}\0{block_on:?}\0{policy_toml}");
    let mut engines = ENGINES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(engine) = engines.get(&key) {
        return Ok(engine);
    }
    let mut policy = Policy::from_toml(policy_toml)
        .map_err(|errs| PyValueError::new_err(errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))?;
    match mode {
        None => {}
        Some("block") => policy.mode = Mode::Block,
        Some("monitor") => {
            // Monitor never blocks, also not when the guard fails on an input.
            policy.mode = Mode::Monitor;
            policy.fail = FailMode::Open;
        }
        Some(other) => return Err(PyValueError::new_err(format!("mode must be \"block\" or \"monitor\", not {other:?}"))),
    }
    if let Some(levels) = block_on {
        policy.block_on = levels
            .iter()
            .map(|s| Severity::parse(s).ok_or_else(|| PyValueError::new_err(format!("unknown severity {s:?} in block_on (low, medium, high, critical)"))))
            .collect::<PyResult<_>>()?;
    }
    let engine: &'static Engine = Box::leak(Box::new(Engine::new(policy).map_err(|e| PyValueError::new_err(e.to_string()))?));
    engines.insert(key, engine);
    Ok(engine)
}

/// One engine and one episode tracker: events of a session are judged in order,
/// calls by the engine and then by what earlier events of the episode showed.
#[pyclass(module = "cordon._native", frozen)]
struct Checker {
    engine: &'static Engine,
    tracker: Mutex<Tracker<'static>>,
}

#[pymethods]
impl Checker {
    #[new]
    #[pyo3(signature = (policy_toml = "", mode = None, block_on = None))]
    fn new(policy_toml: &str, mode: Option<&str>, block_on: Option<Vec<String>>) -> PyResult<Checker> {
        let engine = engine_for(policy_toml, mode, block_on)?;
        let tracker = Tracker::new(engine, TrackerLimits::default())
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .with_secrets(&SECRETS);
        Ok(Checker { engine, tracker: Mutex::new(tracker) })
    }

    /// Judge one contract event (a JSON object) and return its verdict as JSON.
    fn check(&self, event_json: &str) -> PyResult<String> {
        let event = Event::from_json_line(event_json).map_err(|(_, e)| PyValueError::new_err(e))?;
        let mut verdict = self.engine.check(&event);
        self.tracker.lock().unwrap_or_else(|e| e.into_inner()).observe(&event, &mut verdict);
        Ok(verdict.to_contract_json().to_string())
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Checker>()
}
