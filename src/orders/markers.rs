//! Cutting markers made from orders: the pieces of a factory's orders on one fabric nested on
//! its roll, stored together with the orders' move to `planned`, claimed by one cutting-room
//! worker, and written out as cut files.
//!
//! Planning runs in three steps so that the slow middle one holds no database transaction:
//! [`gather`] reads the orders, [`lay_out`] drafts and nests them (CPU only, run it off the
//! async threads), and [`record`] stores the marker and moves every order in one transaction,
//! each move conditional on the state the orders were read in. A crash or a concurrent change
//! in between leaves either the whole marker or nothing, and an order can sit in one marker
//! only (the link table says so too).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use kurbo::{Affine, Vec2};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use super::cutting::{self, CutPiece};
use super::fabric::{Catalog, Fabric};
use super::store::{advance, decode, get, COLUMNS};
use super::{invalid, Error, Order, OrderState, Viewer};
use crate::nest;
use crate::pattern::{self, Export, Format, MarkerPiece};
use crate::store::{get as column, new_id, now_ms, Store, TenantId};

/// Nesting time when the request gives none (s).
pub const DEFAULT_TIME_LIMIT_SECS: f64 = 10.0;
/// Longest nesting time a request may ask for (s).
pub const MAX_TIME_LIMIT_SECS: f64 = 600.0;
/// Most orders in one marker: more makes a marker longer than a cutting table.
pub const MAX_ORDERS: usize = 50;
/// Seed of the nesting search, fixed so a plan can be reproduced.
const SEED: u64 = 1;
/// A piece redrafted for its cut file may differ from the planned one by rounding only.
const AREA_TOLERANCE: f64 = 1e-3;

/// Where a marker is in the cutting room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MarkerState {
    /// Planned; no worker has taken it yet.
    Ready,
    /// A worker has taken it; its orders are being cut.
    Claimed,
}

impl MarkerState {
    /// Lowercase name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Claimed => "claimed",
        }
    }
}

impl fmt::Display for MarkerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MarkerState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Ready, Self::Claimed]
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown marker state {s:?}"))
    }
}

/// What a factory asks to plan.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// Fabric to plan, from the catalog.
    pub fabric: String,
    /// The orders to nest (received or patterned, on this fabric, routed to this factory), each
    /// once; default: every such order, earliest due first, at most 50.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 50)]
    pub order_ids: Option<Vec<String>>,
    /// Seconds the nesting search may take (default 10, at most 600); the best marker found by
    /// then is kept.
    #[serde(default)]
    #[schema(exclusive_minimum = 0, maximum = 600)]
    pub time_limit_secs: Option<f64>,
    /// Flaws in the roll no piece may cover (at most 100): polygons of 3 to 1000 `[x, y]` points
    /// in mm, x along the roll from its start, y across it.
    #[serde(default)]
    #[schema(schema_with = defects_schema)]
    pub defects: Vec<Vec<[f64; 2]>>,
}

/// Most defect zones one plan may list, and most points in one.
const MAX_DEFECTS: usize = 100;
const MAX_DEFECT_POINTS: usize = 1000;

/// Defect zones as [`gather`] reads them: up to [`MAX_DEFECTS`] polygons of up to
/// [`MAX_DEFECT_POINTS`] `[x, y]` pairs (utoipa would leave the pairs' length open).
fn defects_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let point = ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::Number))
        .min_items(Some(2))
        .max_items(Some(2));
    let zone = ArrayBuilder::new()
        .items(point)
        .min_items(Some(3))
        .max_items(Some(MAX_DEFECT_POINTS));
    ArrayBuilder::new()
        .items(zone)
        .max_items(Some(MAX_DEFECTS))
        .description(Some(
            "Flaws in the roll no piece may cover: polygons of `[x, y]` points in mm, x along the \
             roll from its start, y across it.",
        ))
        .build()
}

/// Orders read for planning, with the fabric and time limit.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The fabric as the catalog has it now.
    pub fabric: Fabric,
    /// The orders, in the state they were read in.
    pub orders: Vec<Order>,
    /// Nesting time (s).
    pub time_limit_secs: f64,
    /// Flaws in the roll to avoid.
    pub defects: Vec<Vec<[f64; 2]>>,
    /// Search threads the nesting runs (1 unless the caller has cores to spare).
    pub workers: usize,
}

/// An order left out of a marker, and why.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Skipped {
    /// Order id.
    pub order_id: String,
    /// Why it could not be drafted.
    pub reason: String,
}

/// Where one copy of a piece lies on the marker: rotate the piece (grain along the roll, as
/// `cut-file?format=json` shows it) by `rotation` degrees counter-clockwise about its own
/// origin, then move it by (`x`, `y`) mm; x runs along the roll, y across it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MarkerPlacement {
    /// The order the piece is cut for.
    pub order_id: String,
    /// Garment.
    pub garment: String,
    /// Size label (`MTM`).
    pub size: String,
    /// Piece name.
    pub piece: String,
    /// Copy of the piece within the order, from 0.
    pub copy: usize,
    /// True for the other-hand piece of a pair.
    pub mirrored: bool,
    /// Rotation in degrees, one the fabric allows.
    pub rotation: f64,
    /// Along the roll, mm.
    pub x: f64,
    /// Across the roll, mm.
    pub y: f64,
    /// Area inside the cut line, mm².
    pub area_mm2: f64,
}

/// A drafted and nested marker, not yet stored.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The fabric it was nested for.
    pub fabric: Fabric,
    /// Orders in the marker and the state each was read in.
    pub orders: Vec<(String, OrderState)>,
    /// Orders left out.
    pub skipped: Vec<Skipped>,
    /// Used roll length, mm.
    pub length_mm: f64,
    /// Piece area over used roll area.
    pub density: f64,
    /// Every piece copy.
    pub placements: Vec<MarkerPlacement>,
    /// Nesting time it had (s).
    pub time_limit_secs: f64,
    /// Flaws in the roll it avoids.
    pub defects: Vec<Vec<[f64; 2]>>,
}

/// A stored marker.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Marker {
    /// Marker id.
    pub id: String,
    /// The fabric as it was when planned (roll width, rotations, gap).
    pub fabric: Fabric,
    /// Ready or claimed.
    pub state: MarkerState,
    /// Used roll length, mm.
    pub length_mm: f64,
    /// Piece area over used roll area (0-1).
    pub density: f64,
    /// The orders cut from it.
    pub order_ids: Vec<String>,
    /// Every piece copy.
    pub placements: Vec<MarkerPlacement>,
    /// Who claimed it (API key id).
    pub claimed_by: Option<String>,
    /// When, Unix milliseconds.
    pub claimed_at: Option<i64>,
    /// Who asked for the plan (`tenant/role`).
    pub created_by: String,
    /// Nesting time it had (s).
    pub time_limit_secs: f64,
    /// Flaws in the roll it avoids (polygons, mm).
    pub defects: Vec<Vec<[f64; 2]>>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

/// What is kept in the marker's `layout` column.
#[derive(Serialize, Deserialize)]
struct StoredLayout {
    fabric: Fabric,
    order_ids: Vec<String>,
    time_limit_secs: f64,
    #[serde(default)]
    defects: Vec<Vec<[f64; 2]>>,
    placements: Vec<MarkerPlacement>,
}

/// The outcome of planning: the stored marker and the orders left out.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanOutcome {
    /// The marker.
    pub marker: Marker,
    /// Orders that could not be drafted, and why.
    pub skipped: Vec<Skipped>,
}

/// Step 1 of planning: checks the request and reads the orders to nest.
pub async fn gather(
    store: &Store,
    fabrics: &Catalog,
    factory: &TenantId,
    request: &PlanRequest,
) -> Result<Batch, Error> {
    let time_limit_secs = request.time_limit_secs.unwrap_or(DEFAULT_TIME_LIMIT_SECS);
    if !(time_limit_secs.is_finite()
        && time_limit_secs > 0.0
        && time_limit_secs <= MAX_TIME_LIMIT_SECS)
    {
        return Err(invalid(
            "time_limit_secs",
            format!("{time_limit_secs} is not a time limit between 0 and {MAX_TIME_LIMIT_SECS} s (exclusive of 0)"),
        ));
    }
    let fabric = fabrics
        .get(&request.fabric)
        .ok_or_else(|| {
            invalid(
                "fabric",
                format!("{:?} is not in the fabric catalog", request.fabric),
            )
        })?
        .clone();
    if request.defects.len() > MAX_DEFECTS {
        return Err(invalid("defects", format!("at most {MAX_DEFECTS} zones")));
    }
    for (i, zone) in request.defects.iter().enumerate() {
        let outline: Vec<nest::Point> = zone.iter().map(|&[x, y]| nest::Point { x, y }).collect();
        if zone.len() > MAX_DEFECT_POINTS {
            return Err(invalid(
                &format!("defects[{i}]"),
                format!("at most {MAX_DEFECT_POINTS} points"),
            ));
        }
        nest::DefectZone { outline }
            .validate()
            .map_err(|reason| invalid(&format!("defects[{i}]"), reason))?;
    }
    let viewer = Viewer::Factory(factory.clone());
    let orders = match &request.order_ids {
        Some(ids) => {
            if ids.is_empty() || ids.len() > MAX_ORDERS {
                return Err(invalid(
                    "order_ids",
                    format!("give 1 to {MAX_ORDERS} order ids, or none for every waiting order"),
                ));
            }
            let mut orders: Vec<Order> = Vec::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                let field = format!("order_ids[{i}]");
                if orders.iter().any(|o| &o.id == id) {
                    return Err(invalid(&field, format!("order {id} is listed twice")));
                }
                let order = match get(store, &viewer, id).await {
                    Err(Error::NotFound) => {
                        return Err(invalid(
                            &field,
                            format!("no order {id} is routed to this factory"),
                        ))
                    }
                    other => other?,
                };
                if order.fabric != fabric.id {
                    return Err(invalid(
                        &field,
                        format!("order {id} is cut from {}, not {}", order.fabric, fabric.id),
                    ));
                }
                if !matches!(order.state, OrderState::Received | OrderState::Patterned) {
                    return Err(Error::IllegalTransition {
                        from: order.state,
                        to: OrderState::Planned,
                    });
                }
                orders.push(order);
            }
            orders
        }
        None => {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM orders WHERE factory_tenant_id = $1 AND fabric = $2 \
                 AND state IN ('received', 'patterned') ORDER BY due_date, created_at, id LIMIT $3"
            ))
            .bind(&factory.0)
            .bind(&fabric.id)
            .bind(MAX_ORDERS as i64)
            .fetch_all(store.pool())
            .await?;
            rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?
        }
    };
    if orders.is_empty() {
        return Err(invalid(
            "fabric",
            format!(
                "no received or patterned order on fabric {} is waiting for this factory",
                fabric.id
            ),
        ));
    }
    Ok(Batch {
        fabric,
        orders,
        time_limit_secs,
        defects: request.defects.clone(),
        workers: 1,
    })
}

/// Step 2 of planning (CPU only, for `time_limit_secs`): drafts every order, nests all their
/// pieces on the fabric's roll and returns the best marker found. Orders that no longer draft
/// are left out and listed; a piece wider than the roll stops the plan, naming it. `progress`
/// hears of the search as [`nest::nest`] reports it, and `stop` ends it early with the best
/// marker so far.
pub fn lay_out(
    batch: &Batch,
    stop: &nest::Stop,
    progress: impl FnMut(nest::Progress),
) -> Result<Planned, Error> {
    let mut pieces: Vec<CutPiece> = Vec::new();
    let mut orders = Vec::new();
    let mut skipped = Vec::new();
    for order in &batch.orders {
        let drafted = cutting::draft(&order.garment, &order.measurements, &order.options)
            .and_then(|p| cutting::cut_pieces(&order.id, order.quantity, &p));
        match drafted {
            Ok(mut p) => {
                pieces.append(&mut p);
                orders.push((order.id.clone(), order.state));
            }
            Err(e) => skipped.push(Skipped {
                order_id: order.id.clone(),
                reason: e.to_string(),
            }),
        }
    }
    if pieces.is_empty() {
        let reasons: Vec<String> = skipped
            .iter()
            .map(|s| format!("{}: {}", s.order_id, s.reason))
            .collect();
        return Err(invalid(
            "order_ids",
            format!("no order can be drafted ({})", reasons.join("; ")),
        ));
    }
    cutting::check_fits("fabric", &batch.fabric, &pieces)?;
    let mut problem = cutting::problem("marker", &batch.fabric, &pieces)?;
    problem.defects = batch
        .defects
        .iter()
        .map(|zone| nest::DefectZone {
            outline: zone.iter().map(|&[x, y]| nest::Point { x, y }).collect(),
        })
        .collect();
    let options = nest::Options {
        time_limit: batch.time_limit_secs,
        seed: SEED,
        workers: batch.workers,
    };
    let layout = nest::nest_with_stop(&problem, &options, stop, progress).map_err(|e| match e {
        nest::Error::InvalidTimeLimit(_) => invalid("time_limit_secs", e.to_string()),
        other => Error::Internal(format!("nesting: {other}")),
    })?;
    let mut copies: HashMap<String, Vec<&CutPiece>> = HashMap::new();
    for p in &pieces {
        copies.entry(cutting::nest_id(p)).or_default().push(p);
    }
    let placements = layout
        .placements
        .iter()
        .map(|pl| {
            let cut = copies
                .get(&pl.piece)
                .and_then(|c| c.get(pl.copy))
                .ok_or_else(|| {
                    Error::Internal(format!("nesting placed an unknown piece {}", pl.piece))
                })?;
            Ok(MarkerPlacement {
                order_id: cut.order_id.clone(),
                garment: cut.garment.clone(),
                size: cut.size.clone(),
                piece: cut.piece.clone(),
                copy: cut.copy,
                mirrored: cut.mirrored,
                rotation: pl.rotation,
                x: pl.x,
                y: pl.y,
                area_mm2: cutting::cut_area(cut)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if placements.len() != pieces.len() {
        return Err(Error::Internal(format!(
            "nesting placed {} of {} pieces",
            placements.len(),
            pieces.len()
        )));
    }
    Ok(Planned {
        fabric: batch.fabric.clone(),
        orders,
        skipped,
        length_mm: layout.length,
        density: layout.density,
        placements,
        time_limit_secs: batch.time_limit_secs,
        defects: batch.defects.clone(),
    })
}

/// Step 3 of planning: stores the marker and moves each of its orders to `planned` (drafting
/// `received` ones to `patterned` first), all in one transaction. If any order changed since
/// [`gather`] read it (cancelled, or planned by a concurrent request), nothing is written and
/// the answer is a conflict: plan again.
pub async fn record(
    store: &Store,
    factory: &TenantId,
    actor: &str,
    planned: &Planned,
) -> Result<Marker, Error> {
    store_marker(store, factory, actor, planned, None).await
}

/// [`record`], also marking background plan `plan` done in the same transaction, so that a
/// stored marker and its plan's outcome are never seen one without the other.
pub(super) async fn store_marker(
    store: &Store,
    factory: &TenantId,
    actor: &str,
    planned: &Planned,
    plan: Option<&str>,
) -> Result<Marker, Error> {
    let id = new_id();
    let layout = StoredLayout {
        fabric: planned.fabric.clone(),
        order_ids: planned.orders.iter().map(|(o, _)| o.clone()).collect(),
        time_limit_secs: planned.time_limit_secs,
        defects: planned.defects.clone(),
        placements: planned.placements.clone(),
    };
    let layout = serde_json::to_string(&layout)
        .map_err(|e| Error::Internal(format!("marker layout: {e}")))?;
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO markers (id, factory_tenant_id, fabric, state, roll_width_mm, length_mm, density, layout, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(&factory.0)
    .bind(&planned.fabric.id)
    .bind(MarkerState::Ready.as_str())
    .bind(planned.fabric.roll_width_mm)
    .bind(planned.length_mm)
    .bind(planned.density)
    .bind(&layout)
    .bind(actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    for (order_id, read_in) in &planned.orders {
        let mut from = *read_in;
        let mut moved = true;
        if from == OrderState::Received {
            moved = advance(&mut tx, order_id, from, OrderState::Patterned, "service").await?;
            from = OrderState::Patterned;
        }
        moved = moved && advance(&mut tx, order_id, from, OrderState::Planned, "service").await?;
        let linked = moved
            && sqlx::query("INSERT INTO marker_orders (marker_id, order_id) VALUES ($1, $2)")
                .bind(&id)
                .bind(order_id)
                .execute(&mut *tx)
                .await
                .is_ok();
        if !linked {
            drop(tx);
            return Err(changed(store, factory, order_id).await);
        }
    }
    if let Some(plan) = plan {
        super::plans::done(&mut tx, plan, &id, planned).await?;
    }
    tx.commit().await?;
    marker(store, factory, &id).await
}

/// The conflict reported when an order moved while a marker was planned.
async fn changed(store: &Store, factory: &TenantId, order_id: &str) -> Error {
    let now = get(store, &Viewer::Factory(factory.clone()), order_id)
        .await
        .map(|o| o.state.to_string())
        .unwrap_or_else(|_| "unknown".into());
    Error::Conflict(format!(
        "order {order_id} changed (now {now}) while the marker was planned; nothing was stored, plan again"
    ))
}

const MARKER_COLUMNS: &str =
    "id, fabric, state, length_mm, density, layout, claimed_by, claimed_at, created_by, created_at";

/// One of `factory`'s markers.
pub async fn marker(store: &Store, factory: &TenantId, id: &str) -> Result<Marker, Error> {
    let row = sqlx::query(&format!(
        "SELECT {MARKER_COLUMNS} FROM markers WHERE id = $1 AND factory_tenant_id = $2"
    ))
    .bind(id)
    .bind(&factory.0)
    .fetch_optional(store.pool())
    .await?
    .ok_or(Error::MarkerNotFound)?;
    decode_marker(&row)
}

/// `factory`'s markers, optionally in one state, oldest first (the cutting room's queue), at
/// most `limit`.
pub async fn markers(
    store: &Store,
    factory: &TenantId,
    state: Option<MarkerState>,
    limit: i64,
) -> Result<Vec<Marker>, Error> {
    let state_filter = if state.is_some() {
        "AND state = $3"
    } else {
        "AND $3 = $3"
    };
    let rows = sqlx::query(&format!(
        "SELECT {MARKER_COLUMNS} FROM markers WHERE factory_tenant_id = $1 {state_filter} ORDER BY created_at, id LIMIT $2"
    ))
    .bind(&factory.0)
    .bind(limit)
    .bind(state.map(MarkerState::as_str).unwrap_or(""))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(decode_marker).collect()
}

/// Claims a ready marker for `worker` (an API key id) and moves its planned orders to
/// `cutting`, in one transaction. The claim is one conditional update, so of two workers or
/// two service instances claiming at once exactly one succeeds; the other gets a conflict.
/// Orders cancelled after planning stay cancelled and are left out of the cut file.
pub async fn claim(
    store: &Store,
    factory: &TenantId,
    id: &str,
    worker: &str,
    actor: &str,
) -> Result<Marker, Error> {
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(
        "UPDATE markers SET state = $1, claimed_by = $2, claimed_at = $3 \
         WHERE id = $4 AND factory_tenant_id = $5 AND claimed_by IS NULL",
    )
    .bind(MarkerState::Claimed.as_str())
    .bind(worker)
    .bind(now_ms())
    .bind(id)
    .bind(&factory.0)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        drop(tx);
        let current = marker(store, factory, id).await?;
        return Err(Error::Conflict(format!(
            "marker {id} was already claimed by {} at {} (Unix ms)",
            current.claimed_by.unwrap_or_default(),
            current.claimed_at.unwrap_or_default()
        )));
    }
    let rows = sqlx::query("SELECT order_id FROM marker_orders WHERE marker_id = $1")
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    for row in &rows {
        let order_id: String = column(row, "order_id")?;
        // False for an order cancelled since planning: it is not cut.
        advance(
            &mut tx,
            &order_id,
            OrderState::Planned,
            OrderState::Cutting,
            actor,
        )
        .await?;
    }
    tx.commit().await?;
    marker(store, factory, id).await
}

/// A marker with its orders, read for writing a cut file.
#[derive(Debug, Clone)]
pub struct CutJob {
    /// The marker.
    pub marker: Marker,
    /// Its orders, as they are now.
    pub orders: Vec<Order>,
}

/// Reads what [`cut_file`] needs.
pub async fn cut_job(store: &Store, factory: &TenantId, id: &str) -> Result<CutJob, Error> {
    let marker = marker(store, factory, id).await?;
    let viewer = Viewer::Factory(factory.clone());
    let mut orders = Vec::with_capacity(marker.order_ids.len());
    for order_id in &marker.order_ids {
        orders.push(get(store, &viewer, order_id).await?);
    }
    Ok(CutJob { marker, orders })
}

/// Writes the marker's cut file (CPU only): every piece of its orders redrafted and placed where
/// it was nested, labelled with order and size. Cancelled orders' pieces are left out. A piece
/// that no longer drafts to the outline it was nested with is an error, never a silent overlap.
pub fn cut_file(job: &CutJob, format: Format) -> Result<Export, Error> {
    let live: Vec<&Order> = job
        .orders
        .iter()
        .filter(|o| o.state != OrderState::Cancelled)
        .collect();
    let mut drafted: BTreeMap<(&str, &str, usize), &CutPiece> = BTreeMap::new();
    let mut pieces = Vec::new();
    for order in &live {
        let pattern = cutting::draft(&order.garment, &order.measurements, &order.options)
            .map_err(|e| redraft_failed(&job.marker.id, &order.id, &e.to_string()))?;
        pieces.extend(
            cutting::cut_pieces(&order.id, order.quantity, &pattern)
                .map_err(|e| redraft_failed(&job.marker.id, &order.id, &e.to_string()))?,
        );
    }
    for p in &pieces {
        drafted.insert((&p.order_id, &p.piece, p.copy), p);
    }
    let mut placed = Vec::new();
    for pl in &job.marker.placements {
        if !live.iter().any(|o| o.id == pl.order_id) {
            continue;
        }
        let cut = drafted
            .get(&(pl.order_id.as_str(), pl.piece.as_str(), pl.copy))
            .filter(|c| c.mirrored == pl.mirrored)
            .ok_or_else(|| {
                redraft_failed(
                    &job.marker.id,
                    &pl.order_id,
                    &format!("piece {} copy {} is gone", pl.piece, pl.copy),
                )
            })?;
        let area = cutting::cut_area(cut)?;
        if (area - pl.area_mm2).abs() > AREA_TOLERANCE * pl.area_mm2 {
            return Err(redraft_failed(
                &job.marker.id,
                &pl.order_id,
                &format!(
                    "piece {} drafts to {area:.0} mm² now, {:.0} mm² when nested",
                    pl.piece, pl.area_mm2
                ),
            ));
        }
        let at =
            Affine::translate(Vec2::new(pl.x, pl.y)) * Affine::rotate(pl.rotation.to_radians());
        placed.push(MarkerPiece {
            piece: cut.shape.transformed(at),
            garment: cut.garment.clone(),
            size: cut.size.clone(),
            order: cut.order_id.clone(),
            copy: cut.copy,
        });
    }
    if placed.is_empty() {
        return Err(Error::Conflict(format!(
            "every order of marker {} was cancelled: nothing to cut",
            job.marker.id
        )));
    }
    let name = format!("Marker {} {}", job.marker.id, job.marker.fabric.id);
    pattern::export_marker(
        &name,
        &placed,
        job.marker.fabric.roll_width_mm,
        job.marker.length_mm,
        &job.marker.defects,
        format,
    )
    .map_err(|e| match e {
        pattern::Error::InvalidOption { option, reason } => invalid(&option, reason),
        other => Error::Internal(format!("marker {}: {other}", job.marker.id)),
    })
}

fn redraft_failed(marker: &str, order: &str, why: &str) -> Error {
    Error::Internal(format!(
        "marker {marker}: order {order} no longer drafts as it was nested ({why})"
    ))
}

fn decode_marker(row: &AnyRow) -> Result<Marker, Error> {
    let corrupt = |e: String| Error::Store(crate::store::Error::Corrupt(e));
    let layout: String = column(row, "layout")?;
    let layout: StoredLayout = serde_json::from_str(&layout).map_err(|e| corrupt(e.to_string()))?;
    let state: String = column(row, "state")?;
    Ok(Marker {
        id: column(row, "id")?,
        fabric: layout.fabric,
        state: state.parse().map_err(corrupt)?,
        length_mm: column(row, "length_mm")?,
        density: column(row, "density")?,
        order_ids: layout.order_ids,
        placements: layout.placements,
        claimed_by: column(row, "claimed_by")?,
        claimed_at: column(row, "claimed_at")?,
        created_by: column(row, "created_by")?,
        time_limit_secs: layout.time_limit_secs,
        defects: layout.defects,
        created_at: column(row, "created_at")?,
    })
}
