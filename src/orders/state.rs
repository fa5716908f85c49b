//! The order life cycle: received -> patterned -> planned -> cutting -> sewn -> shipped, or cancelled.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where an order is in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderState {
    /// Accepted from the shop; nothing drafted yet.
    Received,
    /// Its pattern pieces are drafted.
    Patterned,
    /// Its pieces are placed in a cutting marker.
    Planned,
    /// The factory is cutting it.
    Cutting,
    /// Sewn.
    Sewn,
    /// Shipped to the shop: final.
    Shipped,
    /// Cancelled before cutting: final.
    Cancelled,
}

/// Who moves orders, which decides the transitions allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mover {
    /// The shop that placed the order.
    Shop,
    /// The factory the order is routed to.
    Factory,
    /// The service itself (drafting, marker planning).
    Service,
    /// The operator.
    Admin,
}

impl OrderState {
    /// Every state, in life-cycle order.
    pub const ALL: [OrderState; 7] = [
        Self::Received,
        Self::Patterned,
        Self::Planned,
        Self::Cutting,
        Self::Sewn,
        Self::Shipped,
        Self::Cancelled,
    ];

    /// Lowercase name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Patterned => "patterned",
            Self::Planned => "planned",
            Self::Cutting => "cutting",
            Self::Sewn => "sewn",
            Self::Shipped => "shipped",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether `self -> next` is a legal transition for `who`.
    ///
    /// Production only moves forward one step at a time. Cancelling is possible until the fabric
    /// is cut; after that the garment exists and must be finished or written off outside the system.
    pub fn may_move(self, next: OrderState, who: Mover) -> bool {
        use OrderState::*;
        let step = matches!(
            (self, next),
            (Received, Patterned)
                | (Patterned, Planned)
                | (Planned, Cutting)
                | (Cutting, Sewn)
                | (Sewn, Shipped)
        );
        let cancel = next == Cancelled && matches!(self, Received | Patterned | Planned);
        match who {
            Mover::Admin => step || cancel,
            Mover::Service => matches!((self, next), (Received, Patterned) | (Patterned, Planned)),
            Mover::Factory => matches!(
                (self, next),
                (Planned, Cutting) | (Cutting, Sewn) | (Sewn, Shipped)
            ),
            Mover::Shop => cancel,
        }
    }

    /// Whether no transition leaves this state.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Shipped | Self::Cancelled)
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown order state {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::OrderState::*;
    use super::*;

    #[test]
    fn only_forward_steps_and_early_cancels_are_legal() {
        let legal: Vec<(OrderState, OrderState)> = OrderState::ALL
            .iter()
            .flat_map(|&a| OrderState::ALL.iter().map(move |&b| (a, b)))
            .filter(|&(a, b)| a.may_move(b, Mover::Admin))
            .collect();
        assert_eq!(
            legal,
            [
                (Received, Patterned),
                (Received, Cancelled),
                (Patterned, Planned),
                (Patterned, Cancelled),
                (Planned, Cutting),
                (Planned, Cancelled),
                (Cutting, Sewn),
                (Sewn, Shipped)
            ]
        );
        assert!(OrderState::ALL
            .iter()
            .filter(|s| s.is_final())
            .all(|&s| OrderState::ALL
                .iter()
                .all(|&n| !s.may_move(n, Mover::Admin))));
    }

    #[test]
    fn each_party_moves_only_its_own_steps() {
        assert!(Planned.may_move(Cutting, Mover::Factory));
        assert!(!Received.may_move(Cancelled, Mover::Factory));
        assert!(Received.may_move(Cancelled, Mover::Shop));
        assert!(!Cutting.may_move(Cancelled, Mover::Shop));
        assert!(!Planned.may_move(Cutting, Mover::Shop));
        assert!(Received.may_move(Patterned, Mover::Service));
        assert!(!Planned.may_move(Cutting, Mover::Service));
        for s in OrderState::ALL {
            assert_eq!(s.as_str().parse::<OrderState>().unwrap(), s);
        }
    }
}
