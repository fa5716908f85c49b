//! Manufacturing orders: what a shop asks a factory to make, its life cycle and its storage.
//!
//! An order is created once per `Idempotency-Key` (a retried request returns the first order), and
//! every state change is checked against the life cycle in [`state`] and recorded with its time and
//! actor. A shop sees its own tenant's orders; a factory sees the orders routed to it.

pub mod cutting;
pub mod fabric;
mod intake;
pub mod markers;
mod state;
mod store;

pub use intake::Intake;
pub use state::{Mover, OrderState};
pub use store::{cancel, create, events, get, list, move_state, Created, Viewer};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Order errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input value is unusable; names the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// Why.
        message: String,
    },
    /// The order does not exist for this viewer.
    #[error("order not found")]
    NotFound,
    /// The transition is not allowed from the order's current state, or for this party.
    #[error("cannot move order from {from} to {to}")]
    IllegalTransition {
        /// Current state.
        from: OrderState,
        /// Requested state.
        to: OrderState,
    },
    /// The idempotency key was used before with a different request.
    #[error("Idempotency-Key was already used for a different order request")]
    KeyReused,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// No marker with this id belongs to the factory.
    #[error("marker not found")]
    MarkerNotFound,
    /// The request conflicts with what happened meanwhile (a marker already claimed, an order
    /// that moved while its marker was planned).
    #[error("{0}")]
    Conflict(String),
    /// Work off the async threads (drafting, nesting) failed to finish.
    #[error("{0}")]
    Internal(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// An order as a shop submits it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// The shop's reference for the customer.
    pub customer_ref: String,
    /// Measurement name (snake_case) to value in cm; or give `measurement_record_id`.
    #[serde(default)]
    pub measurements: Option<BTreeMap<String, f64>>,
    /// A saved measurement record of the shop's tenant to take the measurements from.
    #[serde(default)]
    pub measurement_record_id: Option<String>,
    /// Garment to make, e.g. `shirt`.
    pub garment: String,
    /// Garment options (ease, style) by name.
    #[serde(default)]
    pub options: BTreeMap<String, serde_json::Value>,
    /// Fabric code.
    pub fabric: String,
    /// Number of garments.
    pub quantity: i64,
    /// Date the shop needs the garments, `YYYY-MM-DD`.
    pub due_date: String,
    /// Name of the factory tenant the order is routed to.
    pub factory: String,
}

/// A stored order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Order {
    /// Order id.
    pub id: String,
    /// The shop's reference for the customer.
    pub customer_ref: String,
    /// Garment.
    pub garment: String,
    /// Garment options.
    pub options: BTreeMap<String, serde_json::Value>,
    /// The measurements the order is made to (a snapshot).
    pub measurements: BTreeMap<String, f64>,
    /// The record the measurements came from, if any.
    pub measurement_record_id: Option<String>,
    /// Fabric code.
    pub fabric: String,
    /// Number of garments.
    pub quantity: i64,
    /// Due date, `YYYY-MM-DD`.
    pub due_date: String,
    /// Current state.
    pub state: OrderState,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// Last change, Unix milliseconds.
    pub updated_at: i64,
}

/// One recorded state change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderEvent {
    /// Previous state (none for creation).
    pub from: Option<OrderState>,
    /// New state.
    pub to: OrderState,
    /// Who made the change: `tenant/role` or `service`.
    pub actor: String,
    /// When, Unix milliseconds.
    pub at: i64,
}

impl NewOrder {
    /// Checks every field that needs no database, naming the first one at fault.
    pub fn validate(&self) -> Result<(), Error> {
        text(&self.customer_ref, "customer_ref", 200)?;
        text(&self.garment, "garment", 64)?;
        text(&self.fabric, "fabric", 64)?;
        text(&self.factory, "factory", 100)?;
        if !(1..=10_000).contains(&self.quantity) {
            return Err(invalid("quantity", "must be between 1 and 10000"));
        }
        parse_date(&self.due_date)
            .ok_or_else(|| invalid("due_date", "must be a calendar date YYYY-MM-DD"))?;
        match (&self.measurements, &self.measurement_record_id) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "measurements",
                    "give measurements or measurement_record_id, not both",
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "measurements",
                    "give measurements or measurement_record_id",
                ))
            }
            (Some(m), None) => validate_measurements(m)?,
            (None, Some(_)) => {}
        }
        Ok(())
    }
}

/// Checks measurement names and values (cm; kg for weight).
pub fn validate_measurements(m: &BTreeMap<String, f64>) -> Result<(), Error> {
    if m.is_empty() {
        return Err(invalid("measurements", "must hold at least one value"));
    }
    for (name, &v) in m {
        let field = format!("measurements.{name}");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(invalid(&field, "names are snake_case, e.g. chest_girth"));
        }
        if !v.is_finite() || v <= 0.0 || v > 300.0 {
            return Err(invalid(
                &field,
                format!("{v} is not a plausible body measurement"),
            ));
        }
    }
    Ok(())
}

fn text(value: &str, field: &str, max: usize) -> Result<(), Error> {
    if value.trim().is_empty() || value.len() > max {
        return Err(invalid(field, format!("must be 1-{max} characters")));
    }
    Ok(())
}

/// Parses `YYYY-MM-DD` as a real calendar date.
fn parse_date(s: &str) -> Option<(i32, u32, u32)> {
    let mut it = s.split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    ((2000..=2200).contains(&y) && (1..=days).contains(&d)).then_some((y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> NewOrder {
        serde_json::from_str(
            r#"{"customer_ref":"C-1","measurements":{"chest_girth":98},"garment":"shirt","fabric":"poplin-white","quantity":1,"due_date":"2026-12-24","factory":"f1"}"#,
        )
        .unwrap()
    }

    #[test]
    fn dates_are_real_calendar_dates() {
        assert_eq!(parse_date("2028-02-29"), Some((2028, 2, 29)));
        for bad in [
            "2027-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "2026-04-31",
            "tomorrow",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        order().validate().unwrap();
        let field = |o: NewOrder| match o.validate() {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(NewOrder {
                quantity: 0,
                ..order()
            }),
            "quantity"
        );
        assert_eq!(
            field(NewOrder {
                due_date: "2026-02-30".into(),
                ..order()
            }),
            "due_date"
        );
        assert_eq!(
            field(NewOrder {
                measurements: None,
                ..order()
            }),
            "measurements"
        );
        assert_eq!(
            field(NewOrder {
                measurement_record_id: Some("r".into()),
                ..order()
            }),
            "measurements"
        );
        let mut m = order();
        m.measurements = Some(BTreeMap::from([("chest_girth".to_owned(), f64::NAN)]));
        assert_eq!(field(m), "measurements.chest_girth");
        assert_eq!(
            field(NewOrder {
                garment: " ".into(),
                ..order()
            }),
            "garment"
        );
    }
}
