//! atelier: a self-hostable made-to-measure service.
//!
//! Data flows one way: [`api`] (HTTP) -> domain modules ([`body`], [`shade`], [`pattern`],
//! [`nest`], [`orders`], [`webhooks`]) -> [`vision`] -> [`runtime`]. The CLI in `main.rs` calls the same library
//! functions as the HTTP handlers.

pub mod api;
pub mod auth;
pub mod body;
pub mod color;
pub mod config;
pub mod models;
pub mod nest;
pub mod orders;
pub mod pattern;
pub mod runtime;
pub mod shade;
pub mod store;
pub mod vision;
pub mod webhooks;
