//! Fitted dress: the Bunka bodice block run on to the hem, waist darts continued as fish-eye
//! darts ending 3 cm above the hip line, hip split in quarters with the front 0.5 cm wider.

use super::bodice::{bunka, Skirt};
use super::{GarmentInfo, OptionInfo, Options, Sex, SizedBy};
use crate::pattern::body::{Body, Measure};
use crate::pattern::geom::Piece;
use crate::pattern::Error;

pub(super) const INFO: GarmentInfo = GarmentInfo {
    name: "dress",
    title: "Fitted dress (Bunka block, fish-eye darts)",
    pieces: &["front", "back"],
    measurements: &[
        Measure::ChestGirth,
        Measure::WaistGirth,
        Measure::HipGirth,
        Measure::BackWaistLength,
    ],
    options: &[
        OptionInfo {
            name: "chest_ease",
            default: 10.0,
            min: 4.0,
            max: 24.0,
            doc: "ease over bust girth (cm)",
        },
        OptionInfo {
            name: "waist_ease",
            default: 4.0,
            min: 0.0,
            max: 20.0,
            doc: "ease over waist girth (cm)",
        },
        OptionInfo {
            name: "hip_ease",
            default: 4.0,
            min: 0.0,
            max: 20.0,
            doc: "ease over hip girth (cm)",
        },
        OptionInfo {
            name: "hip_depth",
            default: 20.0,
            min: 14.0,
            max: 28.0,
            doc: "waist to hip line (cm)",
        },
        OptionInfo {
            name: "length",
            default: 55.0,
            min: 30.0,
            max: 120.0,
            doc: "skirt length below the waist (cm)",
        },
    ],
    sex: Sex::Female,
    sized_by: SizedBy::Chest,
    draft,
};

fn draft(body: &Body, o: &Options) -> Result<Vec<Piece>, Error> {
    let skirt = Skirt {
        hip_depth: o.mm("hip_depth"),
        hip: body.mm(Measure::HipGirth)? + o.mm("hip_ease"),
        length: o.mm("length"),
    };
    let (front, back) = bunka(body, o, Some(skirt))?;
    Ok(vec![front, back])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::pattern::body::tests::woman;
    use crate::pattern::draft;

    #[test]
    fn dress_reproduces_bust_waist_and_hip() {
        let p = draft("dress", &woman(), &BTreeMap::new()).unwrap();
        let (f, b) = (p.piece("front").unwrap(), p.piece("back").unwrap());
        let width = |y: f64| 2.0 * (f.width_at_y(y) + b.width_at_y(y));
        let chest_y = 860.0 / 12.0 + 137.0 + 1.0;
        assert!(
            (width(chest_y) - 960.0).abs() < 1.5,
            "bust {}",
            width(chest_y)
        );
        // Just above the waist only the upper halves of the fish-eye darts cross.
        let waist = width(380.0 - 1e-3);
        assert!((waist - 720.0).abs() < 0.5, "waist {waist}");
        let hip = width(380.0 + 200.0);
        assert!((hip - 960.0).abs() < 0.5, "hip {hip}");
        let hem = kurbo::Shape::bounding_box(&f.sew_line()).y1;
        assert!((hem - (380.0 + 550.0)).abs() < 1e-6);
    }
}
