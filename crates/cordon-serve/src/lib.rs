//! `cordon serve`: the check engine over HTTP.
//!
//! One process holds the engine, one episode tracker shared by every
//! request (so findings that span calls work across connections), and, with
//! a store, one writer thread that owns the SQLite connection and commits
//! whatever is queued in one transaction before the waiting requests answer.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use cordon_core::{Event, Verdict};
use cordon_engine::Engine;
use cordon_episode::{CanaryInfo, Tracker, TrackerLimits};
use cordon_secrets::Secrets;
use cordon_store::{Record, Store};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

pub mod client;
mod metrics;
mod query;
mod stream;
mod writer;

use metrics::Metrics;
use writer::Writer;

/// Largest body of `POST /v1/check`.
pub const MAX_BODY: usize = 1 << 20;
/// Largest body of `POST /v1/check/batch`, and most events in one batch.
pub const MAX_BATCH_BODY: usize = 8 << 20;
pub const MAX_BATCH_EVENTS: usize = 1000;

/// What the service runs with besides the engine.
#[derive(Default)]
pub struct Options {
    /// The bearer token every route but `/healthz` requires; `None` turns auth off.
    pub token: Option<String>,
    /// Record every checked event here, before its verdict is answered.
    pub store: Option<Store>,
    /// Planted canaries whose appearance is a finding.
    pub canaries: Vec<CanaryInfo>,
}

/// Serve on `listener` until `shutdown` resolves, then finish the requests in
/// flight, end the finding streams and commit what the store writer holds.
pub async fn serve(
    listener: TcpListener,
    engine: &'static Engine,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let (state, writer, stop) = build(engine, options)?;
    let app = app(routes(), state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Finding streams never end by themselves: tell them to.
            let _ = stop.send(true);
        })
        .await
        .map_err(|e| e.to_string());
    if let Some(w) = writer {
        tokio::task::spawn_blocking(move || w.close())
            .await
            .map_err(|e| e.to_string())??;
    }
    result
}

/// Bind `addr` and serve on a runtime of its own until SIGTERM or ctrl-c;
/// `ready` is told the bound address (useful with port 0).
pub fn run(
    addr: SocketAddr,
    engine: &'static Engine,
    options: Options,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        ready(listener.local_addr().map_err(|e| e.to_string())?);
        serve(listener, engine, options, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: &'static Engine,
    secrets: &'static Secrets,
    tracker: Mutex<Tracker<'static>>,
    token: Option<Vec<u8>>,
    writer: Option<Writer>,
    /// A second connection for queries, so that reads never wait on the writer's thread.
    reader: Option<Arc<Mutex<Store>>>,
    findings: broadcast::Sender<Arc<str>>,
    stop: watch::Receiver<bool>,
    metrics: Metrics,
}

type Built = (AppState, Option<Writer>, watch::Sender<bool>);

fn build(engine: &'static Engine, options: Options) -> Result<Built, String> {
    let key = options
        .store
        .as_ref()
        .map_or_else(random_key, Store::fingerprint_key);
    // The tracker borrows these for as long as the process serves.
    let secrets: &'static Secrets = Box::leak(Box::new(Secrets::new(key)));
    let tracker = Tracker::new(engine, TrackerLimits::default())
        .map_err(|e| e.to_string())?
        .with_secrets(secrets)
        .with_canaries(options.canaries);
    let (reader, writer) = match options.store {
        Some(store) => {
            let reader = Store::open_existing(store.path()).map_err(|e| e.to_string())?;
            (
                Some(Arc::new(Mutex::new(reader))),
                Some(Writer::start(store)),
            )
        }
        None => (None, None),
    };
    let (stop_tx, stop) = watch::channel(false);
    let inner = Inner {
        engine,
        secrets,
        tracker: Mutex::new(tracker),
        token: options.token.map(String::into_bytes),
        writer: writer.clone(),
        reader,
        findings: broadcast::channel(1024).0,
        stop,
        metrics: Metrics::default(),
    };
    Ok((
        AppState {
            inner: Arc::new(inner),
        },
        writer,
        stop_tx,
    ))
}

/// A fingerprint key for a service without a store: fingerprints then only
/// link events within this run, and are never written anywhere.
fn random_key() -> [u8; 32] {
    use std::io::Read;
    let mut key = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut key);
    }
    key
}

/// Every route, with the method it answers: the router is built from this
/// table, and a test checks the OpenAPI document against it.
pub(crate) fn routes() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("post", "/v1/check", post(check)),
        ("post", "/v1/check/batch", post(check_batch)),
        ("get", "/v1/episodes", get(query::episodes)),
        ("get", "/v1/episodes/{id}", get(query::episode)),
        ("get", "/v1/findings", get(query::findings)),
        ("get", "/v1/findings/stream", get(stream::findings)),
        ("get", "/openapi.json", get(openapi)),
        ("get", "/healthz", get(healthz)),
        ("get", "/metrics", get(metrics::render)),
    ]
}

pub(crate) fn app(
    routes: Vec<(&'static str, &'static str, MethodRouter<AppState>)>,
    state: AppState,
) -> Router {
    let router = routes
        .into_iter()
        .fold(Router::new(), |r, (_, path, handler)| {
            r.route(path, handler)
        });
    router
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        // Outside auth, so that 401s are counted too.
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while handling the request",
            )
            .into_response()
        }))
        .with_state(state)
}

/// A 4xx or 5xx answer: `{"error": "..."}`, plus whatever names the problem further.
pub(crate) struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, msg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({ "error": msg.into() }),
        }
    }

    pub(crate) fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, msg)
    }

    fn with(mut self, key: &str, value: Value) -> ApiError {
        self.body[key] = value;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = &state.inner.token else {
        return next.run(req).await;
    };
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match given {
        Some(given) if constant_time_eq(given, token) => next.run(req).await,
        Some(_) => unauthorized("wrong bearer token"),
        None => unauthorized("missing `Authorization: Bearer <token>` header"),
    }
}

fn unauthorized(msg: &str) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, msg).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

/// Equal without an early exit on the first differing byte (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    state
        .inner
        .metrics
        .request(route, response.status().as_u16());
    response
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

pub(crate) const OPENAPI: &str = include_str!("openapi.json");

/// The body, or a 413 naming the limit.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {limit} bytes"),
        )
        .with("limit", limit.into())
    })
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(()),
        Some(ct)
            if ct.starts_with("application/json")
                || ct.starts_with("application/x-ndjson")
                || ct.starts_with("application/jsonl") =>
        {
            Ok(())
        }
        Some(ct) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content type {ct:?} is not JSON"),
        )),
    }
}

async fn check(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    require_json(&headers)?;
    let body = read_body(body, MAX_BODY).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request(format!("body is not UTF-8: {e}")))?;
    let event = Event::from_json_line(text.trim())
        .map_err(|(id, msg)| ApiError::bad_request(msg).with("id", id.unwrap_or(Value::Null)))?;
    let verdicts = state.check(vec![(None, event)]).await?;
    Ok(Json(verdicts.into_iter().next().unwrap_or(Value::Null)))
}

/// A JSON array of events, or one event a line. Items that are not valid
/// events get the contract's error verdict in their place.
async fn check_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    require_json(&headers)?;
    let body = read_body(body, MAX_BATCH_BODY).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request(format!("body is not UTF-8: {e}")))?;
    let items: Vec<String> = if text.trim_start().starts_with('[') {
        let values: Vec<Value> = serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON array: {e}")))?;
        values.iter().map(Value::to_string).collect()
    } else {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    };
    if items.len() > MAX_BATCH_EVENTS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} events in one batch; at most {MAX_BATCH_EVENTS}",
                items.len()
            ),
        )
        .with("limit", MAX_BATCH_EVENTS.into()));
    }
    let mut out: Vec<Option<Value>> = vec![None; items.len()];
    let mut events = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match Event::from_json_line(item) {
            Ok(ev) => events.push((Some(i), ev)),
            Err((id, msg)) => {
                out[i] = Some(Verdict::error(id, msg, Some(i + 1)).to_contract_json())
            }
        }
    }
    let positions: Vec<usize> = events.iter().filter_map(|(i, _)| *i).collect();
    let verdicts = state.check(events).await?;
    for (i, v) in positions.into_iter().zip(verdicts) {
        out[i] = Some(v);
    }
    Ok(Json(Value::Array(
        out.into_iter().map(|v| v.unwrap_or(Value::Null)).collect(),
    )))
}

impl AppState {
    /// Check events in order: the stateless check, then the shared tracker;
    /// with a store, answer only once they are committed. `line` is the
    /// 0-based position in a batch.
    async fn check(&self, events: Vec<(Option<usize>, Event)>) -> Result<Vec<Value>, ApiError> {
        let inner = &self.inner;
        let started = Instant::now();
        let mut checked: Vec<(Option<usize>, Event, Verdict, Option<Prepared>)> = events
            .into_iter()
            .map(|(line, ev)| {
                let verdict = inner.engine.check(&ev);
                let prepared = inner.writer.as_ref().map(|_| prepare(inner.secrets, &ev));
                (line, ev, verdict, prepared)
            })
            .collect();
        let committed = {
            let mut tracker = inner.tracker.lock().unwrap_or_else(|e| e.into_inner());
            for (_, ev, verdict, _) in &mut checked {
                tracker.observe(ev, verdict);
            }
            // Queued while the tracker is held, so the store keeps the order the tracker saw.
            inner.writer.as_ref().map(|w| {
                let records = checked
                    .iter_mut()
                    .filter_map(|(line, ev, verdict, prepared)| {
                        prepared
                            .take()
                            .map(|p| record_of(inner.engine, inner.secrets, *line, ev, verdict, p))
                    })
                    .collect();
                w.submit(records)
            })
        };
        if let Some(done) = committed {
            done.await.map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("episode store: {e}"),
                )
            })?;
        }
        let per_event = started.elapsed() / checked.len().max(1) as u32;
        let verdicts = checked
            .into_iter()
            .map(|(_, ev, verdict, _)| {
                inner.metrics.verdict(&verdict, per_event);
                self.publish(&ev, &verdict);
                verdict.to_contract_json()
            })
            .collect();
        Ok(verdicts)
    }

    /// One stream message per finding; evidence redacted as the store keeps it.
    fn publish(&self, ev: &Event, verdict: &Verdict) {
        let inner = &self.inner;
        if verdict.findings.is_empty() || inner.findings.receiver_count() == 0 {
            return;
        }
        for f in &verdict.findings {
            let mut finding = serde_json::to_value(f).unwrap_or(Value::Null);
            finding["evidence"] = inner.secrets.redact(&f.evidence).0.into();
            let msg = json!({
                "id": ev.id, "session": ev.session, "agent": ev.agent, "tool": ev.tool,
                "decision": verdict.decision, "finding": finding,
            });
            // No receiver left is not an error: nobody is listening.
            let _ = inner.findings.send(msg.to_string().into());
        }
    }
}

/// What the store keeps of an event's arguments and result: secrets redacted,
/// their fingerprints beside them.
struct Prepared {
    input: String,
    output: Option<String>,
    secrets: Vec<(String, String)>,
}

fn prepare(secrets: &Secrets, ev: &Event) -> Prepared {
    let mut found = Vec::new();
    let mut redact = |v: &Value| {
        let (r, hits) = secrets.redact_value_json(v);
        found.extend(
            hits.into_iter()
                .map(|h| (h.kind.to_string(), h.fingerprint)),
        );
        r
    };
    let input = redact(&ev.input);
    let output = ev.output.as_ref().map(&mut redact);
    Prepared {
        input,
        output,
        secrets: found,
    }
}

fn record_of(
    engine: &Engine,
    secrets: &Secrets,
    line: Option<usize>,
    ev: &Event,
    verdict: &Verdict,
    p: Prepared,
) -> Record {
    let mut verdict = verdict.clone();
    for f in &mut verdict.findings {
        f.evidence = secrets.redact(&f.evidence).0;
    }
    Record {
        line: line.map(|l| l as u64 + 1),
        event_id: ev.id.clone(),
        session: ev.session.clone(),
        agent: ev.agent.clone(),
        task: ev.task.clone(),
        kind: Some(ev.kind),
        tool: Some(ev.tool.clone()),
        capability: Some(
            format!("{:?}", engine.policy().tools.capability(&ev.tool)).to_ascii_lowercase(),
        ),
        input: Some(p.input),
        output: p.output,
        raw: None,
        ts: ev.ts.clone(),
        verdict,
        secrets: p.secrets,
    }
}

#[cfg(test)]
mod tests;
