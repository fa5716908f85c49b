//! Webhooks: a shop registers an endpoint and a secret; every state change of its orders is
//! written to an outbox in the same transaction as the change (so no change goes untold and no
//! rolled-back change is told), and a background task delivers it as a signed POST, retried
//! with exponential backoff.
//!
//! Each delivery carries `Atelier-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with
//! the secret>` and `Atelier-Event: <event id>`. Delivery is at least once and not ordered
//! across retries: receivers dedupe on the event `id` and order by `seq`. Several service
//! instances may deliver from one database: each attempt is taken by a conditional update, so
//! one instance makes it.

use std::time::Duration;

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::store::{get as column, new_id, now_ms, Store, TenantId};

/// Webhook errors.
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
    /// No such webhook for this tenant.
    #[error("webhook not found")]
    NotFound,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// An endpoint a shop registers.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to POST events: an `https://` (or `http://`) URL.
    pub url: String,
    /// Shared secret (16-200 characters) the signature is keyed with; never shown again.
    pub secret: String,
}

/// A registered endpoint (its secret is not shown).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    /// Webhook id.
    pub id: String,
    /// Where events go.
    pub url: String,
    /// Registration time, Unix milliseconds.
    pub created_at: i64,
}

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Wait before the first retry; doubled after each failure.
    pub first_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
    /// Attempts after which an event is given up (kept, with its last error).
    pub max_attempts: i64,
    /// Time one attempt may take (connect and answer).
    pub timeout: Duration,
    /// Most events taken per round.
    pub batch: i64,
}

impl Default for Delivery {
    /// Retries for about a day (5 s doubling to an hour, 30 attempts), 10 s per attempt.
    fn default() -> Self {
        Self {
            first_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
            max_attempts: 30,
            timeout: Duration::from_secs(10),
            batch: 32,
        }
    }
}

/// What one delivery round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Events the endpoint accepted (2xx).
    pub delivered: usize,
    /// Attempts that failed and will be retried (or were the last).
    pub failed: usize,
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The `Atelier-Signature` value of `body` under `secret`: `sha256=` and the hex HMAC-SHA256.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a webhook URL: `https://host[:port]/path` or `http://...`.
fn endpoint(url: &str) -> Result<Url, Error> {
    if url.len() > 2000 {
        return Err(invalid("url", "must be at most 2000 characters"));
    }
    let parsed = Url::parse(url).map_err(|e| invalid("url", format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(invalid("url", "must be an https:// or http:// URL"));
    }
    // WHATWG parsing reads `http:///x` as host `x`; a URL written without a host is refused.
    let written_host = url.split_once("://").map(|(_, rest)| rest);
    if parsed.host_str().is_none_or(str::is_empty)
        || written_host.is_none_or(|r| r.starts_with('/'))
    {
        return Err(invalid("url", "has no host"));
    }
    Ok(parsed)
}

/// Registers an endpoint for `tenant`'s order events.
pub async fn register(
    store: &Store,
    tenant: &TenantId,
    new: &NewWebhook,
) -> Result<Webhook, Error> {
    endpoint(&new.url)?;
    if !(16..=200).contains(&new.secret.len()) {
        return Err(invalid("secret", "must be 16-200 characters"));
    }
    let hook = Webhook {
        id: new_id(),
        url: new.url.clone(),
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO webhooks (id, tenant_id, url, secret, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&hook.id)
    .bind(&tenant.0)
    .bind(&hook.url)
    .bind(&new.secret)
    .bind(hook.created_at)
    .execute(store.pool())
    .await?;
    Ok(hook)
}

/// `tenant`'s endpoints, oldest first.
pub async fn list(store: &Store, tenant: &TenantId) -> Result<Vec<Webhook>, Error> {
    let rows = sqlx::query(
        "SELECT id, url, created_at FROM webhooks WHERE tenant_id = $1 ORDER BY created_at, id",
    )
    .bind(&tenant.0)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Webhook {
                id: column(r, "id")?,
                url: column(r, "url")?,
                created_at: column(r, "created_at")?,
            })
        })
        .collect()
}

/// Removes one of `tenant`'s endpoints with the events still waiting for it.
pub async fn remove(store: &Store, tenant: &TenantId, id: &str) -> Result<(), Error> {
    let mut tx = store.pool().begin().await?;
    let owned = sqlx::query("SELECT id FROM webhooks WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(&tenant.0)
        .fetch_optional(&mut *tx)
        .await?;
    if owned.is_none() {
        return Err(Error::NotFound);
    }
    sqlx::query("DELETE FROM outbox WHERE webhook_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Queues `body` (an event about order `order_id`, with id `event_id`) for every endpoint of
/// the order's shop, inside the transaction that makes the change.
pub(crate) async fn enqueue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    order_id: &str,
    event_id: &str,
    body: &str,
    at: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO outbox (id, webhook_id, body, attempts, next_attempt_at, created_at) \
         SELECT $1 || '/' || w.id, w.id, $2, 0, $3, $3 \
         FROM webhooks w JOIN orders o ON o.tenant_id = w.tenant_id WHERE o.id = $4",
    )
    .bind(event_id)
    .bind(body)
    .bind(at)
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

struct Due {
    id: String,
    body: String,
    attempts: i64,
    next_attempt_at: i64,
    url: String,
    secret: String,
}

/// One delivery round: takes the events that are due (each by a conditional update, so that
/// another instance does not take it too), posts them concurrently and records the outcome.
pub async fn deliver_due(store: &Store, settings: &Delivery) -> Result<Round, Error> {
    let now = now_ms();
    let rows = sqlx::query(
        "SELECT o.id, o.body, o.attempts, o.next_attempt_at, w.url, w.secret \
         FROM outbox o JOIN webhooks w ON w.id = o.webhook_id \
         WHERE o.delivered_at IS NULL AND o.attempts < $1 AND o.next_attempt_at <= $2 \
         ORDER BY o.created_at, o.id LIMIT $3",
    )
    .bind(settings.max_attempts)
    .bind(now)
    .bind(settings.batch)
    .fetch_all(store.pool())
    .await?;
    let lease = now + settings.timeout.as_millis() as i64 + 5_000;
    let mut taken = Vec::new();
    for r in &rows {
        let due = Due {
            id: column(r, "id")?,
            body: column(r, "body")?,
            attempts: column(r, "attempts")?,
            next_attempt_at: column(r, "next_attempt_at")?,
            url: column(r, "url")?,
            secret: column(r, "secret")?,
        };
        // Holding the event until the lease ends keeps other instances off it while it is sent.
        let took = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3 AND delivered_at IS NULL",
        )
        .bind(lease)
        .bind(&due.id)
        .bind(due.next_attempt_at)
        .execute(store.pool())
        .await?;
        if took.rows_affected() == 1 {
            taken.push(due);
        }
    }
    let sends = taken.into_iter().map(|due| {
        let timeout = settings.timeout;
        tokio::spawn(async move {
            let outcome = post(&due, timeout).await;
            (due, outcome)
        })
    });
    let mut round = Round::default();
    for send in sends.collect::<Vec<_>>() {
        let Ok((due, outcome)) = send.await else {
            continue;
        };
        let attempts = due.attempts + 1;
        match outcome {
            Ok(()) => {
                round.delivered += 1;
                sqlx::query("UPDATE outbox SET delivered_at = $1, attempts = $2, last_error = NULL WHERE id = $3")
                    .bind(now_ms())
                    .bind(attempts)
                    .bind(&due.id)
                    .execute(store.pool())
                    .await?;
            }
            Err(why) => {
                round.failed += 1;
                let wait = settings
                    .first_backoff
                    .saturating_mul(1u32 << (attempts - 1).clamp(0, 20) as u32)
                    .min(settings.max_backoff);
                tracing::warn!(event = %due.id, attempts, error = %why, "webhook delivery failed");
                sqlx::query("UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4")
                    .bind(attempts)
                    .bind(now_ms() + wait.as_millis() as i64)
                    .bind(&why)
                    .bind(&due.id)
                    .execute(store.pool())
                    .await?;
            }
        }
    }
    Ok(round)
}

/// Delivers forever: a round, then a pause of `poll` when nothing was due.
pub async fn run(store: Store, settings: Delivery, poll: Duration) {
    loop {
        match deliver_due(&store, &settings).await {
            Ok(r) if r.delivered + r.failed > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "webhook delivery round failed"),
        }
        tokio::time::sleep(poll).await;
    }
}

/// The HTTP client deliveries share (connection reuse, TLS with the webpki roots). It follows
/// no redirects: an endpoint answers for itself, and a redirect could point a signed event
/// anywhere.
fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let built = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("atelier-webhooks")
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    Ok(CLIENT.get_or_init(|| built))
}

/// Posts one event; any answer but 2xx is a failure.
async fn post(due: &Due, timeout: Duration) -> Result<(), String> {
    let url = endpoint(&due.url).map_err(|e| e.to_string())?;
    let event = due.id.split('/').next().unwrap_or_default().to_owned();
    let response = client()?
        .post(url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("atelier-event", event)
        .header(
            "atelier-signature",
            signature(&due.secret, due.body.as_bytes()),
        )
        .body(due.body.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {timeout:?}")
            } else {
                format!("request: {e}")
            }
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    #[test]
    fn signatures_are_hmac_sha256() {
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_http_and_https_endpoints_with_a_host() {
        assert!(endpoint("http://127.0.0.1:9000/hooks/atelier?x=1").is_ok());
        assert!(endpoint("https://shop.example/hook").is_ok());
        for bad in ["ftp://x/y", "/relative", "not a url", "http:///x"] {
            assert!(
                matches!(endpoint(bad), Err(Error::Invalid { ref field, .. }) if field == "url"),
                "{bad}"
            );
        }
    }
}
