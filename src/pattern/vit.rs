//! Seamly2D/Valentina individual measurement files (`.vit`, root `<vit>`; Seamly2D's newer
//! `.smis` with root `<smis>` is read too), so a tailor can move measurements between this
//! service and those tools. Names map to Valentina's measurement codes; weight, which has no
//! code, travels as the custom measurement `@weight_kg`.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use super::body::{Body, Measure};
use super::Error;

/// Valentina's name for each measure (code in the comment).
pub fn valentina_name(m: Measure) -> &'static str {
    match m {
        Measure::Stature => "height",                       // A01
        Measure::NeckGirth => "neck_circ",                  // G02
        Measure::ChestGirth => "bust_circ",                 // G04
        Measure::WaistGirth => "waist_circ",                // G07
        Measure::HipGirth => "hip_circ",                    // G09
        Measure::ShoulderBreadth => "width_shoulder",       // B01
        Measure::ShoulderLength => "shoulder_length",       // I01
        Measure::AcrossBack => "across_back_b",             // I08
        Measure::BackWaistLength => "neck_back_to_waist_b", // H19
        Measure::ArmLength => "arm_shoulder_tip_to_wrist",  // L05
        Measure::UpperArmGirth => "arm_upper_circ",         // L11
        Measure::WristGirth => "arm_wrist_circ",            // L15
        Measure::ThighGirth => "leg_thigh_upper_circ",      // M03
        Measure::CalfGirth => "leg_calf_circ",              // M07
        Measure::InsideLeg => "leg_crotch_to_floor",        // M01
        Measure::WaistHeight => "height_waist_side",        // A05
        Measure::CrotchLength => "crotch_length",           // N01
        Measure::Weight => "@weight_kg",
    }
}

/// Writes a Valentina individual measurement file (format 0.3.3, cm).
pub fn to_vit(body: &Body) -> Result<Vec<u8>, Error> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 4);
    let io = |e: std::io::Error| Error::Vit(e.to_string());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(io)?;
    w.write_event(Event::Start(BytesStart::new("vit")))
        .map_err(io)?;
    for (tag, text) in [
        ("version", "0.3.3"),
        ("read-only", "false"),
        ("unit", "cm"),
        ("pm_system", "998"),
    ] {
        w.create_element(tag)
            .write_text_content(BytesText::new(text))
            .map_err(io)?;
    }
    w.create_element("notes").write_empty().map_err(io)?;
    w.create_element("personal")
        .write_inner_content(|w| {
            w.create_element("family-name").write_empty()?;
            w.create_element("given-name").write_empty()?;
            w.create_element("birth-date")
                .write_text_content(BytesText::new("1800-01-01"))?;
            w.create_element("gender")
                .write_text_content(BytesText::new("unknown"))?;
            w.create_element("email").write_empty()?;
            Ok(())
        })
        .map_err(io)?;
    w.create_element("body-measurements")
        .write_inner_content(|w| {
            for (m, v) in body.iter() {
                let value = format!("{v}");
                let mut el = w
                    .create_element("m")
                    .with_attribute(("name", valentina_name(m)))
                    .with_attribute(("value", value.as_str()));
                if m == Measure::Weight {
                    el = el.with_attribute(("description", "body weight in kg"));
                }
                el.write_empty()?;
            }
            Ok(())
        })
        .map_err(io)?;
    w.write_event(Event::End(BytesEnd::new("vit")))
        .map_err(io)?;
    let mut out = w.into_inner();
    out.push(b'\n');
    Ok(out)
}

/// Reads a `.vit` / `.smis` individual measurement file into a validated [`Body`]; names this
/// area does not use are skipped, values given as formulas are refused by name.
pub fn from_vit(bytes: &[u8]) -> Result<Body, Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Vit(e.to_string()))?;
    let mut reader = Reader::from_str(text);
    let mut body = Body::new();
    let mut root_seen = false;
    let mut in_unit = false;
    let mut unit = String::from("cm");
    let mut raw: Vec<(Measure, String)> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| Error::Vit(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name();
                match name.as_ref() {
                    b"vit" | b"smis" => root_seen = true,
                    b"vst" | b"smms" => {
                        return Err(Error::Vit(
                            "this is a multisize table; export an individual file".into(),
                        ))
                    }
                    b"unit" => in_unit = true,
                    b"m" => {
                        let (mut n, mut v) = (None, None);
                        for attr in e.attributes() {
                            let attr = attr.map_err(|e| Error::Vit(e.to_string()))?;
                            let value = attr
                                .unescape_value()
                                .map_err(|e| Error::Vit(e.to_string()))?
                                .into_owned();
                            match attr.key.as_ref() {
                                b"name" => n = Some(value),
                                b"value" => v = Some(value),
                                _ => {}
                            }
                        }
                        if let (Some(n), Some(v)) = (n, v) {
                            if let Some(m) =
                                Measure::ALL.into_iter().find(|m| valentina_name(*m) == n)
                            {
                                raw.push((m, v));
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) if in_unit => {
                unit = t
                    .unescape()
                    .map_err(|e| Error::Vit(e.to_string()))?
                    .trim()
                    .to_string();
            }
            Event::End(e) if e.name().as_ref() == b"unit" => in_unit = false,
            Event::Eof => break,
            _ => {}
        }
    }
    if !root_seen {
        return Err(Error::Vit("no <vit> or <smis> root element".into()));
    }
    let to_cm = match unit.as_str() {
        "cm" => 1.0,
        "mm" => 0.1,
        "inch" => 2.54,
        other => return Err(Error::Vit(format!("unknown unit `{other}`"))),
    };
    for (m, v) in raw {
        let value: f64 = v.trim().parse().map_err(|_| Error::Measurement {
            field: m.name().into(),
            reason: format!("value `{v}` is a formula or not a number; only numbers are read"),
        })?;
        // Weight is kg whatever the length unit.
        body.set(
            m,
            if m == Measure::Weight {
                value
            } else {
                value * to_cm
            },
        );
    }
    body.validate()?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::body::tests::man;

    const SAMPLE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pattern/sample_mm.vit"
    );

    #[test]
    fn round_trips_every_measure() {
        let body = man();
        let bytes = to_vit(&body).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.contains(r#"<m name="bust_circ" value="96"/>"#),
            "{text}"
        );
        assert!(text.starts_with("<?xml"));
        assert_eq!(from_vit(&bytes).unwrap(), body);
    }

    /// A file in the layout Valentina writes (mm unit, extra codes, a formula we skip).
    #[test]
    fn reads_a_valentina_file_in_mm() {
        let bytes = std::fs::read(SAMPLE).unwrap();
        let body = from_vit(&bytes).unwrap();
        assert_eq!(body.get(Measure::ChestGirth), Some(98.0));
        assert_eq!(body.get(Measure::Stature), Some(176.0));
        assert_eq!(body.get(Measure::Weight), Some(72.5));
        assert_eq!(body.iter().count(), 5);
    }

    #[test]
    fn refuses_formulas_and_multisize_tables() {
        let f = br#"<vit><unit>cm</unit><body-measurements><m name="waist_circ" value="bust_circ-10"/></body-measurements></vit>"#;
        let e = from_vit(f).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("waist_girth"), "{e}");
        let t = br#"<vst><unit>cm</unit></vst>"#;
        assert!(from_vit(t).unwrap_err().to_string().contains("multisize"));
    }
}
