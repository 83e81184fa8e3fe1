//! The one thread that writes the store (a SQLite connection is not `Sync`).
//! Requests queue their records with a reply channel; the thread commits
//! everything queued so far in one transaction, then answers each waiter.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use cordon_store::{Record, Store};
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<(), String>>;

/// `None` asks the thread to stop after what is queued before it.
type Job = Option<(Vec<Record>, Reply)>;

#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Writer {
    pub(crate) fn start(mut store: Store) -> Writer {
        let (jobs, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("cordon-store-writer".into())
            .spawn(move || {
                let mut open = true;
                while open {
                    let Ok(first) = rx.recv() else { break };
                    let mut batch = Vec::new();
                    let mut waiters = Vec::new();
                    for job in
                        std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok()))
                    {
                        match job {
                            Some((records, reply)) => {
                                batch.extend(records);
                                waiters.push(reply);
                            }
                            None => {
                                open = false;
                                break;
                            }
                        }
                    }
                    let result = store.record(&batch).map_err(|e| e.to_string());
                    for w in waiters {
                        // A waiter that went away (client hung up) needs no answer.
                        let _ = w.send(result.clone());
                    }
                }
            })
            .expect("spawn the store writer thread");
        Writer {
            jobs,
            thread: Arc::new(Mutex::new(Some(thread))),
        }
    }

    /// Queue records; the future resolves once they are committed.
    pub(crate) fn submit(
        &self,
        records: Vec<Record>,
    ) -> impl std::future::Future<Output = Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        let queued = self.jobs.send(Some((records, tx)));
        async move {
            queued.map_err(|_| "the store writer has stopped".to_string())?;
            rx.await
                .map_err(|_| "the store writer has stopped".to_string())?
        }
    }

    /// Commit what is queued and stop the thread (blocking).
    pub(crate) fn close(&self) -> Result<(), String> {
        let _ = self.jobs.send(None);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        match thread.map(JoinHandle::join) {
            Some(Err(_)) => Err("the store writer panicked".into()),
            _ => Ok(()),
        }
    }
}
