//! The ingest bus and the digest writer.
//!
//! Handlers publish grouped events to a bounded channel and wait for their
//! acknowledgement; one digest writer thread per store takes whatever is waiting (up
//! to a batch size), commits it in one transaction and answers every waiting
//! handler. Batches grow by themselves under load (everything that arrived during the
//! previous commit goes into the next one), which is group commit without a timer, so
//! a lone event is committed at once.
//!
//! A full channel is refused at once ([`BusFull`]) so overload becomes a 503, never
//! unbounded memory. A batch that fails is retried event by event, so one poisonous
//! event cannot fail its neighbours; only the events that really failed are answered
//! with an error (and so never acknowledged).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

/// The bus is full: answer 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ingest queue is full")]
pub struct BusFull;

/// The digest writer could not commit an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not store the event: {0}")]
pub struct CommitError(pub String);

struct Job<T, O> {
    item: T,
    reply: oneshot::Sender<Result<O, CommitError>>,
}

/// The sending side, cloned into every handler.
pub struct Bus<T, O> {
    tx: mpsc::Sender<Job<T, O>>,
    metrics: Arc<Metrics>,
}

impl<T, O> Clone for Bus<T, O> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// What a writer's commit function gives back: one result per item, in order, or a
/// failure of the whole batch.
pub type BatchResult<O> = Result<Vec<O>, String>;

impl<T: Send + 'static, O: Send + 'static> Bus<T, O> {
    /// Creates a bus of `capacity` events and starts its digest writer thread, which
    /// calls `commit` with batches of at most `batch_size` items. The thread ends when
    /// every [`Bus`] clone is dropped and the queue is drained.
    pub fn start<F>(
        capacity: usize,
        batch_size: usize,
        metrics: Arc<Metrics>,
        mut commit: F,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)>
    where
        F: FnMut(Vec<T>) -> BatchResult<O> + Send + 'static,
        T: Clone,
    {
        let (tx, mut rx) = mpsc::channel::<Job<T, O>>(capacity.max(1));
        let writer_metrics = metrics.clone();
        let batch_size = batch_size.max(1);
        let handle = std::thread::Builder::new().name("digest-writer".into()).spawn(move || {
            let metrics = writer_metrics;
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
                let items: Vec<T> = jobs.iter().map(|j| j.item.clone()).collect();
                let result = commit(items);
                let ok = matches!(&result, Ok(v) if v.len() == n);
                metrics.batch(n, started.elapsed().as_micros() as u64, ok);
                match result {
                    Ok(outcomes) if outcomes.len() == n => {
                        for (job, outcome) in jobs.drain(..).zip(outcomes) {
                            let _ = job.reply.send(Ok(outcome));
                        }
                    }
                    other => {
                        let batch_error = match other {
                            Err(e) => e,
                            Ok(v) => format!("store answered {} results for {n} events", v.len()),
                        };
                        tracing::error!(error = %batch_error, events = n, "digest batch failed; retrying one by one");
                        for job in jobs.drain(..) {
                            let one = commit(vec![job.item.clone()]);
                            let answer = match one {
                                Ok(mut v) if v.len() == 1 => v.pop().ok_or_else(|| CommitError(batch_error.clone())),
                                Ok(_) => Err(CommitError("store answered no result".into())),
                                Err(e) => Err(CommitError(e)),
                            };
                            let _ = job.reply.send(answer);
                        }
                    }
                }
            }
        })?;
        Ok((Self { tx, metrics }, handle))
    }

    /// Publishes `item`; the receiver resolves once it is committed (or failed).
    pub fn submit(&self, item: T) -> Result<oneshot::Receiver<Result<O, CommitError>>, BusFull> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job { item, reply }) {
            Ok(()) => {
                self.metrics.bus_add(1);
                Ok(rx)
            }
            Err(_) => Err(BusFull),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn commits_and_answers_each_item() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let (bus, handle) =
            Bus::<u32, u32>::start(16, 4, Arc::default(), move |items: Vec<u32>| {
                seen.lock().unwrap().push(items.len());
                Ok(items.iter().map(|i| i * 10).collect())
            })
            .unwrap();
        let mut waits = Vec::new();
        for i in 0..10 {
            waits.push(bus.submit(i).unwrap());
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
        let (bus, handle) = Bus::<u32, u32>::start(2, 1, Arc::default(), move |items: Vec<u32>| {
            if items == [0] {
                g.wait();
            }
            Ok(items)
        })
        .unwrap();
        let first = bus.submit(0).unwrap();
        // Wait until the writer holds item 0 (blocked in commit), then fill the queue.
        let mut accepted = Vec::new();
        let mut refused = 0;
        for i in 1..10 {
            match bus.submit(i) {
                Ok(rx) => accepted.push(rx),
                Err(BusFull) => refused += 1,
            }
        }
        assert!(refused >= 6, "refused {refused}");
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
        let (bus, handle) =
            Bus::<u32, u32>::start(16, 16, Arc::default(), move |items: Vec<u32>| {
                if items.contains(&13) {
                    Err("constraint violated".into())
                } else {
                    Ok(items)
                }
            })
            .unwrap();
        let rxs: Vec<_> = [12, 13, 14]
            .into_iter()
            .map(|i| bus.submit(i).unwrap())
            .collect();
        let results: Vec<_> = futures_join(rxs).await;
        assert_eq!(results[0], Ok(12));
        assert!(results[1].is_err());
        assert_eq!(results[2], Ok(14));
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
