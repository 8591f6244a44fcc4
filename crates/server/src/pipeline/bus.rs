//! The ingest bus and the digest writer.
//!
//! Handlers publish grouped events to a bounded channel and wait for their
//! acknowledgement; one digest writer thread per store takes whatever is waiting (up
//! to a batch size), commits it in one transaction and answers every waiting
//! handler. Batches grow by themselves under load (everything that arrived during the
//! previous commit goes into the next one), which is group commit without a timer, so
//! a lone event is committed at once.
//!
//! The bus is bounded twice: by a number of events and by the bytes they hold (so a
//! flood of 1 MiB events cannot take more memory than a flood of 5 KB ones). A full
//! bus is refused at once ([`BusFull`]) so overload becomes a 503, never unbounded
//! memory. The writer hands each batch to the commit function as a slice, keeping
//! ownership, so nothing is copied on the happy path. A batch that fails is retried event by event, so one poisonous
//! event cannot fail its neighbours; only the events that really failed are answered
//! with an error (and so never acknowledged).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

/// The bus is full: answer 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ingest queue is full")]
pub(crate) struct BusFull;

/// The digest writer could not commit an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not store the event: {0}")]
pub(crate) struct CommitError(pub String);

struct Job<T, O> {
    item: T,
    bytes: usize,
    reply: oneshot::Sender<Result<O, CommitError>>,
}

/// The sending side, cloned into every handler.
pub(crate) struct Bus<T, O> {
    tx: mpsc::Sender<Job<T, O>>,
    metrics: Arc<Metrics>,
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

impl<T, O> Clone for Bus<T, O> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            metrics: self.metrics.clone(),
            queued_bytes: self.queued_bytes.clone(),
            max_bytes: self.max_bytes,
        }
    }
}

/// How big the bus may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BusLimits {
    /// Events waiting at most.
    pub(crate) capacity: usize,
    /// Bytes (as declared by [`Bus::submit`]) waiting at most.
    pub(crate) max_bytes: usize,
    /// Events per commit at most.
    pub(crate) batch_size: usize,
}

/// A reserved place on the bus (see [`Bus::reserve`]); it owns its place, so it
/// can travel to a blocking thread.
pub(crate) struct Slot<T, O> {
    permit: Option<mpsc::OwnedPermit<Job<T, O>>>,
    bytes: usize,
    queued_bytes: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

impl<T, O> Slot<T, O> {
    /// Publishes `item` in the reserved place.
    pub(crate) fn send(mut self, item: T) -> oneshot::Receiver<Result<O, CommitError>> {
        let (reply, rx) = oneshot::channel();
        if let Some(permit) = self.permit.take() {
            permit.send(Job {
                item,
                bytes: self.bytes,
                reply,
            });
            self.metrics.bus_add(1);
        }
        rx
    }
}

impl<T, O> Drop for Slot<T, O> {
    fn drop(&mut self) {
        if self.permit.is_some() {
            // Not sent: give the bytes back (the permit returns its place itself).
            self.queued_bytes.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

/// Why a batch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchError {
    /// What went wrong (for the log).
    pub(crate) message: String,
    /// `true` when the failure concerns the database as a whole (connection,
    /// lock, disk): every item fails at once, without a retry per item.
    /// `false` when one item's data may be the cause: each item is retried alone.
    pub(crate) whole_batch: bool,
}

/// What a writer's commit function gives back: one result per item, in order, or a
/// failure of the whole batch.
pub(crate) type BatchResult<O> = Result<Vec<O>, BatchError>;

/// What the writer tells the rest of the server after each commit.
pub(crate) trait WriterObserver: Send + 'static {
    /// A batch was committed.
    fn committed(&self);
    /// The database cannot work now (a batch failed as a whole).
    fn unavailable(&self, error: &str);
    /// The writer thread ended.
    fn stopped(&self);
}

impl WriterObserver for () {
    fn committed(&self) {}
    fn unavailable(&self, _: &str) {}
    fn stopped(&self) {}
}

/// Calls [`WriterObserver::stopped`] however the writer thread ends.
struct StopGuard<W: WriterObserver>(W);

impl<W: WriterObserver> Drop for StopGuard<W> {
    fn drop(&mut self) {
        self.0.stopped();
    }
}

/// Runs `commit`, turning a panic into a failure of the whole batch, so that a bug
/// on one batch cannot kill the writer (and with it every later request).
fn commit_guarded<T, O>(
    commit: &mut impl FnMut(&[T]) -> BatchResult<O>,
    items: &[T],
) -> BatchResult<O> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commit(items))) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(BatchError {
                message: format!("the commit panicked: {what}"),
                whole_batch: true,
            })
        }
    }
}

impl<T: Send + 'static, O: Send + 'static> Bus<T, O> {
    /// Creates a bus within `limits` and starts its digest writer thread, which calls
    /// `commit` with batches of at most `limits.batch_size` items and tells
    /// `observer` how each went (`()` when nobody listens). The thread ends when
    /// every [`Bus`] clone is dropped and the queue is drained.
    pub(crate) fn start<F, W>(
        limits: BusLimits,
        metrics: Arc<Metrics>,
        mut commit: F,
        observer: W,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)>
    where
        F: FnMut(&[T]) -> BatchResult<O> + Send + 'static,
        W: WriterObserver,
    {
        let (tx, mut rx) = mpsc::channel::<Job<T, O>>(limits.capacity.max(1));
        let writer_metrics = metrics.clone();
        let batch_size = limits.batch_size.max(1);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let writer_bytes = queued_bytes.clone();
        let handle = std::thread::Builder::new().name("digest-writer".into()).spawn(move || {
            let metrics = writer_metrics;
            let observer = StopGuard(observer);
            let mut jobs: Vec<Job<T, O>> = Vec::with_capacity(batch_size);
            while let Some(first) = rx.blocking_recv() {
                jobs.push(first);
                while jobs.len() < batch_size {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                let n = jobs.len();
                metrics.bus_add(-(n as i64));
                let started = Instant::now();
                let (items, replies): (Vec<T>, Vec<(usize, oneshot::Sender<_>)>) =
                    jobs.drain(..).map(|j| (j.item, (j.bytes, j.reply))).unzip();
                let result = commit_guarded(&mut commit, &items);
                // Released before anyone is answered, so an answered client always
                // finds its bytes given back.
                let done: usize = replies.iter().map(|(bytes, _)| *bytes).sum();
                writer_bytes.fetch_sub(done, Ordering::Relaxed);
                let ok = matches!(&result, Ok(v) if v.len() == n);
                metrics.batch(n, started.elapsed().as_micros() as u64, ok);
                match result {
                    Ok(outcomes) if outcomes.len() == n => {
                        observer.0.committed();
                        for ((_, reply), outcome) in replies.into_iter().zip(outcomes) {
                            let _ = reply.send(Ok(outcome));
                        }
                    }
                    Err(BatchError { message, whole_batch: true }) => {
                        // The database cannot work now: every item fails at once
                        // (retrying each would wait out a timeout per item).
                        tracing::error!(error = %message, events = n, "digest batch failed: the database is unavailable");
                        observer.0.unavailable(&message);
                        for (_, reply) in replies {
                            let _ = reply.send(Err(CommitError(message.clone())));
                        }
                    }
                    other => {
                        let batch_error = match other {
                            Err(e) => e.message,
                            Ok(v) => format!("store answered {} results for {n} events", v.len()),
                        };
                        tracing::error!(error = %batch_error, events = n, "digest batch failed; retrying one by one");
                        let mut replies = replies.into_iter();
                        for item in items.iter() {
                            let Some((_, reply)) = replies.next() else { break };
                            let answer = match commit_guarded(&mut commit, std::slice::from_ref(item)) {
                                Ok(mut v) if v.len() == 1 => v.pop().ok_or_else(|| CommitError(batch_error.clone())),
                                Ok(_) => Err(CommitError("store answered no result".into())),
                                Err(e) => {
                                    if e.whole_batch {
                                        // The database went away meanwhile: the rest
                                        // fails at once too.
                                        observer.0.unavailable(&e.message);
                                        let _ = reply.send(Err(CommitError(e.message.clone())));
                                        for (_, reply) in replies.by_ref() {
                                            let _ = reply.send(Err(CommitError(e.message.clone())));
                                        }
                                        break;
                                    }
                                    Err(CommitError(e.message))
                                }
                            };
                            let _ = reply.send(answer);
                        }
                    }
                }
            }
        })?;
        Ok((
            Self {
                tx,
                metrics,
                queued_bytes,
                max_bytes: limits.max_bytes,
            },
            handle,
        ))
    }

    /// Publishes `item`, which holds `bytes` bytes; the receiver resolves once it is
    /// committed (or failed). Refused when the bus holds too many events or bytes.
    #[cfg(test)]
    pub(crate) fn submit(
        &self,
        item: T,
        bytes: usize,
    ) -> Result<oneshot::Receiver<Result<O, CommitError>>, BusFull> {
        Ok(self.reserve(bytes)?.send(item))
    }

    /// Reserves a place for one item of `bytes` bytes, so that a caller can decide
    /// what to do (count a quota, say) only once the item is sure to be accepted.
    /// Dropping the [`Slot`] unused gives the place back. Refused when the bus holds
    /// too many events or bytes (an item alone on an empty bus is always taken,
    /// whatever its size).
    pub(crate) fn reserve(&self, bytes: usize) -> Result<Slot<T, O>, BusFull> {
        let before = self.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        if before > 0 && before.saturating_add(bytes) > self.max_bytes {
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            return Err(BusFull);
        }
        match self.tx.clone().try_reserve_owned() {
            Ok(permit) => Ok(Slot {
                permit: Some(permit),
                bytes,
                queued_bytes: self.queued_bytes.clone(),
                metrics: self.metrics.clone(),
            }),
            Err(_) => {
                self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                Err(BusFull)
            }
        }
    }

    /// Bytes waiting now.
    #[cfg(test)]
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn limits(capacity: usize, batch_size: usize) -> BusLimits {
        BusLimits {
            capacity,
            max_bytes: usize::MAX,
            batch_size,
        }
    }

    #[tokio::test]
    async fn byte_budget_refuses_and_is_released() {
        let gate = Arc::new(std::sync::Barrier::new(2));
        let g = gate.clone();
        let (bus, handle) = Bus::<u32, u32>::start(
            BusLimits {
                capacity: 100,
                max_bytes: 1000,
                batch_size: 1,
            },
            Arc::default(),
            move |items: &[u32]| {
                if items == [0] {
                    g.wait();
                }
                Ok(items.to_vec())
            },
            (),
        )
        .unwrap();
        // Alone on an empty bus, even an item above the budget is taken.
        let big = bus.submit(0, 5000).unwrap();
        assert!(
            matches!(bus.submit(1, 10), Err(BusFull)),
            "over the byte budget"
        );
        gate.wait();
        big.await.unwrap().unwrap();
        // Released after the commit: small items fit again, until the budget.
        let mut waits = Vec::new();
        for i in 1..=3 {
            waits.push(bus.submit(i, 300).unwrap());
        }
        for w in waits {
            w.await.unwrap().unwrap();
        }
        assert_eq!(bus.queued_bytes(), 0);
        // A reservation dropped unused gives its place and bytes back.
        let slot = bus.reserve(900).unwrap();
        assert!(matches!(bus.reserve(200), Err(BusFull)));
        drop(slot);
        assert_eq!(bus.queued_bytes(), 0);
        bus.reserve(200).unwrap().send(7).await.unwrap().unwrap();
        drop(bus);
        handle.join().unwrap();
    }

    #[tokio::test]
    async fn commits_and_answers_each_item() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let (bus, handle) = Bus::<u32, u32>::start(
            limits(16, 4),
            Arc::default(),
            move |items: &[u32]| {
                seen.lock().unwrap().push(items.len());
                Ok(items.iter().map(|i| i * 10).collect())
            },
            (),
        )
        .unwrap();
        let mut waits = Vec::new();
        for i in 0..10 {
            waits.push(bus.submit(i, 1).unwrap());
        }
        for (i, w) in waits.into_iter().enumerate() {
            assert_eq!(w.await.unwrap().unwrap(), i as u32 * 10);
        }
        drop(bus);
        handle.join().unwrap();
        let batches = batches.lock().unwrap();
        assert_eq!(batches.iter().sum::<usize>(), 10);
        assert!(batches.iter().all(|b| *b <= 4));
    }

    #[tokio::test]
    async fn full_bus_refuses() {
        let gate = Arc::new(std::sync::Barrier::new(2));
        let g = gate.clone();
        let (holding_tx, holding) = std::sync::mpsc::channel();
        let (bus, handle) = Bus::<u32, u32>::start(
            limits(2, 1),
            Arc::default(),
            move |items: &[u32]| {
                if items == [0] {
                    holding_tx.send(()).unwrap();
                    g.wait();
                }
                Ok(items.to_vec())
            },
            (),
        )
        .unwrap();
        let first = bus.submit(0, 1).unwrap();
        // Wait until the writer holds item 0 (blocked in commit): the queue is empty
        // then, and takes exactly its capacity.
        holding
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        let mut accepted = Vec::new();
        let mut refused = 0;
        for i in 1..10 {
            match bus.submit(i, 1) {
                Ok(rx) => accepted.push(rx),
                Err(BusFull) => refused += 1,
            }
        }
        assert_eq!(accepted.len(), 2, "exactly the capacity is queued");
        assert_eq!(refused, 7);
        gate.wait();
        assert_eq!(first.await.unwrap().unwrap(), 0);
        for rx in accepted {
            rx.await.unwrap().unwrap();
        }
        drop(bus);
        handle.join().unwrap();
    }

    #[tokio::test]
    async fn a_poisonous_item_fails_alone() {
        let (bus, handle) = Bus::<u32, u32>::start(
            limits(16, 16),
            Arc::default(),
            move |items: &[u32]| {
                if items.contains(&13) {
                    Err(BatchError {
                        message: "constraint violated".into(),
                        whole_batch: false,
                    })
                } else {
                    Ok(items.to_vec())
                }
            },
            (),
        )
        .unwrap();
        let rxs: Vec<_> = [12, 13, 14]
            .into_iter()
            .map(|i| bus.submit(i, 1).unwrap())
            .collect();
        let results: Vec<_> = futures_join(rxs).await;
        assert_eq!(results[0], Ok(12));
        assert!(results[1].is_err());
        assert_eq!(results[2], Ok(14));
        drop(bus);
        handle.join().unwrap();
    }

    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<&'static str>>>);

    impl WriterObserver for Seen {
        fn committed(&self) {
            self.0.lock().unwrap().push("committed");
        }
        fn unavailable(&self, _: &str) {
            self.0.lock().unwrap().push("unavailable");
        }
        fn stopped(&self) {
            self.0.lock().unwrap().push("stopped");
        }
    }

    #[tokio::test]
    async fn an_unavailable_database_fails_the_batch_at_once() {
        let calls = Arc::new(Mutex::new(0));
        let counted = calls.clone();
        let gate = Arc::new(std::sync::Barrier::new(2));
        let g = gate.clone();
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let seen = Seen::default();
        let (bus, handle) = Bus::<u32, u32>::start(
            limits(16, 16),
            Arc::default(),
            move |items: &[u32]| {
                if items == [0] {
                    entered_tx.send(()).unwrap();
                    g.wait();
                    return Ok(vec![0]);
                }
                *counted.lock().unwrap() += 1;
                Err(BatchError {
                    message: "connection refused".into(),
                    whole_batch: true,
                })
            },
            seen.clone(),
        )
        .unwrap();
        // Hold the writer on item 0 so that the next three form one batch.
        let first = bus.submit(0, 1).unwrap();
        entered.recv().unwrap();
        let rxs: Vec<_> = (1..4).map(|i| bus.submit(i, 1).unwrap()).collect();
        gate.wait();
        assert_eq!(first.await.unwrap(), Ok(0));
        for rx in rxs {
            assert!(rx.await.unwrap().is_err());
        }
        assert_eq!(*calls.lock().unwrap(), 1, "no retry per item");
        drop(bus);
        handle.join().unwrap();
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["committed", "unavailable", "stopped"]
        );
    }

    #[tokio::test]
    async fn a_panicking_commit_does_not_kill_the_writer() {
        let (bus, handle) = Bus::<u32, u32>::start(
            limits(16, 1),
            Arc::default(),
            move |items: &[u32]| {
                assert!(items != [7], "bug triggered by item 7");
                Ok(items.to_vec())
            },
            (),
        )
        .unwrap();
        let bad = bus.submit(7, 1).unwrap();
        assert!(bad.await.unwrap().is_err());
        assert_eq!(bus.submit(8, 1).unwrap().await.unwrap(), Ok(8));
        drop(bus);
        handle.join().unwrap();
    }

    async fn futures_join(
        rxs: Vec<oneshot::Receiver<Result<u32, CommitError>>>,
    ) -> Vec<Result<u32, CommitError>> {
        let mut out = Vec::new();
        for rx in rxs {
            out.push(rx.await.unwrap());
        }
        out
    }
}
