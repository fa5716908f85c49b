//! The server killed (SIGKILL, no chance to clean up) right after it acknowledged orders and in
//! the middle of planning a marker, in a request and in the background: after a restart every
//! acknowledged order is there once, a retried request finds it, and the interrupted plans left
//! nothing behind (the background one reads as interrupted). Stopped politely (SIGTERM), the
//! server first has its background plan store its best marker.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn atelier(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atelier"));
    cmd.env_remove("ATELIER_ADDR")
        .env("ATELIER_LOG", "warn")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", db.display()),
        )
        // Orders and markers need no vision model; an empty folder keeps start-up light.
        .env("ATELIER_MODELS_DIR", db.with_file_name("no-models"));
    cmd
}

fn key(db: &Path, tenant: &str, role: &str) -> String {
    let out = atelier(db)
        .args(["keys", "create", "--tenant", tenant, "--role", role])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Starts `atelier serve` on a free port and waits until it answers `/healthz`.
fn start(db: &Path) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = atelier(db)
        .arg("serve")
        .env("ATELIER_ADDR", format!("127.0.0.1:{port}"))
        // No network: a missing model set must not hold the server up.
        .env("ATELIER_CACHE_DIR", db.with_file_name("cache"))
        .env("ATELIER_PYTHON", "/nonexistent/python3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http(port, "GET", "/healthz", "", None).is_ok_and(|(s, _)| s == 200) {
            return (child, port);
        }
        if let Some(code) = child.try_wait().unwrap() {
            panic!("server exited at start-up: {code:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not answer /healthz");
}

fn kill_hard(mut child: Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// One HTTP/1.1 request; the status and body of the answer.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line: {out:?}")))?;
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Ok((status, body))
}

fn bearer(key: &str) -> String {
    format!("Authorization: Bearer {key}\r\n")
}

/// Asks for a marker plan in the background; where to follow it.
fn plan_in_background(port: u16, factory_key: &str, plan: &str) -> String {
    let headers = format!("{}Prefer: respond-async\r\n", bearer(factory_key));
    let (status, body) = http(port, "POST", "/v1/factory/markers", &headers, Some(plan)).unwrap();
    assert_eq!(status, 202, "{body}");
    format!("/v1/factory/plans/{}", value(&body)["id"].as_str().unwrap())
}

fn value(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

const ORDER: &str = r#"{"customer_ref":"C-1","measurements":{"chest_girth":98.5,"neck_girth":39,"shoulder_breadth":44,"back_waist_length":45,"arm_length":62,"upper_arm_girth":32,"wrist_girth":17.5,"across_back":39},"garment":"shirt","fabric":"poplin-white","quantity":1,"due_date":"2026-12-20","factory":"factory-a"}"#;

#[test]
fn no_acknowledged_order_is_lost_or_doubled_by_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let shop = key(&db, "shop-a", "shop");
    let factory = key(&db, "factory-a", "factory");
    let order_headers = |k: usize| format!("{}Idempotency-Key: order-{k}\r\n", bearer(&shop));

    // Killed right after acknowledging three orders.
    let (server, port) = start(&db);
    let mut acknowledged = Vec::new();
    for k in 0..3 {
        let (status, body) =
            http(port, "POST", "/v1/orders", &order_headers(k), Some(ORDER)).unwrap();
        assert_eq!(status, 201, "{body}");
        acknowledged.push(value(&body)["id"].as_str().unwrap().to_owned());
    }
    kill_hard(server);

    let (server, port) = start(&db);
    let (_, body) = http(port, "GET", "/v1/orders", &bearer(&shop), None).unwrap();
    let mut listed: Vec<String> = value(&body)
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    let mut expected = acknowledged.clone();
    expected.sort();
    assert_eq!(listed, expected, "every acknowledged order, once");
    // The client never saw the last answer and retries: it gets the same order.
    let (status, body) = http(port, "POST", "/v1/orders", &order_headers(2), Some(ORDER)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(value(&body)["id"], acknowledged[2].as_str());

    // Killed while the marker is being nested (a 20 s search, killed after 2 s).
    let plan = r#"{"fabric":"poplin-white","time_limit_secs":20}"#;
    let factory_auth = bearer(&factory);
    let planning = std::thread::spawn(move || {
        http(
            port,
            "POST",
            "/v1/factory/markers",
            &factory_auth,
            Some(plan),
        )
    });
    std::thread::sleep(Duration::from_secs(2));
    kill_hard(server);
    let interrupted = planning.join().unwrap();
    assert!(
        interrupted.as_ref().map_or(true, |(s, _)| *s != 201),
        "the plan was cut off: {interrupted:?}"
    );

    let (server, port) = start(&db);
    let (_, body) = http(port, "GET", "/v1/factory/markers", &bearer(&factory), None).unwrap();
    assert_eq!(value(&body), serde_json::json!([]), "no half-stored marker");
    for id in &acknowledged {
        let (_, body) = http(
            port,
            "GET",
            &format!("/v1/orders/{id}/events"),
            &bearer(&shop),
            None,
        )
        .unwrap();
        let events = value(&body);
        assert_eq!(
            events.as_array().unwrap().len(),
            1,
            "only `received`: {events}"
        );
    }
    // Killed while a background plan nests: after the restart the plan reads as interrupted
    // once its heartbeat is overdue, and it left no marker and moved no order.
    let location = plan_in_background(port, &factory, plan);
    let plan_state = |port: u16| {
        let (_, body) = http(port, "GET", &location, &bearer(&factory), None).unwrap();
        value(&body)["state"].as_str().unwrap().to_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while plan_state(port) != "running" {
        assert!(Instant::now() < deadline, "the background plan never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    kill_hard(server);
    let (server, port) = start(&db);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match plan_state(port).as_str() {
            "interrupted" => break,
            "queued" | "running" => {
                assert!(
                    Instant::now() < deadline,
                    "the plan never read as interrupted"
                );
                std::thread::sleep(Duration::from_millis(500));
            }
            other => panic!("a killed plan ended {other}"),
        }
    }
    let (_, body) = http(port, "GET", "/v1/factory/markers", &bearer(&factory), None).unwrap();
    assert_eq!(
        value(&body),
        serde_json::json!([]),
        "no marker from the killed plan"
    );

    // Planned again from scratch: all three orders, once.
    let (status, body) = http(
        port,
        "POST",
        "/v1/factory/markers",
        &bearer(&factory),
        Some(r#"{"fabric":"poplin-white","time_limit_secs":1}"#),
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let mut planned: Vec<String> = value(&body)["marker"]["order_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_owned())
        .collect();
    planned.sort();
    assert_eq!(planned, expected);
    kill_hard(server);
}

/// A server stopped the polite way (SIGTERM, as at a deploy) during a long background plan:
/// the plan stops early and stores its best marker before the process exits, and a plan still
/// waiting its turn is marked interrupted at once.
#[test]
fn a_stopping_server_stores_its_background_plans_best_marker() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stop.db");
    let shop = key(&db, "shop-a", "shop");
    let factory = key(&db, "factory-a", "factory");
    let (server, port) = start(&db);
    let order_headers = |k: usize| format!("{}Idempotency-Key: order-{k}\r\n", bearer(&shop));
    for k in 0..2 {
        let (status, body) =
            http(port, "POST", "/v1/orders", &order_headers(k), Some(ORDER)).unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let plan = r#"{"fabric":"poplin-white","time_limit_secs":600}"#;
    let locations: Vec<String> = (0..2)
        .map(|_| plan_in_background(port, &factory, plan))
        .collect();
    let view = |port: u16, location: &str| {
        let (_, body) = http(port, "GET", location, &bearer(&factory), None).unwrap();
        value(&body)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while view(port, &locations[0])["best_density"].is_null() {
        assert!(Instant::now() < deadline, "the plan never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    let stopping = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = server.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(
        stopping.elapsed() < Duration::from_secs(30),
        "shutdown took {:?}",
        stopping.elapsed()
    );

    let (server, port) = start(&db);
    let done = view(port, &locations[0]);
    assert_eq!(done["state"], "done", "{done}");
    let marker = done["marker_id"].as_str().unwrap();
    let (status, _) = http(
        port,
        "GET",
        &format!("/v1/factory/markers/{marker}"),
        &bearer(&factory),
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(view(port, &locations[1])["state"], "interrupted");
    kill_hard(server);
}
