//! The ledger's single writer: it gathers concurrent requests into groups, plans each group
//! on what the database plus the groups still committing will show (the overlay), commits it
//! with a compare-and-set on the book heads, and writes a group again under locks when another
//! writer moved a head first.

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::{mpsc, oneshot};

use super::{Clock, Job, MAX_GROUP, Outcome};
use crate::{
    domain::{
        engine::Request,
        error::{LedgerError, Result},
    },
    store::{Overlay, Store},
};

type Reply = oneshot::Sender<Result<Outcome>>;

/// Takes whatever requests are waiting (up to a group's worth) off the queue.
fn gather(first: Job, rx: &mut mpsc::Receiver<Job>) -> (Vec<Request>, Vec<Reply>) {
    let mut size = first.request.transfers.len();
    let mut jobs = vec![first];
    while size < MAX_GROUP {
        match rx.try_recv() {
            Ok(job) => {
                size += job.request.transfers.len();
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    jobs.into_iter().map(|j| (j.request, j.reply)).unzip()
}

/// A group whose commit is under way while the writer plans the next one.
struct InFlight {
    group: u64,
    requests: Vec<Request>,
    replies: Vec<Reply>,
    results: Vec<Outcome>,
    /// Every transfer failed or already existed: the "commit" only waits its turn.
    writes_nothing: bool,
    commit: tokio::task::JoinHandle<Result<()>>,
}

type Committed = std::result::Result<Result<()>, tokio::task::JoinError>;

/// Group commits allowed under way at once by default; the writer plans the next group
/// meanwhile. More than one is correct (the head compare-and-set orders them: a later group's
/// statement waits at the head row until the earlier one commits), but two were measured no
/// faster than one on the 2-core benchmark machine (docs/benchmarks.md).
pub const COMMITS_IN_FLIGHT: usize = 1;

/// The writer's state: what it planned that the database may not show yet, and the commits
/// under way, oldest first.
struct Pipeline {
    store: Store,
    clock: Clock,
    overlay: Overlay,
    in_flight: VecDeque<InFlight>,
    max_in_flight: usize,
    group: u64,
    locked: Arc<AtomicU64>,
}

impl Pipeline {
    /// Plans a group on top of the ones under way and starts its commit.
    async fn start(&mut self, requests: Vec<Request>, replies: Vec<Reply>) {
        if self.overlay.is_stale(&self.store) {
            // A budget changed: what the overlay remembers of accounts may be out of date.
            self.drain().await;
            self.overlay.reset(&self.store);
        }
        let mut planned = self
            .store
            .plan_group(&requests, (self.clock)(), &self.overlay)
            .await;
        // Planned while the oldest commits ran; make room, and plan again if one was refused.
        while self.in_flight.len() >= self.max_in_flight {
            if !self.settle_oldest().await {
                planned = self
                    .store
                    .plan_group(&requests, (self.clock)(), &self.overlay)
                    .await;
            }
        }
        match planned {
            Ok(plan) if plan.writes.is_empty() && self.in_flight.is_empty() => {
                for (reply, results) in replies.into_iter().zip(plan.results) {
                    let _ = reply.send(Ok(results));
                }
            }
            Ok(plan) => {
                // Even a group that writes nothing answers only after the groups it was
                // planned on are committed: its answers may rest on theirs.
                self.group += 1;
                let writes = Arc::new(plan.writes);
                self.overlay.record(Arc::clone(&writes), self.group);
                let store = self.store.clone();
                self.in_flight.push_back(InFlight {
                    group: self.group,
                    requests,
                    replies,
                    results: plan.results,
                    writes_nothing: writes.is_empty(),
                    commit: tokio::spawn(async move {
                        if writes.is_empty() {
                            return Ok(());
                        }
                        store.commit_plan(&writes).await
                    }),
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "planning a group failed; writing it with locks");
                self.drain().await;
                self.overlay.reset(&self.store);
                self.locked.fetch_add(1, Ordering::Relaxed);
                write_locked(&self.store, &self.clock, requests, replies).await;
            }
        }
    }

    /// Waits for the oldest commit and finishes it; false if it was refused.
    async fn settle_oldest(&mut self) -> bool {
        match self.in_flight.pop_front() {
            Some(mut f) => {
                let done = (&mut f.commit).await;
                self.finish(f, done).await
            }
            None => true,
        }
    }

    async fn drain(&mut self) {
        while !self.in_flight.is_empty() {
            self.settle_oldest().await;
        }
    }

    /// Replies for a committed group. A refused one was planned on state that did not hold,
    /// and so was every group after it: those are awaited, the overlay is forgotten, and each
    /// refused group is written again under locks, in order.
    async fn finish(&mut self, f: InFlight, done: Committed) -> bool {
        let error = match done {
            Ok(Ok(())) => {
                self.overlay.settle(f.group);
                for (reply, results) in f.replies.into_iter().zip(f.results) {
                    let _ = reply.send(Ok(results));
                }
                return true;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        // Expected now and then when several ledger processes share a book: not a warning.
        tracing::debug!(error = %error, "optimistic group commit refused; writing it with locks");
        let mut redo = vec![f];
        while let Some(mut later) = self.in_flight.pop_front() {
            match (&mut later.commit).await {
                // Its own compare-and-set passed, so what it rests on held after all.
                Ok(Ok(())) if !later.writes_nothing => {
                    for (reply, results) in later.replies.into_iter().zip(later.results) {
                        let _ = reply.send(Ok(results));
                    }
                }
                _ => redo.push(later),
            }
        }
        self.overlay.reset(&self.store);
        for g in redo {
            self.locked.fetch_add(1, Ordering::Relaxed);
            write_locked(&self.store, &self.clock, g.requests, g.replies).await;
        }
        false
    }
}

/// Turns the queue into few database writes, pipelined: while earlier groups commit, the
/// writer gathers and plans the next on top of what they did (see [`crate::store::Overlay`]),
/// so the database and the writer work at the same time instead of taking turns. Replies go
/// out only once a group is committed; a group planned on top of one that failed is written
/// again.
pub(super) async fn run_writer(
    store: Store,
    mut rx: mpsc::Receiver<Job>,
    clock: Clock,
    max_in_flight: usize,
    locked: Arc<AtomicU64>,
) {
    let mut p = Pipeline {
        overlay: Overlay::new(&store),
        store,
        clock,
        in_flight: VecDeque::new(),
        max_in_flight,
        group: 0,
        locked,
    };
    loop {
        let next = match p.in_flight.front_mut() {
            None => rx.recv().await,
            Some(f) => tokio::select! {
                job = rx.recv() => job,
                done = &mut f.commit => {
                    if let Some(f) = p.in_flight.pop_front() {
                        let _ = p.finish(f, done).await;
                    }
                    continue;
                }
            },
        };
        let Some(first) = next else { break };
        let (requests, replies) = gather(first, &mut rx);
        p.start(requests, replies).await;
    }
    p.drain().await;
}

/// A failed write in the log: a warning when the database was out of reach for a moment (the
/// caller is told to retry), an error otherwise.
fn log_failed(e: &LedgerError) {
    match e {
        LedgerError::Internal(fault) if fault.is_transient() => {
            tracing::warn!(error = %fault.chain(), "ledger write failed; the database is out of reach");
        }
        e => tracing::error!(error = %e, "ledger write failed"),
    }
}

/// Writes a group in one locked transaction. If the group fails as a whole, each request is
/// retried alone so one bad request cannot fail its neighbours.
async fn write_locked(store: &Store, clock: &Clock, requests: Vec<Request>, replies: Vec<Reply>) {
    match store.write_group(&requests, clock()).await {
        Ok(plan) => {
            for (reply, results) in replies.into_iter().zip(plan.results) {
                let _ = reply.send(Ok(results));
            }
        }
        Err(e) if requests.len() == 1 => {
            log_failed(&e);
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
        // The database out of reach fails every request alike: answer them all at once (each
        // retries), rather than one by one, each waiting for a connection in turn.
        Err(LedgerError::Internal(fault)) if fault.is_transient() => {
            tracing::warn!(error = %fault.chain(), requests = requests.len(), "ledger group write failed; the database is out of reach");
            for reply in replies {
                let _ = reply.send(Err(LedgerError::Internal(
                    healthpoints_errors::Fault::new("storage failure").transient(),
                )));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, requests = requests.len(), "group write failed; retrying requests one by one");
            for (request, reply) in requests.into_iter().zip(replies) {
                let result = store
                    .write_group(std::slice::from_ref(&request), clock())
                    .await
                    .map(|mut plan| plan.results.pop().unwrap_or_default());
                if let Err(e) = &result {
                    log_failed(e);
                }
                let _ = reply.send(result);
            }
        }
    }
}
