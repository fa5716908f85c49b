//! The binary: key issuing, configuration errors, model verification and graceful shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn atelier() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atelier"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("ATELIER_ADDR")
        .env("ATELIER_LOG", "warn");
    cmd
}

#[test]
fn keys_create_prints_a_working_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
    let out = atelier()
        .args(["keys", "create", "--tenant", "shop-a", "--role", "shop"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("atk_"), "{key}");
    // The database holds the hash, not the key.
    let db = std::fs::read(dir.path().join("k.db")).unwrap();
    let wal = std::fs::read(dir.path().join("k.db-wal")).unwrap_or_default();
    let hay = [db, wal].concat();
    let contains = |needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(key.as_bytes()));
    assert!(contains(atelier::auth::hash_key(&key).as_bytes()));

    let out = atelier()
        .args(["keys", "create", "--tenant", "x", "--role", "owner"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
}

#[test]
fn a_bad_variable_stops_start_up_naming_it() {
    let out = atelier()
        .args(["serve"])
        .env("ATELIER_ADDR", "nowhere")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ATELIER_ADDR"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn models_verify_detects_a_corrupted_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = atelier()
        .args(["models", "verify", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
    // Copy the real models, then flip one byte of one of them.
    let models = atelier::models::Manifest::builtin().unwrap();
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    atelier::models::ensure(&atelier::models::FetchOptions::new(&real))
        .expect("fetching the models");
    for f in &models.files {
        std::fs::copy(real.join(&f.name), dir.path().join(&f.name)).unwrap();
    }
    assert!(atelier()
        .args(["models", "verify", "--dir"])
        .arg(dir.path())
        .status()
        .unwrap()
        .success());
    let victim = dir.path().join(&models.files[2].name);
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&victim, bytes).unwrap();
    let out = atelier()
        .args(["models", "verify", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not match") && err.contains(&models.files[2].name),
        "{err}"
    );
}

/// Starts `atelier serve` on a free port and waits until it answers `/readyz` 200.
fn start_server(dir: &std::path::Path) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    atelier::models::ensure(&atelier::models::FetchOptions::new(&real))
        .expect("fetching the models");
    let mut child = atelier()
        .arg("serve")
        .env("ATELIER_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.join("s.db").display()),
        )
        .env("ATELIER_MODELS_DIR", &real)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(resp) = http_get(port, "/readyz") {
            if resp.starts_with("HTTP/1.1 200") {
                return (child, port);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not become ready");
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn serve_becomes_ready_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let key = atelier()
        .args(["keys", "create", "--tenant", "shop-a", "--role", "shop"])
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display()),
        )
        .output()
        .unwrap();
    assert!(key.status.success());
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let (mut child, port) = start_server(dir.path());
    // A request in flight when SIGTERM arrives is still answered: its handler is waiting for the
    // rest of the body when the signal comes. (A connection the server has not yet read a whole
    // request head from counts as idle and is closed, as it should be.)
    let body = r#"{"sex":"male","values":{"stature":175,"weight":72}}"#;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /v1/measurements/estimate HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Authorization: Bearer {key}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(200));
    write!(s, "{}", &body[10..]).unwrap();
    let mut first = String::new();
    BufReader::new(s).read_line(&mut first).unwrap();
    assert!(first.starts_with("HTTP/1.1 200"), "{first:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(code) = child.try_wait().unwrap() {
            assert!(code.success(), "exit {code:?}");
            break;
        }
        assert!(Instant::now() < deadline, "server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(http_get(port, "/healthz").is_err(), "no longer listening");
}

fn fixture(path: &str) -> String {
    format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn measure_then_draft_then_nest_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let measured = atelier()
        .args([
            "measure",
            "--front-mask",
            &fixture("body/mask_front_saif2.png"),
            "--side-mask",
            &fixture("body/mask_side_left.png"),
        ])
        .args(["--height", "175", "--sex", "male", "--json"])
        .output()
        .unwrap();
    assert!(
        measured.status.success(),
        "{}",
        String::from_utf8_lossy(&measured.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&measured.stdout).unwrap();
    let names: Vec<&str> = doc["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"chest_girth") && names.contains(&"inside_leg"),
        "{names:?}"
    );

    // The measurement answer feeds the pattern drafter as it is.
    let m = dir.path().join("m.json");
    std::fs::write(&m, &measured.stdout).unwrap();
    let out = dir.path().join("shirt.dxf");
    let drafted = atelier()
        .args([
            "draft",
            "--garment",
            "shirt",
            "--format",
            "dxf-aama",
            "--measurements",
        ])
        .arg(&m)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        drafted.status.success(),
        "{}",
        String::from_utf8_lossy(&drafted.stderr)
    );
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("Piece Name:"));

    let bad = atelier()
        .args(["draft", "--garment", "cape", "--measurements"])
        .arg(&m)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown garment"));
    // A file that is not a measurement file: the error names it.
    let readme = format!("{}/README.md", env!("CARGO_MANIFEST_DIR"));
    let bad = atelier()
        .args(["draft", "--garment", "shirt", "--measurements", &readme])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("README.md"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    let layout = dir.path().join("layout.json");
    let nested = atelier()
        .args([
            "nest",
            "--instance",
            &fixture("nest/shapes0.xml"),
            "--time-limit",
            "1",
            "--out",
        ])
        .arg(&layout)
        .output()
        .unwrap();
    assert!(
        nested.status.success(),
        "{}",
        String::from_utf8_lossy(&nested.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&layout).unwrap()).unwrap();
    assert!(
        doc["density"].as_f64().unwrap() > 0.4 && !doc["placements"].as_array().unwrap().is_empty()
    );

    // A file that is not XML: the error names the file and gives the parser's message once.
    let bad = atelier()
        .args(["nest", "--instance", &readme, "--time-limit", "1", "--out"])
        .arg(&layout)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("README.md") && stderr.contains("malformed XML"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("at 1:1").count(), 1, "{stderr}");
}

/// Ctrl-C during a long `atelier nest` ends the search and still writes the best marker so far.
#[test]
fn an_interrupted_nest_writes_its_best_marker() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout.json");
    let started = Instant::now();
    let child = atelier()
        .args([
            "nest",
            "--instance",
            &fixture("nest/shapes0.xml"),
            "--time-limit",
            "300",
            "--workers",
            "1",
            "--out",
        ])
        .arg(&layout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the interrupt was not heeded"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&layout).unwrap()).unwrap();
    assert!(doc["density"].as_f64().unwrap() > 0.4, "{doc}");
}

#[test]
fn pose_and_face_print_json_in_pixels() {
    let out = atelier()
        .args(["pose", &fixture("vision/saif_front.png"), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["landmarks"].as_array().unwrap().len(), 33);
    let nose_x = doc["landmarks"][0]["x"].as_f64().unwrap();
    assert!(nose_x > 0.0 && nose_x < doc["width"].as_f64().unwrap());

    let out = atelier()
        .args(["face", &fixture("vision/biden_portrait.png"), "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["faces"][0]["mesh"].as_array().unwrap().len(), 468);

    // The photo path of `measure`, with the overlay picture.
    let dir = tempfile::tempdir().unwrap();
    let picture = dir.path().join("measured.png");
    let out = atelier()
        .args(["measure", "--front", &fixture("vision/saif_front.png")])
        .args(["--side", &fixture("vision/left_profile.png")])
        .args(["--height", "175", "--json", "--overlay"])
        .arg(&picture)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["measurements"].as_array().unwrap().len(), 18);
    let picture = image::open(&picture).unwrap();
    assert!(picture.width() > 2 * 360, "{}", picture.width());

    let out = atelier()
        .args(["pose", &fixture("vision/README.md")])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a text file is not a photo");
}
