//! Dynamic batching: one queue per model. Concurrent requests are gathered until `max_batch`
//! images are waiting or the oldest has waited `max_wait`, run as one batch, and answered
//! individually.
//!
//! Each model gets its own OS thread: inference is CPU-bound and would stall the async runtime's
//! workers. The queue is bounded; a full queue is refused at once ([`BatchError::Overloaded`],
//! which the API answers 503 with `Retry-After`) instead of growing without limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::Tensor;
use tokio::sync::oneshot;

use super::{Error, Model};

/// How a model's queue batches.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Most images run in one forward pass (1 turns batching off).
    pub max_batch: usize,
    /// Longest the first request of a batch waits for company.
    pub max_wait: Duration,
    /// Requests that may wait in the queue before new ones are refused.
    pub queue_capacity: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_batch: 16,
            max_wait: Duration::from_millis(5),
            queue_capacity: 256,
        }
    }
}

/// Why a batched request was not answered.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The queue is full; retry later.
    #[error("the {model} queue is full ({capacity} waiting); retry shortly")]
    Overloaded {
        /// Model name.
        model: String,
        /// Queue capacity.
        capacity: usize,
    },
    /// The model's worker has stopped.
    #[error("the {0} worker has stopped")]
    Closed(String),
    /// The model failed on the batch (or on this request's inputs).
    #[error(transparent)]
    Model(#[from] Error),
}

struct Job {
    inputs: Vec<Tensor>,
    images: usize,
    reply: oneshot::Sender<Result<Vec<Tensor>, Error>>,
}

/// A model behind its batching queue. Cheap to clone; the worker stops when the last clone drops.
#[derive(Clone)]
pub struct Batcher {
    name: Arc<str>,
    tx: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    capacity: usize,
}

impl Batcher {
    /// Starts the worker thread for `model`, labelled `name` in metrics and errors.
    pub fn spawn(name: &str, model: Arc<Model>, config: BatchConfig) -> std::io::Result<Self> {
        let capacity = config.queue_capacity.max(1);
        let (tx, rx) = mpsc::sync_channel(capacity);
        let depth = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            name: name.into(),
            model,
            config,
            depth: depth.clone(),
        };
        std::thread::Builder::new()
            .name(format!("batch-{name}"))
            .spawn(move || worker.run(rx))?;
        Ok(Self {
            name: name.into(),
            tx,
            depth,
            capacity,
        })
    }

    /// Runs `inputs` (NHWC, batch N >= 1, the model's input order) in the next batch and returns
    /// this request's outputs (batch N).
    pub async fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BatchError> {
        let rx = self.submit(inputs)?;
        rx.await
            .map_err(|_| BatchError::Closed(self.name.to_string()))?
            .map_err(BatchError::Model)
    }

    /// Like [`Batcher::run`], blocking the calling thread (for the CLI).
    pub fn run_blocking(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BatchError> {
        let rx = self.submit(inputs)?;
        rx.blocking_recv()
            .map_err(|_| BatchError::Closed(self.name.to_string()))?
            .map_err(BatchError::Model)
    }

    /// Requests waiting now.
    pub fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    fn submit(
        &self,
        inputs: Vec<Tensor>,
    ) -> Result<oneshot::Receiver<Result<Vec<Tensor>, Error>>, BatchError> {
        let images = inputs
            .first()
            .and_then(|t| t.dims().first().copied())
            .unwrap_or(0);
        if images == 0 {
            return Err(BatchError::Model(Error::Input(
                "a request needs at least one image".into(),
            )));
        }
        let (reply, rx) = oneshot::channel();
        // Counted before sending so the worker's decrement can never run first.
        let depth = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
        let sent = self.tx.try_send(Job {
            inputs,
            images,
            reply,
        });
        if sent.is_err() {
            self.depth.fetch_sub(1, Ordering::Relaxed);
        }
        match sent {
            Ok(()) => {
                metrics::gauge!("atelier_batch_queue_depth", "model" => self.name.to_string())
                    .set(depth as f64);
                Ok(rx)
            }
            Err(TrySendError::Full(_)) => {
                metrics::counter!("atelier_batch_rejected_total", "model" => self.name.to_string())
                    .increment(1);
                Err(BatchError::Overloaded {
                    model: self.name.to_string(),
                    capacity: self.capacity,
                })
            }
            Err(TrySendError::Disconnected(_)) => Err(BatchError::Closed(self.name.to_string())),
        }
    }
}

struct Worker {
    name: String,
    model: Arc<Model>,
    config: BatchConfig,
    depth: Arc<AtomicUsize>,
}

impl Worker {
    fn run(self, rx: Receiver<Job>) {
        // A job that did not fit the previous batch opens the next one.
        let mut carried: Option<Job> = None;
        loop {
            let first = match carried.take() {
                Some(job) => job,
                None => match rx.recv() {
                    Ok(job) => self.taken(job),
                    Err(_) => return,
                },
            };
            let deadline = Instant::now() + self.config.max_wait;
            let mut images = first.images;
            let mut jobs = vec![first];
            while images < self.config.max_batch {
                let wait = deadline.saturating_duration_since(Instant::now());
                let next = if wait.is_zero() {
                    rx.try_recv().map_err(|_| RecvTimeoutError::Timeout)
                } else {
                    rx.recv_timeout(wait)
                };
                match next.map(|job| self.taken(job)) {
                    Ok(job) if images + job.images <= self.config.max_batch => {
                        images += job.images;
                        jobs.push(job);
                    }
                    Ok(job) => {
                        carried = Some(job);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.run_batch(jobs, images);
        }
    }

    /// Counts a job out of the queue.
    fn taken(&self, job: Job) -> Job {
        let depth = self.depth.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        metrics::gauge!("atelier_batch_queue_depth", "model" => self.name.clone())
            .set(depth as f64);
        job
    }

    fn run_batch(&self, jobs: Vec<Job>, images: usize) {
        let start = Instant::now();
        let outputs = if jobs.len() == 1 {
            None
        } else {
            Some(self.forward_joined(&jobs))
        };
        metrics::histogram!("atelier_batch_size", "model" => self.name.clone())
            .record(images as f64);
        match outputs {
            // One request: run it as it is.
            None => {
                for job in jobs {
                    let _ = job.reply.send(self.model.forward(&job.inputs));
                }
            }
            Some(Ok(outputs)) => {
                let mut offset = 0;
                for job in jobs {
                    let mine = outputs
                        .iter()
                        .map(|t| {
                            t.narrow(0, offset, job.images)
                                .map_err(Error::tensor("splitting a batch"))
                        })
                        .collect();
                    offset += job.images;
                    let _ = job.reply.send(mine);
                }
            }
            // A joined batch failed (e.g. one request's tensors did not fit the others): answer
            // each request on its own so one bad request cannot fail its neighbours.
            Some(Err(_)) => {
                for job in jobs {
                    let _ = job.reply.send(self.model.forward(&job.inputs));
                }
            }
        }
        metrics::histogram!("atelier_model_batch_seconds", "model" => self.name.clone())
            .record(start.elapsed().as_secs_f64());
    }

    fn forward_joined(&self, jobs: &[Job]) -> Result<Vec<Tensor>, Error> {
        let n_inputs = jobs[0].inputs.len();
        if jobs.iter().any(|j| j.inputs.len() != n_inputs) {
            return Err(Error::Input(
                "requests disagree on the number of inputs".into(),
            ));
        }
        let joined = (0..n_inputs)
            .map(|i| {
                let parts: Vec<&Tensor> = jobs.iter().map(|j| &j.inputs[i]).collect();
                Tensor::cat(&parts, 0).map_err(Error::tensor("joining a batch"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.model.forward(&joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn face_detector() -> Option<Arc<Model>> {
        let path = crate::models::for_tests().join("face_detection_short_range.tflite");
        Some(Arc::new(Model::load(&path, &Device::Cpu).unwrap()))
    }

    fn image(seed: f32) -> Tensor {
        let data: Vec<f32> = (0..128 * 128 * 3)
            .map(|i| (i as f32 * 0.37 + seed).sin())
            .collect();
        Tensor::from_vec(data, (1, 128, 128, 3), &Device::Cpu).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_a_batch_and_get_their_own_answers() {
        let Some(model) = face_detector() else { return };
        let batcher = Batcher::spawn(
            "face_detection_test",
            model.clone(),
            BatchConfig {
                max_batch: 8,
                max_wait: Duration::from_millis(200),
                queue_capacity: 16,
            },
        )
        .unwrap();
        let inputs: Vec<Tensor> = (0..6).map(|i| image(i as f32)).collect();
        let handles: Vec<_> = inputs
            .iter()
            .cloned()
            .map(|x| {
                let b = batcher.clone();
                tokio::spawn(async move { b.run(vec![x]).await })
            })
            .collect();
        for (h, x) in handles.into_iter().zip(&inputs) {
            let got = h.await.unwrap().unwrap();
            let alone = model.forward(std::slice::from_ref(x)).unwrap();
            for (g, a) in got.iter().zip(&alone) {
                assert_eq!(g.dims(), a.dims());
                let diff = (g - a)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_dtype(DType::F32)
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(diff < 1e-4, "batched answer differs by {diff}");
            }
        }
    }

    #[test]
    fn a_full_queue_refuses_instead_of_growing() {
        let Some(model) = face_detector() else { return };
        let batcher = Batcher::spawn(
            "face_detection_full",
            model,
            BatchConfig {
                max_batch: 1,
                max_wait: Duration::ZERO,
                queue_capacity: 2,
            },
        )
        .unwrap();
        let mut receivers = Vec::new();
        let mut refused = 0;
        for i in 0..40 {
            match batcher.submit(vec![image(i as f32)]) {
                Ok(rx) => receivers.push(rx),
                Err(BatchError::Overloaded { capacity, .. }) => {
                    assert_eq!(capacity, 2);
                    refused += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(
            refused > 0,
            "40 instant requests into a queue of 2 must overflow"
        );
        for rx in receivers {
            assert!(
                rx.blocking_recv().unwrap().is_ok(),
                "accepted requests are all answered"
            );
        }
    }
}
