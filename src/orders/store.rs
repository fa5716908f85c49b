//! Orders in the database.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

use super::fabric::Catalog;
use super::intake::Intake;
use super::{cutting, invalid, records, Error, Mover, NewOrder, Order, OrderEvent, OrderState};
use crate::store::{get as column, new_id, now_ms, Backend, Store, TenantId};
use crate::webhooks;

/// Whose view of the orders a query takes.
#[derive(Debug, Clone)]
pub enum Viewer {
    /// A shop sees the orders its tenant placed.
    Shop(TenantId),
    /// A factory sees the orders routed to its tenant.
    Factory(TenantId),
}

impl Viewer {
    fn filter(&self) -> (&'static str, &str) {
        match self {
            Viewer::Shop(t) => ("tenant_id", &t.0),
            Viewer::Factory(t) => ("factory_tenant_id", &t.0),
        }
    }
}

/// The outcome of a create call.
#[derive(Debug, Clone)]
pub struct Created {
    /// The order.
    pub order: Order,
    /// True when the idempotency key had been used before with the same request, so this is the
    /// order the first call created.
    pub replayed: bool,
}

pub(super) const COLUMNS: &str = "id, customer_ref, garment, options, measurements, measurement_record_id, fabric, quantity, due_date, state, created_at, updated_at";

/// Creates an order for `tenant`, once per `idempotency_key`. The fabric must be in `fabrics`,
/// and the garment must draft from the measurements and options with every piece fitting
/// across the fabric's roll, so that an accepted order can always be cut.
pub async fn create(
    intake: &Intake,
    fabrics: &Catalog,
    tenant: &TenantId,
    idempotency_key: &str,
    new: &NewOrder,
) -> Result<Created, Error> {
    if idempotency_key.is_empty() || idempotency_key.len() > 200 {
        return Err(invalid("Idempotency-Key", "must be 1-200 characters"));
    }
    let request_hash = hex::encode(Sha256::digest(serde_json::to_vec(new).unwrap_or_default()));
    // The key is looked up only when the order is refused or its row not written: a new order,
    // the common case, costs no read for it.
    let key = (tenant, idempotency_key, request_hash.as_str());
    match accept(intake, fabrics, key, new).await {
        // A retry of an order accepted before gets that order, even where the request would not
        // be accepted now (its fabric left the catalog, its factory's key was revoked).
        Err(refused @ Error::Invalid { .. }) => by_key(intake.store(), key).await?.ok_or(refused),
        other => other,
    }
}

/// A tenant, an idempotency key and the hash of the request made under it.
type Key<'a> = (&'a TenantId, &'a str, &'a str);

/// Checks, drafts and writes a new order (see [`create`]).
async fn accept(
    intake: &Intake,
    fabrics: &Catalog,
    (tenant, idempotency_key, request_hash): Key<'_>,
    new: &NewOrder,
) -> Result<Created, Error> {
    new.validate()?;
    let store = intake.store();
    let (measurements, record_id) = match (&new.measurements, &new.measurement_record_id) {
        (Some(m), _) => (m.clone(), None),
        (None, Some(id)) => match records::get(store, tenant, id).await {
            Ok(r) => (r.measurements, Some(r.id)),
            Err(Error::RecordNotFound) => {
                return Err(invalid(
                    "measurement_record_id",
                    "no such measurement record",
                ))
            }
            Err(e) => return Err(e),
        },
        (None, None) => {
            return Err(invalid(
                "measurements",
                "give measurements or measurement_record_id",
            ))
        }
    };
    let fabric = fabrics.get(&new.fabric).ok_or_else(|| {
        invalid(
            "fabric",
            format!("{:?} is not in the fabric catalog", new.fabric),
        )
    })?;
    // Drafting a garment and checking that its pieces fit the roll takes some 40 µs (a shirt,
    // measured), less than handing it to a blocking thread and back costs, so it runs here.
    let fits = cutting::draft(&new.garment, &measurements, &new.options)
        .and_then(|pattern| cutting::cut_pieces("new", 1, &pattern))
        .and_then(|pieces| cutting::check_fits("fabric", fabric, &pieces));
    fits.map_err(|e| match e {
        // The record's measurements are at fault, not a field of this request.
        Error::Invalid { field, message }
            if record_id.is_some() && field.starts_with("measurements") =>
        {
            Error::Invalid {
                field: "measurement_record_id".into(),
                message: format!("{field}: {message}"),
            }
        }
        other => other,
    })?;
    let now = now_ms();
    let order = Order {
        id: new_id(),
        customer_ref: new.customer_ref.clone(),
        garment: new.garment.clone(),
        options: new.options.clone(),
        measurements,
        measurement_record_id: record_id,
        fabric: new.fabric.clone(),
        quantity: new.quantity,
        due_date: new.due_date.clone(),
        state: OrderState::Received,
        created_at: now,
        updated_at: now,
    };
    let row = NewRow {
        id: order.id.clone(),
        tenant: tenant.0.clone(),
        factory: new.factory.clone(),
        idempotency_key: idempotency_key.to_owned(),
        request_hash: request_hash.to_owned(),
        customer_ref: order.customer_ref.clone(),
        garment: order.garment.clone(),
        options: json(&order.options),
        measurements: json(&order.measurements),
        measurement_record_id: order.measurement_record_id.clone(),
        fabric: order.fabric.clone(),
        quantity: order.quantity,
        due_date: order.due_date.clone(),
        at: now,
    };
    match intake.write(row).await? {
        Written::New => Ok(Created {
            order,
            replayed: false,
        }),
        // An earlier or concurrent request with the same key got there first: its order.
        Written::KeyTaken => by_key(store, (tenant, idempotency_key, request_hash))
            .await?
            .ok_or(Error::Internal(
                "an order with this Idempotency-Key was written but cannot be read".into(),
            )),
        Written::NoFactory => Err(invalid(
            "factory",
            format!("{:?} is not a factory", new.factory),
        )),
    }
}

/// A new order's row, as the group-commit writer inserts it.
#[derive(Debug)]
pub(super) struct NewRow {
    id: String,
    tenant: String,
    /// The factory tenant's name (the writer looks up its id).
    factory: String,
    idempotency_key: String,
    request_hash: String,
    customer_ref: String,
    garment: String,
    options: String,
    measurements: String,
    measurement_record_id: Option<String>,
    fabric: String,
    quantity: i64,
    due_date: String,
    at: i64,
}

#[cfg(test)]
impl NewRow {
    /// A shirt order row, for the writer's tests.
    pub(super) fn for_test(id: String, tenant: &str, factory: &str, key: &str, at: i64) -> Self {
        NewRow {
            id,
            tenant: tenant.into(),
            factory: factory.into(),
            idempotency_key: key.into(),
            request_hash: "h".into(),
            customer_ref: "c".into(),
            garment: "shirt".into(),
            options: "{}".into(),
            measurements: "{}".into(),
            measurement_record_id: None,
            fabric: "poplin-white".into(),
            quantity: 1,
            due_date: "2026-12-24".into(),
            at,
        }
    }
}

/// What became of one new order row in [`insert_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    /// The order and its creation event were written.
    New,
    /// The tenant already has an order under the row's idempotency key; nothing was written.
    KeyTaken,
    /// No tenant of that name holds a live factory key; nothing was written.
    NoFactory,
}

/// Writes new orders, each with its creation event and webhook outbox rows, inside `tx`, in a
/// few statements for the whole batch (so that a batch costs a few round trips to the database,
/// not a few per order). Each row's factory is looked up by name here, in the transaction that
/// routes the order to it.
pub(super) async fn insert_batch(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[&NewRow],
) -> Result<Vec<Written>, Error> {
    let factories = factory_ids(tx, rows).await?;
    let routed: Vec<(&NewRow, &str)> = rows
        .iter()
        .filter_map(|r| factories.get(&r.factory).map(|f| (*r, f.as_str())))
        .collect();
    let mut inserted = std::collections::HashSet::new();
    if !routed.is_empty() {
        let sql = format!(
            "INSERT INTO orders (id, tenant_id, factory_tenant_id, idempotency_key, request_hash, customer_ref, garment, options, measurements, \
             measurement_record_id, fabric, quantity, due_date, state, created_at, updated_at) VALUES {} \
             ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id",
            Backend::of(tx).value_rows(routed.len(), 16)
        );
        let mut query = sqlx::query(&sql);
        for (row, factory) in &routed {
            query = query
                .bind(&row.id)
                .bind(&row.tenant)
                .bind(*factory)
                .bind(&row.idempotency_key)
                .bind(&row.request_hash)
                .bind(&row.customer_ref)
                .bind(&row.garment)
                .bind(&row.options)
                .bind(&row.measurements)
                .bind(&row.measurement_record_id)
                .bind(&row.fabric)
                .bind(row.quantity)
                .bind(&row.due_date)
                .bind(OrderState::Received.as_str())
                .bind(row.at)
                .bind(row.at);
        }
        for r in query.fetch_all(&mut **tx).await? {
            inserted.insert(column::<String>(&r, "id")?);
        }
    }
    let new: Vec<&NewRow> = rows
        .iter()
        .copied()
        .filter(|r| inserted.contains(&r.id))
        .collect();
    record_creations(tx, &new).await?;
    Ok(rows
        .iter()
        .map(|r| {
            if inserted.contains(&r.id) {
                Written::New
            } else if factories.contains_key(&r.factory) {
                Written::KeyTaken
            } else {
                Written::NoFactory
            }
        })
        .collect())
}

/// The tenant id of each factory named in `rows` that holds a live factory key.
async fn factory_ids(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[&NewRow],
) -> Result<BTreeMap<String, String>, Error> {
    let names: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.factory.as_str()).collect();
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let sql = format!(
        "SELECT DISTINCT t.name, t.id FROM tenants t JOIN api_keys k ON k.tenant_id = t.id \
         WHERE t.name IN ({}) AND k.role = 'factory' AND k.revoked_at IS NULL",
        Backend::of(tx).value_rows(names.len(), 1)
    );
    let mut query = sqlx::query(&sql);
    for name in &names {
        query = query.bind(*name);
    }
    query
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| Ok((column(r, "name")?, column(r, "id")?)))
        .collect()
}

/// The creation event (received, by the shop) of each new order, and its webhook outbox rows.
async fn record_creations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[&NewRow],
) -> Result<(), Error> {
    let changes: Vec<Change> = rows
        .iter()
        .map(|r| Change {
            order_id: &r.id,
            seq: 0,
            from: None,
            to: OrderState::Received,
            actor: "shop",
            at: r.at,
        })
        .collect();
    record_events(tx, &changes).await
}

/// A JSON string for a TEXT column (maps of plain values cannot fail to serialise).
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

/// The order made under `key`, if any; an error if it was made by a different request.
async fn by_key(
    store: &Store,
    (tenant, key, request_hash): Key<'_>,
) -> Result<Option<Created>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, request_hash FROM orders WHERE tenant_id = $1 AND idempotency_key = $2"
    ))
    .bind(&tenant.0)
    .bind(key)
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored_hash: String = column(&row, "request_hash")?;
    if stored_hash != request_hash {
        return Err(Error::KeyReused);
    }
    Ok(Some(Created {
        order: decode(&row)?,
        replayed: true,
    }))
}

/// One order, if `viewer` may see it.
pub async fn get(store: &Store, viewer: &Viewer, id: &str) -> Result<Order, Error> {
    let (col, tenant) = viewer.filter();
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM orders WHERE id = $1 AND {col} = $2"
    ))
    .bind(id)
    .bind(tenant)
    .fetch_optional(store.pool())
    .await?
    .ok_or(Error::NotFound)?;
    decode(&row)
}

/// The orders `viewer` may see, optionally in one state, oldest due first, at most `limit`.
pub async fn list(
    store: &Store,
    viewer: &Viewer,
    state: Option<OrderState>,
    limit: i64,
) -> Result<Vec<Order>, Error> {
    let (col, tenant) = viewer.filter();
    let state_filter = if state.is_some() {
        "AND state = $3"
    } else {
        "AND $3 = $3"
    };
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM orders WHERE {col} = $1 {state_filter} ORDER BY due_date, created_at, id LIMIT $2"))
        .bind(tenant)
        .bind(limit)
        .bind(state.map(|s| s.as_str()).unwrap_or(""))
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(decode).collect()
}

/// Moves an order `viewer` may see to `to`, if the life cycle allows it for `who`; records the
/// change with `actor`. Two concurrent moves from the same state cannot both succeed.
pub async fn move_state(
    store: &Store,
    viewer: &Viewer,
    who: Mover,
    actor: &str,
    id: &str,
    to: OrderState,
) -> Result<Order, Error> {
    let current = get(store, viewer, id).await?;
    if !current.state.may_move(to, who) {
        return Err(Error::IllegalTransition {
            from: current.state,
            to,
        });
    }
    let mut tx = store.begin_write().await?;
    if !advance(&mut tx, id, current.state, to, actor).await? {
        drop(tx);
        let now_state = get(store, viewer, id).await?.state;
        return Err(Error::IllegalTransition {
            from: now_state,
            to,
        });
    }
    tx.commit().await?;
    get(store, viewer, id).await
}

/// Moves order `id` from `from` to `to` inside `tx` and records the change, only if it is still
/// in `from`: false (and nothing written) when a concurrent change got there first.
pub(super) async fn advance(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    from: OrderState,
    to: OrderState,
    actor: &str,
) -> Result<bool, Error> {
    let now = now_ms();
    let done =
        sqlx::query("UPDATE orders SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4")
            .bind(to.as_str())
            .bind(now)
            .bind(id)
            .bind(from.as_str())
            .execute(&mut **tx)
            .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    let seq: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM order_events WHERE order_id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    let change = Change {
        order_id: id,
        seq,
        from: Some(from),
        to,
        actor,
        at: now,
    };
    record_events(tx, &[change]).await?;
    Ok(true)
}

/// Cancels a shop's order (allowed until cutting starts).
pub async fn cancel(
    store: &Store,
    tenant: &TenantId,
    actor: &str,
    id: &str,
) -> Result<Order, Error> {
    move_state(
        store,
        &Viewer::Shop(tenant.clone()),
        Mover::Shop,
        actor,
        id,
        OrderState::Cancelled,
    )
    .await
}

/// The state history of an order `viewer` may see, oldest first.
pub async fn events(store: &Store, viewer: &Viewer, id: &str) -> Result<Vec<OrderEvent>, Error> {
    get(store, viewer, id).await?;
    let rows = sqlx::query(
        "SELECT from_state, to_state, actor, at FROM order_events WHERE order_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let from: Option<String> = column(r, "from_state")?;
            let to: String = column(r, "to_state")?;
            Ok(OrderEvent {
                from: from.map(|f| parse_state(&f)).transpose()?,
                to: parse_state(&to)?,
                actor: column(r, "actor")?,
                at: column(r, "at")?,
            })
        })
        .collect()
}

/// One state change of an order: its event number `seq` (0 for creation) and who made it when.
struct Change<'a> {
    order_id: &'a str,
    seq: i64,
    from: Option<OrderState>,
    to: OrderState,
    actor: &'a str,
    at: i64,
}

/// Records `changes` as order events, with their webhook outbox rows, inside `tx`: two
/// statements however many changes.
async fn record_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    changes: &[Change<'_>],
) -> Result<(), Error> {
    if changes.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = changes.iter().map(|_| new_id()).collect();
    let sql = format!(
        "INSERT INTO order_events (id, order_id, seq, from_state, to_state, actor, at) VALUES {}",
        Backend::of(tx).value_rows(changes.len(), 7)
    );
    let mut query = sqlx::query(&sql);
    for (id, c) in ids.iter().zip(changes) {
        query = query
            .bind(id)
            .bind(c.order_id)
            .bind(c.seq)
            .bind(c.from.map(|s| s.as_str()))
            .bind(c.to.as_str())
            .bind(c.actor)
            .bind(c.at);
    }
    query.execute(&mut **tx).await?;
    // The shop hears of a change only if it commits: the outbox rows share the transaction.
    let queued: Vec<webhooks::Queued> = ids
        .iter()
        .zip(changes)
        .map(|(id, c)| webhooks::Queued {
            order_id: c.order_id.to_owned(),
            event_id: id.clone(),
            body: serde_json::json!({
                "id": id,
                "type": "order.state_changed",
                "order_id": c.order_id,
                "seq": c.seq,
                "from": c.from,
                "to": c.to,
                "actor": c.actor,
                "at": c.at,
            })
            .to_string(),
            at: c.at,
        })
        .collect();
    webhooks::enqueue(tx, &queued).await.map_err(webhook_error)
}

fn webhook_error(e: webhooks::Error) -> Error {
    match e {
        webhooks::Error::Store(s) => Error::Store(s),
        other => Error::Internal(other.to_string()),
    }
}

pub(super) fn parse_state(s: &str) -> Result<OrderState, Error> {
    s.parse()
        .map_err(|e: String| Error::Store(crate::store::Error::Corrupt(e)))
}

pub(super) fn decode(row: &AnyRow) -> Result<Order, Error> {
    let corrupt = |e: serde_json::Error| Error::Store(crate::store::Error::Corrupt(e.to_string()));
    let options: String = column(row, "options")?;
    let measurements: String = column(row, "measurements")?;
    let state: String = column(row, "state")?;
    Ok(Order {
        id: column(row, "id")?,
        customer_ref: column(row, "customer_ref")?,
        garment: column(row, "garment")?,
        options: serde_json::from_str(&options).map_err(corrupt)?,
        measurements: serde_json::from_str::<BTreeMap<String, f64>>(&measurements)
            .map_err(corrupt)?,
        measurement_record_id: column(row, "measurement_record_id")?,
        fabric: column(row, "fabric")?,
        quantity: column(row, "quantity")?,
        due_date: column(row, "due_date")?,
        state: parse_state(&state)?,
        created_at: column(row, "created_at")?,
        updated_at: column(row, "updated_at")?,
    })
}
