//! One validated [`Config`], read from environment variables at start-up.
//!
//! Every variable has a default that makes `atelier serve` work on a fresh clone; a bad value stops
//! start-up with an error naming the variable, rather than surfacing later as a confusing failure.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::orders::fabric::Catalog;
use crate::runtime::batcher::BatchConfig;

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{var}={value:?}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What it was set to.
    pub value: String,
    /// Why it was rejected.
    pub reason: String,
}

/// Service configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server listens on (`ATELIER_ADDR`, default `127.0.0.1:8080`).
    pub addr: SocketAddr,
    /// Database URL (`DATABASE_URL`): `sqlite://...` or `postgres://...`; default an SQLite file under `./data/`.
    pub database_url: String,
    /// Folder holding the vision models (`ATELIER_MODELS_DIR`, default `./models`).
    pub models_dir: PathBuf,
    /// Largest accepted request body in bytes (`ATELIER_MAX_BODY_BYTES`, default 25 MiB).
    pub max_body_bytes: usize,
    /// Time a request may take before it is answered 503 (`ATELIER_REQUEST_TIMEOUT_SECS`, default 30).
    pub request_timeout: Duration,
    /// Largest decoded image in pixels (`ATELIER_MAX_IMAGE_PIXELS`, default 40 million).
    pub max_image_pixels: u64,
    /// Requests per minute allowed for one API key; 0 turns the limit off (`ATELIER_RATE_LIMIT_PER_MINUTE`, default 600).
    pub rate_limit_per_minute: u32,
    /// Log format (`ATELIER_LOG_FORMAT`: `text` or `json`, default `text`).
    pub log_format: LogFormat,
    /// How the server batches concurrent model runs (`ATELIER_MAX_BATCH`, default 1 = off, since
    /// on the CPU backend a batch costs as much per image as single runs (README, load test);
    /// `ATELIER_MAX_WAIT_MS`, default 4) and how many requests may wait for inference before
    /// more are refused with 503 (`ATELIER_QUEUE_CAPACITY`, default 64).
    pub batching: BatchConfig,
    /// Deliver webhooks to loopback and private addresses too (`ATELIER_WEBHOOK_ALLOW_PRIVATE`:
    /// `true` or `false`, default `false`).
    pub webhook_allow_private: bool,
    /// The fabrics orders may name (`ATELIER_FABRICS`: a CSV file; default the bundled
    /// `seeds/fabric/fabrics.csv`).
    pub fabrics: Arc<Catalog>,
    /// Search threads a marker plan runs (`ATELIER_NEST_WORKERS`, default 1, so that the
    /// service's other requests keep the remaining cores).
    pub nest_workers: usize,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Default SQLite database used when `DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/atelier.db?mode=rwc";

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &'static str| lookup(var).filter(|v| !v.trim().is_empty());
        let addr = parse(
            var_or(&get, "ATELIER_ADDR", "127.0.0.1:8080"),
            "a socket address like 0.0.0.0:8080",
        )?;
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                var: "DATABASE_URL",
                value: database_url,
                reason: "must start with sqlite:, postgres:// or postgresql://".into(),
            });
        }
        let models_dir =
            PathBuf::from(get("ATELIER_MODELS_DIR").unwrap_or_else(|| "models".into()));
        let max_body_bytes: usize = parse(
            var_or(&get, "ATELIER_MAX_BODY_BYTES", "26214400"),
            "a byte count",
        )?;
        at_least(&("ATELIER_MAX_BODY_BYTES", max_body_bytes), 1024)?;
        let timeout_secs: u64 = parse(
            var_or(&get, "ATELIER_REQUEST_TIMEOUT_SECS", "30"),
            "whole seconds",
        )?;
        at_least(&("ATELIER_REQUEST_TIMEOUT_SECS", timeout_secs as usize), 1)?;
        let max_image_pixels: u64 = parse(
            var_or(&get, "ATELIER_MAX_IMAGE_PIXELS", "40000000"),
            "a pixel count",
        )?;
        at_least(
            &("ATELIER_MAX_IMAGE_PIXELS", max_image_pixels as usize),
            4096,
        )?;
        let rate_limit_per_minute = parse(
            var_or(&get, "ATELIER_RATE_LIMIT_PER_MINUTE", "600"),
            "requests per minute",
        )?;
        let log_format = match var_or(&get, "ATELIER_LOG_FORMAT", "text") {
            (_, v) if v == "text" => LogFormat::Text,
            (_, v) if v == "json" => LogFormat::Json,
            (var, value) => {
                return Err(ConfigError {
                    var,
                    value,
                    reason: "must be text or json".into(),
                })
            }
        };
        let max_batch: usize = parse(var_or(&get, "ATELIER_MAX_BATCH", "1"), "a batch size")?;
        at_least(&("ATELIER_MAX_BATCH", max_batch), 1)?;
        let max_wait_ms: u64 = parse(
            var_or(&get, "ATELIER_MAX_WAIT_MS", "4"),
            "whole milliseconds",
        )?;
        let queue_capacity: usize = parse(
            var_or(&get, "ATELIER_QUEUE_CAPACITY", "64"),
            "a request count",
        )?;
        at_least(&("ATELIER_QUEUE_CAPACITY", queue_capacity), 1)?;
        let nest_workers: usize =
            parse(var_or(&get, "ATELIER_NEST_WORKERS", "1"), "a thread count")?;
        at_least(&("ATELIER_NEST_WORKERS", nest_workers), 1)?;
        let fabrics = match get("ATELIER_FABRICS") {
            Some(path) => Catalog::from_file(std::path::Path::new(&path)),
            None => Catalog::bundled(),
        }
        .map_err(|e| ConfigError {
            var: "ATELIER_FABRICS",
            value: get("ATELIER_FABRICS").unwrap_or_default(),
            reason: e.to_string(),
        })?;
        let webhook_allow_private = match var_or(&get, "ATELIER_WEBHOOK_ALLOW_PRIVATE", "false") {
            (_, v) if v == "false" => false,
            (_, v) if v == "true" => true,
            (var, value) => {
                return Err(ConfigError {
                    var,
                    value,
                    reason: "must be true or false".into(),
                })
            }
        };
        Ok(Self {
            addr,
            database_url,
            models_dir,
            max_body_bytes,
            request_timeout: Duration::from_secs(timeout_secs),
            max_image_pixels,
            rate_limit_per_minute,
            log_format,
            batching: BatchConfig {
                max_batch,
                max_wait: Duration::from_millis(max_wait_ms),
                queue_capacity,
            },
            webhook_allow_private,
            fabrics: Arc::new(fabrics),
            nest_workers,
        })
    }
}

fn var_or(
    get: &impl Fn(&'static str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> (&'static str, String) {
    (var, get(var).unwrap_or_else(|| default.to_owned()))
}

fn parse<T: std::str::FromStr>(
    (var, value): (&'static str, String),
    expected: &str,
) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError {
        var,
        value,
        reason: format!("expected {expected}"),
    })
}

fn at_least(&(var, value): &(&'static str, usize), min: usize) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError {
            var,
            value: value.to_string(),
            reason: format!("must be at least {min}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_work_on_a_fresh_clone() {
        let c = config(&[]).unwrap();
        assert_eq!(c.addr.port(), 8080);
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.models_dir, PathBuf::from("models"));
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("ATELIER_ADDR", "localhost"),
            ("DATABASE_URL", "mysql://x"),
            ("ATELIER_MAX_BODY_BYTES", "-3"),
            ("ATELIER_MAX_BODY_BYTES", "10"),
            ("ATELIER_REQUEST_TIMEOUT_SECS", "0"),
            ("ATELIER_LOG_FORMAT", "xml"),
            ("ATELIER_MAX_BATCH", "0"),
            ("ATELIER_MAX_WAIT_MS", "soon"),
            ("ATELIER_QUEUE_CAPACITY", "0"),
            ("ATELIER_NEST_WORKERS", "0"),
            ("ATELIER_NEST_WORKERS", "all"),
            ("ATELIER_FABRICS", "/nonexistent/fabrics.csv"),
            ("ATELIER_WEBHOOK_ALLOW_PRIVATE", "yes"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().starts_with(var), "{err}");
        }
    }
}
