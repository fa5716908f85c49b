//! The model-backed routes over HTTP: measurement estimates, silhouettes and photos, shade matching,
//! patterns; with the real models and the real photos and masks of tests/fixtures.

mod common;

use std::path::Path;

use atelier::auth::Role;
use axum::body::Body;
use axum::http::Request;
use common::{futures_join, json, problem, request, TestApp};
use http_body_util::BodyExt;

const BOUNDARY: &str = "atelier-test-boundary";

/// Multipart parts: (name, bytes).
type Form<'a> = Vec<(&'a str, Vec<u8>)>;

fn fixture(path: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A multipart body of (name, bytes) parts.
fn multipart(uri: &str, key: &str, parts: &[(&str, Vec<u8>)]) -> Request<Body> {
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    request("POST", uri, Some(key))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body))
        .unwrap()
}

fn post_json(uri: &str, key: &str, body: &serde_json::Value) -> Request<Body> {
    request("POST", uri, Some(key))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn text(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

async fn loaded_app(overrides: &[(&str, &str)]) -> TestApp {
    let t = TestApp::new(overrides).await;
    t.load_models().await;
    t
}

fn measurement<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["measurements"]
        .as_array()
        .expect("measurements")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
}

#[tokio::test]
async fn estimates_every_measurement_from_what_is_known() {
    let t = TestApp::new(&[]).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let counter = t.key("counter-a", Role::Counter).await;
    let known = serde_json::json!({"sex": "male", "values": {"stature": 178, "weight": 80}});

    let resp = t
        .send(post_json("/v1/measurements/estimate", &shop, &known))
        .await;
    assert_eq!(resp.status(), 200);
    let doc = json(resp).await;
    assert_eq!(doc["measurements"].as_array().unwrap().len(), 18);
    let chest = measurement(&doc, "chest_girth");
    assert_eq!(chest["ansur"], "chestcircumference");
    let (value, sd) = (
        chest["value_cm"].as_f64().unwrap(),
        chest["sd_cm"].as_f64().unwrap(),
    );
    assert!(
        (85.0..125.0).contains(&value) && (1.0..10.0).contains(&sd),
        "{chest}"
    );
    assert_eq!(measurement(&doc, "stature")["observed"], true);
    assert!(doc["warnings"].is_array());

    // Absurd or unknown values are 422 naming the field.
    let absurd = serde_json::json!({"sex": "male", "values": {"stature": 900}});
    let p = problem(
        t.send(post_json("/v1/measurements/estimate", &shop, &absurd))
            .await,
        422,
    )
    .await;
    assert_eq!(p["field"], "values.stature", "{p}");
    let unknown = serde_json::json!({"values": {"shoe_size": 42}});
    let p = problem(
        t.send(post_json("/v1/measurements/estimate", &shop, &unknown))
            .await,
        422,
    )
    .await;
    assert_eq!(p["field"], "values.shoe_size", "{p}");
    let negative = serde_json::json!({"values": {"chest_girth": -3}});
    let p = problem(
        t.send(post_json("/v1/measurements/estimate", &shop, &negative))
            .await,
        422,
    )
    .await;
    assert_eq!(p["field"], "values.chest_girth", "{p}");
    // Shops only.
    problem(
        t.send(post_json("/v1/measurements/estimate", &counter, &known))
            .await,
        403,
    )
    .await;
}

#[tokio::test]
async fn measures_from_silhouette_masks() {
    let t = TestApp::new(&[]).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let front = fixture("body/mask_front_saif2.png");
    let side = fixture("body/mask_side_left.png");
    let resp = t
        .send(multipart(
            "/v1/measurements",
            &shop,
            &[
                ("front_mask", front.clone()),
                ("side_mask", side.clone()),
                ("height_cm", text("175")),
                ("weight_kg", text("72")),
                ("sex", text("male")),
            ],
        ))
        .await;
    assert_eq!(resp.status(), 200);
    let doc = json(resp).await;
    for (name, range) in [
        ("chest_girth", 75.0..130.0),
        ("waist_girth", 60.0..120.0),
        ("hip_girth", 75.0..125.0),
    ] {
        let m = measurement(&doc, name);
        let v = m["value_cm"].as_f64().unwrap();
        assert!(
            range.contains(&v) && m["sd_cm"].as_f64().unwrap() > 0.0,
            "{m}"
        );
    }
    let stature = measurement(&doc, "stature")["value_cm"].as_f64().unwrap();
    assert!((stature - 175.0).abs() < 1.0, "{stature}");
    for w in doc["warnings"].as_array().unwrap() {
        assert!(w["code"].is_string() && w["message"].is_string(), "{w}");
    }

    // Missing parts and bad values name the part.
    let cases: Vec<(Form, &str)> = vec![
        (
            vec![("front_mask", front.clone()), ("height_cm", text("175"))],
            "side_mask",
        ),
        (
            vec![("front_mask", front.clone()), ("side_mask", side.clone())],
            "height_cm",
        ),
        (
            vec![
                ("front_mask", front.clone()),
                ("side_mask", side.clone()),
                ("height_cm", text("tall")),
            ],
            "height_cm",
        ),
        (
            vec![
                ("front_mask", front.clone()),
                ("side_mask", side.clone()),
                ("height_cm", text("175")),
                ("weight_kg", text("900")),
            ],
            "weight_kg",
        ),
        (
            vec![
                ("front_mask", text("not a png")),
                ("side_mask", side.clone()),
                ("height_cm", text("175")),
            ],
            "front_mask",
        ),
        (
            vec![
                ("front_mask", front.clone()),
                ("side_mask", side.clone()),
                ("height_cm", text("175")),
                ("sex", text("other")),
            ],
            "sex",
        ),
        (vec![("height_cm", text("175"))], "front"),
    ];
    for (parts, field) in cases {
        let p = problem(
            t.send(multipart("/v1/measurements", &shop, &parts)).await,
            422,
        )
        .await;
        assert_eq!(p["field"], field, "{p}");
    }
}

#[tokio::test]
async fn vision_routes_answer_503_until_the_models_are_loaded() {
    let t = TestApp::new(&[]).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let counter = t.key("counter-a", Role::Counter).await;
    let photo = fixture("vision/saif_front.png");
    let resp = t
        .send(multipart(
            "/v1/measurements",
            &shop,
            &[
                ("front", photo.clone()),
                ("side", photo.clone()),
                ("height_cm", text("175")),
            ],
        ))
        .await;
    assert!(resp.headers().contains_key("retry-after"));
    problem(resp, 503).await;
    let resp = t
        .send(multipart(
            "/v1/shade-matches",
            &counter,
            &[("image", photo)],
        ))
        .await;
    assert!(resp.headers().contains_key("retry-after"));
    problem(resp, 503).await;
}

#[tokio::test]
async fn measures_from_photos() {
    let t = loaded_app(&[]).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let front = fixture("vision/saif_front.png");
    let side = fixture("vision/left_profile.png");
    let resp = t
        .send(multipart(
            "/v1/measurements",
            &shop,
            &[
                ("front", front.clone()),
                ("side", side.clone()),
                ("height_cm", text("175")),
                ("sex", text("male")),
            ],
        ))
        .await;
    assert_eq!(resp.status(), 200);
    let doc = json(resp).await;
    let chest = measurement(&doc, "chest_girth")["value_cm"]
        .as_f64()
        .unwrap();
    assert!((75.0..130.0).contains(&chest), "{doc}");

    // Segmenting the photos here gives the silhouettes MediaPipe gives (the mask fixtures are
    // MediaPipe Pose masks of the same photos at full resolution): the same girths within 2 cm.
    let mut girths = Vec::new();
    for (f, s, parts) in [
        ("front", "side", (front.clone(), side.clone())),
        (
            "front_mask",
            "side_mask",
            (
                fixture("body/mask_front_saif2.png"),
                fixture("body/mask_side_left.png"),
            ),
        ),
    ] {
        let form = [
            (f, parts.0),
            (s, parts.1),
            ("height_cm", text("175")),
            ("weight_kg", text("72")),
            ("sex", text("male")),
        ];
        let doc = json(t.send(multipart("/v1/measurements", &shop, &form)).await).await;
        girths.push(
            ["chest_girth", "waist_girth", "hip_girth"]
                .map(|n| measurement(&doc, n)["value_cm"].as_f64().unwrap()),
        );
    }
    for i in 0..3 {
        assert!((girths[0][i] - girths[1][i]).abs() < 2.0, "{girths:?}");
    }

    // overlay=true: a PNG of both views, as tall as the taller photo, wider than both side by side.
    let resp = t
        .send(multipart(
            "/v1/measurements",
            &shop,
            &[
                ("front", front.clone()),
                ("side", side.clone()),
                ("height_cm", text("175")),
                ("overlay", text("true")),
            ],
        ))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let picture = image::load_from_memory(&png).unwrap();
    assert!(
        picture.width() > 2 * 360 && picture.height() > 640,
        "{:?}",
        (picture.width(), picture.height())
    );
    let p = problem(
        t.send(multipart(
            "/v1/measurements",
            &shop,
            &[
                ("front", front.clone()),
                ("side", side.clone()),
                ("height_cm", text("175")),
                ("overlay", text("perhaps")),
            ],
        ))
        .await,
        422,
    )
    .await;
    assert_eq!(p["field"], "overlay", "{p}");

    // A photo without a person: 422 `no_person` naming the part.
    let mut wall = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(360, 640, image::Rgb([200, 200, 190]))
        .write_to(&mut wall, image::ImageFormat::Png)
        .unwrap();
    let p = problem(
        t.send(multipart(
            "/v1/measurements",
            &shop,
            &[
                ("front", front.clone()),
                ("side", wall.into_inner()),
                ("height_cm", text("175")),
            ],
        ))
        .await,
        422,
    )
    .await;
    assert_eq!(
        (p["field"].as_str(), p["code"].as_str()),
        (Some("side"), Some("no_person")),
        "{p}"
    );

    // A portrait as the side photo: the feet are cut off, so it cannot be scaled: 422 naming it.
    let p = problem(
        t.send(multipart(
            "/v1/measurements",
            &shop,
            &[
                ("front", front.clone()),
                ("side", fixture("vision/biden_portrait.png")),
                ("height_cm", text("175")),
            ],
        ))
        .await,
        422,
    )
    .await;
    assert_eq!(
        (p["field"].as_str(), p["code"].as_str()),
        (Some("side"), Some("body_cut_off")),
        "{p}"
    );

    // Not an image: 415 naming the part; a truncated image: 422; too many pixels: 413.
    let p = problem(
        t.send(multipart(
            "/v1/measurements",
            &shop,
            &[
                ("front", front.clone()),
                ("side", text("hello")),
                ("height_cm", text("175")),
            ],
        ))
        .await,
        415,
    )
    .await;
    assert_eq!(p["field"], "side", "{p}");
    let p = problem(
        t.send(multipart(
            "/v1/measurements",
            &shop,
            &[
                ("front", front[..front.len() / 3].to_vec()),
                ("side", side.clone()),
                ("height_cm", text("175")),
            ],
        ))
        .await,
        422,
    )
    .await;
    assert_eq!(p["field"], "front", "{p}");
    let p = problem(
        t.send(multipart(
            "/v1/measurements",
            &shop,
            &[("front", front.clone()), ("height_cm", text("175"))],
        ))
        .await,
        422,
    )
    .await;
    assert_eq!(p["field"], "side", "{p}");

    let small = loaded_app(&[("ATELIER_MAX_IMAGE_PIXELS", "4096")]).await;
    let shop = small.key("shop-a", Role::Shop).await;
    let p = problem(
        small
            .send(multipart(
                "/v1/measurements",
                &shop,
                &[("front", front), ("side", side), ("height_cm", text("175"))],
            ))
            .await,
        413,
    )
    .await;
    assert_eq!(p["field"], "front", "{p}");
}

#[tokio::test]
async fn matches_shades_to_the_face_in_a_photo() {
    let t = loaded_app(&[]).await;
    let counter = t.key("counter-a", Role::Counter).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let face = fixture("shade/face_woman_480.jpg");
    let resp = t
        .send(multipart(
            "/v1/shade-matches",
            &counter,
            &[("image", face.clone()), ("top", text("3"))],
        ))
        .await;
    assert_eq!(resp.status(), 200);
    let doc = json(resp).await;
    assert_eq!(doc["matches"].as_array().unwrap().len(), 3, "{doc}");
    assert!(doc["skin"]["ita"].is_number(), "{doc}");
    let warnings = doc["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w == "no_chart"), "{doc}");
    assert!(!warnings.iter().any(|w| w == "several_faces"), "{doc}");

    // A custom catalog is matched instead of the built-in one.
    let catalog = text("brand,product,shade,hex\nAcme,Base,Light,#f1d2be\nAcme,Base,Medium,#c99a7a\nAcme,Base,Deep,#7a4a32\n");
    let resp = t
        .send(multipart(
            "/v1/shade-matches",
            &counter,
            &[("image", face.clone()), ("catalog", catalog)],
        ))
        .await;
    assert_eq!(resp.status(), 200);
    let doc = json(resp).await;
    assert!(
        doc["matches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["brand"] == "Acme"),
        "{doc}"
    );

    // A full-body photo has no face the short-range detector finds.
    let p = problem(
        t.send(multipart(
            "/v1/shade-matches",
            &counter,
            &[("image", fixture("vision/left_profile.png"))],
        ))
        .await,
        422,
    )
    .await;
    assert_eq!(p["code"], "no_face", "{p}");
    for (parts, field) in [
        (
            vec![("image", face.clone()), ("corners", text("1,2,3"))],
            "corners",
        ),
        (vec![("image", face.clone()), ("top", text("0"))], "top"),
        (vec![("corners", text("1,2,3,4,5,6,7,8"))], "image"),
        (
            vec![("image", face.clone()), ("catalog", text("nonsense"))],
            "catalog",
        ),
    ] {
        let p = problem(
            t.send(multipart("/v1/shade-matches", &counter, &parts))
                .await,
            422,
        )
        .await;
        assert_eq!(p["field"], field, "{p}");
    }
    problem(
        t.send(multipart("/v1/shade-matches", &shop, &[("image", face)]))
            .await,
        403,
    )
    .await;
}

#[tokio::test]
async fn drafts_patterns_and_lists_garments() {
    let t = TestApp::new(&[]).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let factory = t.key("factory-a", Role::Factory).await;
    let counter = t.key("counter-a", Role::Counter).await;

    let resp = t
        .send(
            request("GET", "/v1/garments", Some(&counter))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let garments = json(resp).await;
    assert!(
        garments
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "shirt"),
        "{garments}"
    );

    // The measurement answer is accepted as it is.
    let known = serde_json::json!({"sex": "male", "values": {"stature": 176, "weight": 74}});
    let estimate = json(
        t.send(post_json("/v1/measurements/estimate", &shop, &known))
            .await,
    )
    .await;
    let req =
        serde_json::json!({"garment": "shirt", "measurements": estimate, "format": "dxf-aama"});
    let resp = t.send(post_json("/v1/patterns", &shop, &req)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/vnd.dxf");
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.contains("filename=\"shirt-mtm.dxf"),
        "{disposition}"
    );
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let dxf = String::from_utf8_lossy(&bytes);
    assert!(dxf.contains("SECTION") && dxf.contains("EOF"), "{dxf}");

    // A flat object, the factory role, the default SVG.
    let flat: serde_json::Map<String, serde_json::Value> = estimate["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["value_cm"].is_number())
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["value_cm"].clone(),
            )
        })
        .collect();
    let req = serde_json::json!({"garment": "trousers", "measurements": flat, "options": {}});
    let resp = t.send(post_json("/v1/patterns", &factory, &req)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");

    // Graded set.
    let req =
        serde_json::json!({"garment": "shirt", "sizes": ["170/88A", "175/92A"], "format": "json"});
    let resp = t.send(post_json("/v1/patterns", &shop, &req)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");

    // Bad input names the field.
    let mut tiny = flat.clone();
    tiny.insert("chest_girth".into(), serde_json::json!(20));
    for (req, field) in [
        (
            serde_json::json!({"garment": "cape", "measurements": flat}),
            "garment",
        ),
        (
            serde_json::json!({"garment": "shirt", "measurements": flat, "format": "gif"}),
            "format",
        ),
        (
            serde_json::json!({"garment": "shirt", "measurements": flat, "options": {"frills": 3}}),
            "options.frills",
        ),
        (
            serde_json::json!({"garment": "shirt", "measurements": tiny}),
            "measurements.chest_girth",
        ),
        (serde_json::json!({"garment": "shirt"}), "measurements"),
        (
            serde_json::json!({"garment": "shirt", "sizes": ["999/1X"]}),
            "sizes",
        ),
    ] {
        let p = problem(t.send(post_json("/v1/patterns", &shop, &req)).await, 422).await;
        assert_eq!(p["field"], field, "{p}");
    }
    let req = serde_json::json!({"garment": "shirt", "measurements": flat});
    problem(t.send(post_json("/v1/patterns", &counter, &req)).await, 403).await;
}

#[tokio::test]
async fn the_new_routes_are_documented() {
    let t = TestApp::new(&[]).await;
    let doc: serde_json::Value = serde_json::from_str(&t.openapi().await).expect("JSON");
    for path in [
        "/v1/measurements/estimate",
        "/v1/measurements",
        "/v1/shade-matches",
        "/v1/patterns",
        "/v1/garments",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
}

fn photo_request(shop: &str) -> Request<Body> {
    multipart(
        "/v1/measurements",
        shop,
        &[
            ("front", fixture("vision/saif_front.png")),
            ("side", fixture("vision/left_profile.png")),
            ("height_cm", text("175")),
            ("sex", text("male")),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_photo_requests_are_batched_and_answered_individually() {
    let t = loaded_app(&[("ATELIER_MAX_BATCH", "4"), ("ATELIER_MAX_WAIT_MS", "50")]).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let alone = json(t.send(photo_request(&shop)).await).await;
    let sends = (0..4).map(|_| {
        let (app, req) = (t.app.clone(), photo_request(&shop));
        async move {
            tower::ServiceExt::oneshot(app, req)
                .await
                .expect("infallible")
        }
    });
    for resp in futures_join(sends).await {
        assert_eq!(resp.status(), 200);
        let doc = json(resp).await;
        for name in ["chest_girth", "waist_girth", "hip_girth"] {
            let (a, b) = (
                measurement(&doc, name)["value_cm"].as_f64().unwrap(),
                measurement(&alone, name)["value_cm"].as_f64().unwrap(),
            );
            assert!((a - b).abs() < 0.05, "{name}: {a} batched vs {b} alone");
        }
    }
    let metrics = common::text(
        t.send(
            request("GET", "/metrics", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await,
    )
    .await;
    for series in [
        "atelier_batch_size_count{model=\"pose_landmark_full\"}",
        "atelier_model_batch_seconds_count{model=\"pose_detection\"}",
        "atelier_batch_queue_depth{model=\"pose_detection\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_queue_is_refused_with_retry_after() {
    let t = loaded_app(&[("ATELIER_MAX_BATCH", "1"), ("ATELIER_QUEUE_CAPACITY", "1")]).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let sends = (0..12).map(|_| {
        let (app, req) = (t.app.clone(), photo_request(&shop));
        async move {
            tower::ServiceExt::oneshot(app, req)
                .await
                .expect("infallible")
        }
    });
    let (mut ok, mut refused) = (0, 0);
    for resp in futures_join(sends).await {
        match resp.status().as_u16() {
            200 => ok += 1,
            503 => {
                assert_eq!(resp.headers()["retry-after"], "1");
                let p = problem(resp, 503).await;
                assert!(p["detail"].as_str().unwrap().contains("capacity"), "{p}");
                refused += 1;
            }
            other => panic!("status {other}"),
        }
    }
    // One request per core runs and one waits; the rest are refused at once.
    assert!(ok >= 3 && refused >= 1, "{ok} answered, {refused} refused");
}
