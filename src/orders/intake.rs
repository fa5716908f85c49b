//! Group commit for new orders: the orders that arrive while one transaction commits are written
//! together in the next one.
//!
//! Why: with SQLite every concurrent writer fights for the one write lock, and a loser sleeps in
//! SQLite's busy handler (1, 2, 5, 10, 15, ... ms), which is what made the tail latency of order
//! creation; each commit also pays its own sync to disk. One writer task that takes all waiting
//! orders into one transaction has no lock fight and one sync per batch, and an order is still
//! acknowledged only after its transaction committed. PostgreSQL gains the same fewer syncs.
//!
//! The writer runs as its own task, so a client that hangs up does not cancel a transaction that
//! carries other clients' orders.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::store::{insert_batch, NewRow, Written};
use super::Error;
use crate::store::Store;

/// Most orders written in one transaction.
const MAX_BATCH: usize = 64;
/// Orders that may wait for the writer before submitters wait for room.
const QUEUE: usize = 1024;

/// Whether an order was written, or why not.
pub(super) type Outcome = Result<Written, Error>;

struct Pending {
    row: NewRow,
    reply: oneshot::Sender<Outcome>,
}

/// The group-commit writer of new orders over one [`Store`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Intake {
    store: Store,
    sender: Arc<Mutex<Option<mpsc::Sender<Pending>>>>,
}

impl Intake {
    /// A writer over `store`; its task starts with the first order.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            sender: Arc::default(),
        }
    }

    /// The store the orders are written to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Writes `row` in the next group transaction, answering once that committed (or failed).
    pub(super) async fn write(&self, row: NewRow) -> Outcome {
        let (reply, answer) = oneshot::channel();
        self.sender()
            .send(Pending { row, reply })
            .await
            .map_err(|_| Error::Internal("the order writer stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Internal("the order writer stopped".into()))?
    }

    /// The writer's queue, starting the writer task if there is none (or its runtime has gone,
    /// as between tests that each run their own).
    fn sender(&self) -> mpsc::Sender<Pending> {
        let mut slot = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(run(self.store.clone(), receiver));
        *slot = Some(sender.clone());
        sender
    }
}

/// Takes whatever is waiting (at least one order, at most [`MAX_BATCH`]) and writes it in one
/// transaction, until every sender is gone.
async fn run(store: Store, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let rows: Vec<&NewRow> = batch.iter().map(|p| &p.row).collect();
        match write_all(&store, &rows).await {
            Ok(written) => {
                for (pending, written) in batch.drain(..).zip(written) {
                    let _ = pending.reply.send(Ok(written));
                }
            }
            // One bad row must not fail the others: write each alone, so each gets its own answer.
            Err(_) => {
                for pending in batch.drain(..) {
                    let outcome = write_all(&store, &[&pending.row]).await.and_then(|w| {
                        w.first()
                            .copied()
                            .ok_or_else(|| Error::Internal("the order writer lost a row".into()))
                    });
                    let _ = pending.reply.send(outcome);
                }
            }
        }
    }
}

async fn write_all(store: &Store, rows: &[&NewRow]) -> Result<Vec<Written>, Error> {
    let mut tx = store.begin_write().await?;
    match insert_batch(&mut tx, rows).await {
        Ok(written) => {
            tx.commit().await?;
            Ok(written)
        }
        Err(e) => {
            // Released before the rows are retried one by one, not when the pool gets round to it.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{new_id, now_ms};

    fn row(tenant: &str, factory: &str, key: &str) -> NewRow {
        NewRow::for_test(new_id(), tenant, factory, key, now_ms())
    }

    #[tokio::test]
    async fn a_bad_order_in_a_batch_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        let shop = store.tenant_by_name_or_create("shop").await.unwrap().id;
        crate::auth::issue_key(&store, "fac", crate::auth::Role::Factory)
            .await
            .unwrap();
        sqlx::query("INSERT INTO webhooks (id, tenant_id, url, secret, created_at) VALUES ('w1', $1, 'http://shop.test/h', 's', 0)")
            .bind(&shop.0)
            .execute(store.pool())
            .await
            .unwrap();
        let intake = Intake::new(store.clone());
        // Submitted together, so that they share transactions: the one placed by a shop that
        // does not exist breaks its foreign key and must fail alone; the one routed to an
        // unknown factory is refused alone.
        let mut tasks = Vec::new();
        for i in 0..40 {
            let tenant = if i == 17 { "no-such-tenant" } else { &shop.0 };
            let factory = if i == 23 { "no-such-factory" } else { "fac" };
            let row = row(tenant, factory, &format!("k{i}"));
            let intake = intake.clone();
            tasks.push(tokio::spawn(async move { intake.write(row).await }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        // A repeated key writes nothing.
        let again = intake.write(row(&shop.0, "fac", "k3")).await;
        assert!(outcomes[17].is_err(), "{:?}", outcomes[17]);
        assert!(
            matches!(outcomes[23], Ok(Written::NoFactory)),
            "{:?}",
            outcomes[23]
        );
        for (i, o) in outcomes
            .iter()
            .enumerate()
            .filter(|(i, _)| ![17, 23].contains(i))
        {
            assert!(matches!(o, Ok(Written::New)), "order {i}: {o:?}");
        }
        assert!(matches!(again, Ok(Written::KeyTaken)), "{again:?}");
        let count = |sql: &'static str| {
            let store = store.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(store.pool())
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            (
                count("SELECT COUNT(*) FROM orders").await,
                count("SELECT COUNT(*) FROM order_events WHERE seq = 0").await,
                count("SELECT COUNT(*) FROM outbox WHERE webhook_id = 'w1'").await,
            ),
            (38, 38, 38)
        );
    }
}
