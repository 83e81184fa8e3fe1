//! Queries of the episode store: episodes, one episode's events, findings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use cordon_core::Severity;
use cordon_store::{export, time, EpisodeFilter, Lookup, Store};
use serde_json::{json, Value};

use crate::{ApiError, AppState};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

type Params = Query<HashMap<String, String>>;

/// Run a query on the reader connection, off the async threads.
async fn with_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let reader: Arc<Mutex<Store>> = state.inner.reader.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no episode store: start the service with --store FILE to record and query episodes",
        )
    })?;
    tokio::task::spawn_blocking(move || f(&reader.lock().unwrap_or_else(|e| e.into_inner())))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("query failed: {e}"),
            )
        })?
}

fn store_error(e: cordon_store::StoreError) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("episode store: {e}"),
    )
}

/// Refuse parameters this route does not know: a misspelt filter silently
/// ignored would return more than was asked for.
fn only(params: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!(
            "unknown query parameter `{k}`; known: {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

fn limit(params: &HashMap<String, String>) -> Result<usize, ApiError> {
    match params.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "`limit` must be a whole number from 1 to {MAX_LIMIT}, not {s:?}"
            ))),
        },
    }
}

fn time_param(
    params: &HashMap<String, String>,
    name: &str,
    end_of_day: bool,
) -> Result<Option<i64>, ApiError> {
    let Some(s) = params.get(name) else {
        return Ok(None);
    };
    let ms = time::parse_ms(s).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{name}` must be a time (RFC 3339, or a date like 2025-06-01), not {s:?}"
        ))
    })?;
    // A bare date as the upper bound means the end of that day.
    Ok(Some(if end_of_day && s.trim().len() == 10 {
        ms + 86_400_000 - 1
    } else {
        ms
    }))
}

/// `GET /v1/episodes?agent=&task=&since=&until=&findings=true&kind=&limit=`
pub(crate) async fn episodes(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    only(
        &params,
        &[
            "agent", "task", "since", "until", "findings", "kind", "limit",
        ],
    )?;
    let with_findings = match params.get("findings").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(s) => {
            return Err(ApiError::bad_request(format!(
                "`findings` must be true or false, not {s:?}"
            )))
        }
    };
    let filter = EpisodeFilter {
        agent: params.get("agent").cloned(),
        task: params.get("task").cloned(),
        since_ms: time_param(&params, "since", false)?,
        until_ms: time_param(&params, "until", true)?,
        with_findings,
        finding_kind: params.get("kind").cloned(),
        limit: Some(limit(&params)?),
    };
    let list = with_store(&state, move |s| {
        s.list_episodes(&filter).map_err(store_error)
    })
    .await?;
    Ok(Json(json!({ "episodes": list })))
}

/// `GET /v1/episodes/{id}`: the episode (exact key, or a unique prefix) and its events with their verdicts.
pub(crate) async fn episode(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    with_store(&state, move |s| {
        match s.find_episode(&id).map_err(store_error)? {
            Lookup::Found(ep) => {
                let events = s.events(&ep.key).map_err(store_error)?;
                let events: Vec<Value> = events.iter().map(|e| export::jsonl(&ep, e)).collect();
                Ok(Json(json!({ "episode": ep, "events": events })))
            }
            Lookup::NotFound => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no episode {id:?}"),
            )),
            Lookup::Ambiguous(keys) => Err(ApiError::bad_request(format!(
                "episode id {id:?} is the prefix of several episodes"
            ))
            .with("candidates", json!(keys))),
        }
    })
    .await
}

/// `GET /v1/findings?kind=&severity=&limit=`: the most recent findings first;
/// `severity` is the lowest severity returned.
pub(crate) async fn findings(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    only(&params, &["kind", "severity", "limit"])?;
    let min = match params.get("severity") {
        None => None,
        Some(s) => Some(Severity::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`severity` must be low, medium, high or critical, not {s:?}"
            ))
        })?),
    };
    let kind = params.get("kind").cloned();
    let limit = limit(&params)?;
    with_store(&state, move |s| {
        let filter = EpisodeFilter { with_findings: true, finding_kind: kind.clone(), ..EpisodeFilter::default() };
        let mut found = Vec::new();
        for ep in s.list_episodes(&filter).map_err(store_error)? {
            for e in s.events(&ep.key).map_err(store_error)? {
                for f in &e.verdict.findings {
                    if kind.as_ref().is_some_and(|k| *k != f.kind) || min.is_some_and(|m| f.severity < m) {
                        continue;
                    }
                    let entry = json!({
                        "episode": ep.key, "step": e.step, "id": e.event_id, "tool": e.tool,
                        "decision": e.verdict.decision, "recorded_at": e.recorded_at, "ts": e.ts, "finding": f,
                    });
                    found.push((e.seq, entry));
                }
            }
        }
        found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        found.truncate(limit);
        Ok(Json(json!({ "findings": found.into_iter().map(|(_, f)| f).collect::<Vec<_>>() })))
    })
    .await
}
