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

use crate::store::{get as column, new_id, now_ms, Backend, Store, TenantId};

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
    #[schema(
        format = "uri",
        max_length = 2000,
        pattern = "^[hH][tT][tT][pP][sS]?://[^/]"
    )]
    pub url: String,
    /// Shared secret (16-200 characters) the signature is keyed with; never shown again.
    #[schema(min_length = 16, max_length = 200)]
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
    /// Deliver to loopback, private, link-local and other non-public addresses too. Off by
    /// default: a shop could otherwise make the service post into the operator's own network
    /// (cloud metadata, databases); turn it on only where shops are trusted or for local tests.
    pub allow_private: bool,
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
            allow_private: false,
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
    if url.chars().count() > 2000 {
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
    if !(16..=200).contains(&new.secret.chars().count()) {
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
    let mut tx = store.begin_write().await?;
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

/// An event about an order, to queue for every endpoint of the order's shop.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    /// The order it is about.
    pub order_id: String,
    /// The event's id (outbox rows are `<event id>/<webhook id>`).
    pub event_id: String,
    /// The JSON body to post.
    pub body: String,
    /// When it happened (ms since the epoch); first delivery is due then.
    pub at: i64,
}

/// Queues `events` for every endpoint of their orders' shops, in one statement inside the
/// transaction that makes the changes.
pub(crate) async fn enqueue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    events: &[Queued],
) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    // VALUES columns are column1, column2, ... on both SQLite and PostgreSQL.
    let values = Backend::of(tx).value_rows(events.len(), 4);
    let sql = format!(
        "INSERT INTO outbox (id, webhook_id, body, attempts, next_attempt_at, created_at) \
         SELECT v.column1 || '/' || w.id, w.id, v.column2, 0, v.column3, v.column3 \
         FROM (VALUES {values}) AS v JOIN orders o ON o.id = v.column4 \
         JOIN webhooks w ON w.tenant_id = o.tenant_id"
    );
    let mut query = sqlx::query(&sql);
    for e in events {
        query = query
            .bind(&e.event_id)
            .bind(&e.body)
            .bind(e.at)
            .bind(&e.order_id);
    }
    query.execute(&mut **tx).await?;
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
        let (timeout, allow_private) = (settings.timeout, settings.allow_private);
        tokio::spawn(async move {
            let outcome = post(&due, timeout, allow_private).await;
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
/// anywhere. Unless `allow_private`, host names resolve to public addresses only, checked at
/// connection time so that a name cannot be re-pointed between a check and the connection.
fn client(allow_private: bool) -> Result<&'static reqwest::Client, String> {
    static PUBLIC: OnceLock<reqwest::Client> = OnceLock::new();
    static ANY: OnceLock<reqwest::Client> = OnceLock::new();
    let cell = if allow_private { &ANY } else { &PUBLIC };
    if let Some(c) = cell.get() {
        return Ok(c);
    }
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("atelier-webhooks");
    if !allow_private {
        builder = builder.dns_resolver(std::sync::Arc::new(PublicOnly));
    }
    let built = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
    Ok(cell.get_or_init(|| built))
}

/// Resolves host names with the system resolver, keeping public addresses only.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<std::net::SocketAddr> =
                found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918, unique local),
/// shared (RFC 6598), link-local (which holds cloud metadata services), unspecified, multicast
/// or broadcast.
fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b);
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || shared
                || a == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || unique_local
                || link_local)
        }
    }
}

/// The address a URL names directly (`http://10.0.0.7/`, `http://[::1]/`), if it does.
fn literal_ip(url: &Url) -> Option<std::net::IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Posts one event; any answer but 2xx is a failure.
async fn post(due: &Due, timeout: Duration, allow_private: bool) -> Result<(), String> {
    let url = endpoint(&due.url).map_err(|e| e.to_string())?;
    // An address written in the URL is not resolved, so the resolver's check does not see it.
    if let Some(ip) = literal_ip(&url) {
        if !allow_private && !is_public(ip) {
            return Err(format!("{ip} is not a public address"));
        }
    }
    let event = due.id.split('/').next().unwrap_or_default().to_owned();
    let response = client(allow_private)?
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
                return format!("no answer within {timeout:?}");
            }
            // reqwest's own message is generic; the cause (refused address, TLS, DNS) is below.
            let mut message = format!("request: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                message.push_str(&format!(": {c}"));
                cause = c.source();
            }
            message
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
    fn only_public_addresses_count_as_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(
                !is_public(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"))),
                "{ip}"
            );
        }
        for ip in ["8.8.8.8", "151.101.1.1", "2606:4700::1111"] {
            assert!(
                is_public(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"))),
                "{ip}"
            );
        }
    }

    #[tokio::test]
    async fn private_destinations_are_refused_unless_allowed() {
        let due = |url: &str| Due {
            id: "e1/1".into(),
            body: "{}".into(),
            attempts: 0,
            next_attempt_at: 0,
            url: url.into(),
            secret: "0123456789abcdef".into(),
        };
        let quick = Duration::from_secs(2);
        for url in [
            "http://127.0.0.1:9/hook",
            "http://[::1]:9/hook",
            "http://localhost:9/hook",
        ] {
            let err = post(&due(url), quick, false)
                .await
                .err()
                .unwrap_or_default();
            assert!(err.contains("public address"), "{url}: {err}");
        }
        // Allowed, the same loopback endpoint is tried (and here refused by the closed port).
        let err = post(&due("http://127.0.0.1:9/hook"), quick, true)
            .await
            .err()
            .unwrap_or_default();
        assert!(!err.contains("public address"), "{err}");
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
