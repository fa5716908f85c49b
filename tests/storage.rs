//! The store against both databases: migrations, tenants, keys, tenant-scoped records.

mod common;

use std::collections::BTreeMap;

use atelier::orders::records::{self, NewMeasurementRecord};
use atelier::store::{Backend, Store};
use common::{store, Db};

async fn exercise(store: &Store) {
    store.ping().await.unwrap();

    // Creating a tenant is idempotent.
    let a = store.tenant_by_name_or_create("shop-a").await.unwrap();
    let again = store.tenant_by_name_or_create("shop-a").await.unwrap();
    assert_eq!(a.id, again.id);
    let b = store.tenant_by_name_or_create("shop-b").await.unwrap();
    assert_ne!(a.id, b.id);

    // Keys are found by hash only while live.
    let id = store
        .insert_key(&a.id, "shop", "hash-1", "atk_1234")
        .await
        .unwrap();
    let found = store.key_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(
        (
            found.tenant_id.clone(),
            found.role.as_str(),
            found.tenant_name.as_str()
        ),
        (a.id.clone(), "shop", "shop-a")
    );
    assert!(
        store
            .insert_key(&a.id, "shop", "hash-1", "atk_1234")
            .await
            .is_err(),
        "hashes are unique"
    );
    assert!(
        store
            .insert_key(&a.id, "owner", "hash-2", "atk_1234")
            .await
            .is_err(),
        "roles are constrained"
    );
    assert!(store.revoke_key(&id).await.unwrap());
    assert!(!store.revoke_key(&id).await.unwrap());
    assert!(store.key_by_hash("hash-1").await.unwrap().is_none());

    // Records are scoped to their tenant.
    let new = |customer: &str, chest: f64| NewMeasurementRecord {
        customer_ref: customer.into(),
        source: "tape".into(),
        measurements: BTreeMap::from([
            ("chest_girth".to_owned(), chest),
            ("stature".to_owned(), 176.5),
        ]),
    };
    let r1 = records::save(store, &a.id, &new("A-1", 96.5))
        .await
        .unwrap();
    records::save(store, &a.id, &new("A-2", 101.0))
        .await
        .unwrap();
    records::save(store, &b.id, &new("B-1", 88.0))
        .await
        .unwrap();
    let got = records::get(store, &a.id, &r1.id).await.unwrap();
    assert_eq!(got.measurements["chest_girth"], 96.5);
    assert!(matches!(
        records::get(store, &b.id, &r1.id).await,
        Err(atelier::orders::Error::RecordNotFound)
    ));
    // A record that fails its checks is not saved.
    let absurd = records::save(store, &a.id, &new("A-3", -4.0)).await;
    assert!(
        matches!(&absurd, Err(atelier::orders::Error::Invalid { field, .. }) if field == "measurements.chest_girth"),
        "{absurd:?}"
    );
    assert_eq!(records::list(store, &a.id, 10).await.unwrap().len(), 2);
    assert_eq!(records::list(store, &a.id, 1).await.unwrap().len(), 1);
    let b_list = records::list(store, &b.id, 10).await.unwrap();
    assert_eq!(
        b_list
            .iter()
            .map(|r| r.customer_ref.as_str())
            .collect::<Vec<_>>(),
        ["B-1"]
    );
}

#[tokio::test]
async fn sqlite_store() {
    let (store, _dir) = store(Db::Sqlite).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    exercise(&store).await;
}

#[tokio::test]
async fn postgres_store() {
    let Some((store, _)) = store(Db::Postgres).await else {
        eprintln!("ATELIER_TEST_POSTGRES_URL=off: PostgreSQL half skipped");
        return;
    };
    assert_eq!(store.backend(), Backend::Postgres);
    exercise(&store).await;
}

#[tokio::test]
async fn postgres_runs_are_isolated() {
    let Some((one, _)) = store(Db::Postgres).await else {
        return;
    };
    let Some((two, _)) = store(Db::Postgres).await else {
        return;
    };
    one.tenant_by_name_or_create("only-in-one").await.unwrap();
    assert!(two.tenant_by_name("only-in-one").await.unwrap().is_none());
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("twice.db").display()
    );
    let first = Store::connect(&url).await.unwrap();
    first.tenant_by_name_or_create("kept").await.unwrap();
    first.close().await;
    let second = Store::connect(&url).await.unwrap();
    assert!(second.tenant_by_name("kept").await.unwrap().is_some());
}
