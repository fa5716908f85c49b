//! Manufacturing orders: what a shop asks a factory to make, its life cycle and its storage.
//!
//! An order is created once per `Idempotency-Key` (a retried request returns the first order), and
//! every state change is checked against the life cycle in [`state`] and recorded with its time and
//! actor. A shop sees its own tenant's orders; a factory sees the orders routed to it.

pub mod cutting;
pub mod fabric;
mod intake;
pub mod markers;
pub mod plans;
pub mod records;
mod state;
mod store;

pub use intake::Intake;
pub use state::{Mover, OrderState};
pub use store::{cancel, create, events, get, list, move_state, Created, Viewer};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::body::values;
use crate::pattern;

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
    /// The measurement record does not exist for this tenant.
    #[error("measurement record not found")]
    RecordNotFound,
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
    /// No marker plan with this id belongs to the factory.
    #[error("marker plan not found")]
    PlanNotFound,
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

/// An order as a shop submits it, with either `measurements` or a `measurement_record_id`. The
/// fabric must be in the catalog and the factory must hold a factory key.
// The schema states every check of `validate` (`the_schema_states_the_checks` holds them together).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// The shop's reference for the customer.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub customer_ref: String,
    /// Measurement name (snake_case) to value in cm; or give `measurement_record_id`.
    #[serde(default)]
    #[schema(schema_with = values::schema)]
    pub measurements: Option<BTreeMap<String, f64>>,
    /// A saved measurement record of the shop's tenant to take the measurements from.
    #[serde(default)]
    pub measurement_record_id: Option<String>,
    /// Garment to make, e.g. `shirt`.
    #[schema(schema_with = pattern::garment_schema)]
    pub garment: String,
    /// Garment options (ease, style) by name.
    #[serde(default)]
    pub options: BTreeMap<String, serde_json::Value>,
    /// Fabric code from the catalog (`GET /v1/fabrics`).
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub fabric: String,
    /// Number of garments.
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
    /// Date the shop needs the garments, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub due_date: String,
    /// Name of the factory tenant the order is routed to.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
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

/// Checks measurement names and values (cm; kg for weight), see [`values::check`].
pub fn validate_measurements(m: &BTreeMap<String, f64>) -> Result<(), Error> {
    values::check(m).map_err(|e| match e.name {
        Some(name) => invalid(&format!("measurements.{name}"), e.reason),
        None => invalid("measurements", e.reason),
    })
}

/// Checks a required text field: not blank, at most `max` characters (as JSON Schema's
/// `maxLength` counts them: code points, not bytes).
fn text(value: &str, field: &str, max: usize) -> Result<(), Error> {
    if value.trim().is_empty() || value.chars().count() > max {
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

    /// Every bound the schema states is the one `validate` checks: at the bound an order passes,
    /// one past it fails (text counted in characters, as JSON Schema counts them).
    #[test]
    fn the_schema_states_the_checks() {
        use utoipa::PartialSchema;
        let doc = serde_json::to_value(NewOrder::schema()).unwrap_or_default();
        let props = &doc["properties"];
        let with = |field: &str, value: serde_json::Value| {
            let mut v = serde_json::to_value(order()).unwrap_or_default();
            v[field] = value;
            serde_json::from_value::<NewOrder>(v)
                .map_err(|e| e.to_string())
                .and_then(|o| o.validate().map_err(|e| e.to_string()))
        };
        for field in ["customer_ref", "fabric", "factory"] {
            assert_eq!(props[field]["minLength"], 1, "{field}");
            assert_eq!(props[field]["pattern"], r"\S", "{field}");
            let max = props[field]["maxLength"].as_u64().unwrap_or_default() as usize;
            assert!(max > 0, "{field} has no maxLength");
            assert_eq!(with(field, "码".repeat(max).into()), Ok(()), "{field}");
            assert!(with(field, "码".repeat(max + 1).into()).is_err(), "{field}");
            assert!(with(field, " \t".into()).is_err(), "{field}");
        }
        let bound = |key: &str| props["quantity"][key].as_f64().unwrap_or(f64::NAN) as i64;
        let (lo, hi) = (bound("minimum"), bound("maximum"));
        assert_eq!(with("quantity", lo.into()), Ok(()));
        assert_eq!(with("quantity", hi.into()), Ok(()));
        assert!(with("quantity", (lo - 1).into()).is_err());
        assert!(with("quantity", (hi + 1).into()).is_err());
        assert_eq!(props["due_date"]["format"], "date");
        assert_eq!(
            props["measurements"],
            serde_json::to_value(values::schema()).unwrap_or_default()
        );
        let garments: Vec<&str> = pattern::garments().iter().map(|g| g.name).collect();
        assert_eq!(props["garment"]["enum"], serde_json::json!(garments));
        let required = doc["required"].as_array().cloned().unwrap_or_default();
        for field in [
            "customer_ref",
            "garment",
            "fabric",
            "quantity",
            "due_date",
            "factory",
        ] {
            assert!(required.contains(&field.into()), "{field} not required");
        }
        for field in ["measurements", "measurement_record_id", "options"] {
            assert!(!required.contains(&field.into()), "{field} required");
        }
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
