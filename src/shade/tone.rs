//! Skin tone scales: Individual Typology Angle, Monk Skin Tone, undertone.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::color::Lab;

/// Individual Typology Angle ITA° = atan((L* - 50) / b*) in degrees (Chardon et al. 1991).
///
/// Written with `atan2` so that b* <= 0 (never seen on skin) still gives a defined angle.
pub fn ita_deg(lab: &Lab) -> f64 {
    (lab.l - 50.0).atan2(lab.b).to_degrees()
}

/// ITA skin categories (Del Bino et al. 2006).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItaCategory {
    /// ITA > 55°.
    VeryLight,
    /// 41° < ITA <= 55°.
    Light,
    /// 28° < ITA <= 41°.
    Intermediate,
    /// 10° < ITA <= 28°.
    Tan,
    /// -30° < ITA <= 10°.
    Brown,
    /// ITA <= -30°.
    Dark,
}

impl ItaCategory {
    /// Category of an ITA angle in degrees.
    pub fn from_ita(ita: f64) -> Self {
        match ita {
            x if x > 55.0 => Self::VeryLight,
            x if x > 41.0 => Self::Light,
            x if x > 28.0 => Self::Intermediate,
            x if x > 10.0 => Self::Tan,
            x if x > -30.0 => Self::Brown,
            _ => Self::Dark,
        }
    }
}

/// One of the ten Monk Skin Tone swatches (Monk 2019), with its CIELAB D65 value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MonkTone {
    /// 1 (lightest) .. 10 (darkest).
    pub level: u8,
    /// Swatch colour.
    pub lab: Lab,
}

/// The ten Monk Skin Tone swatches, parsed once from `seeds/shade/monk_skin_tone.csv`.
pub fn monk_scale() -> &'static [MonkTone] {
    static SCALE: OnceLock<Vec<MonkTone>> = OnceLock::new();
    SCALE.get_or_init(|| {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/seeds/shade/monk_skin_tone.csv"
        ));
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                let num = |i: usize| f.get(i).and_then(|s| s.trim().parse::<f64>().ok());
                Some(MonkTone {
                    level: f.first()?.trim().parse().ok()?,
                    lab: Lab::new(num(2)?, num(3)?, num(4)?),
                })
            })
            .collect()
    })
}

/// The Monk level nearest in CIEDE2000, with that distance.
pub fn nearest_monk(lab: &Lab) -> Option<(u8, f64)> {
    monk_scale()
        .iter()
        .map(|m| (m.level, m.lab.de00(lab)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Skin undertone read from the CIELAB hue angle h_ab.
///
/// Thresholds: cool below 59°, warm above 63°, neutral between. They are the midpoints between
/// the median hue angles of the catalog shades whose makers call them cool (56.9°), neutral
/// (61.3°) and warm (64.1°) (`tools/shade_build_catalog.py`, 3,112 labelled shades). The classes
/// overlap a lot (recall 0.58 cool, 0.18 neutral, 0.55 warm on those shades): hue angle is a weak
/// proxy for what a make-up artist calls undertone, so treat it as a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Undertone {
    /// Pinker, hue angle < 59°.
    Cool,
    /// 59° <= hue angle <= 63°.
    Neutral,
    /// More golden, hue angle > 63°.
    Warm,
}

/// Hue angle below which skin is called cool.
pub const COOL_BELOW_DEG: f64 = 59.0;
/// Hue angle above which skin is called warm.
pub const WARM_ABOVE_DEG: f64 = 63.0;

impl Undertone {
    /// Undertone of a skin colour.
    pub fn from_lab(lab: &Lab) -> Self {
        let h = lab.hue_deg();
        if h < COOL_BELOW_DEG {
            Self::Cool
        } else if h > WARM_ABOVE_DEG {
            Self::Warm
        } else {
            Self::Neutral
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ita_and_categories_agree_with_the_monk_table() {
        // The Monk CSV lists ITA and its category for each swatch; recompute both from Lab.
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/seeds/shade/monk_skin_tone.csv"
        ));
        let mut n = 0;
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let lab = Lab::new(
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            );
            let ita = ita_deg(&lab);
            assert!(
                (ita - f[5].parse::<f64>().unwrap()).abs() < 0.1,
                "{line}: {ita}"
            );
            let want = f[6].replace(' ', "_");
            let got = serde_json::to_value(ItaCategory::from_ita(ita)).unwrap();
            assert_eq!(got, want, "{line}");
            // Each swatch is its own nearest Monk tone.
            assert_eq!(nearest_monk(&lab).unwrap().0.to_string(), f[0]);
            // The hex column is the same colour.
            assert!(lab.de00(&Lab::from_hex(f[1]).unwrap()) < 0.5, "{line}");
            n += 1;
        }
        assert_eq!(n, 10);
    }

    #[test]
    fn category_boundaries() {
        assert_eq!(ItaCategory::from_ita(55.1), ItaCategory::VeryLight);
        assert_eq!(ItaCategory::from_ita(41.5), ItaCategory::Light);
        assert_eq!(ItaCategory::from_ita(30.0), ItaCategory::Intermediate);
        assert_eq!(ItaCategory::from_ita(10.5), ItaCategory::Tan);
        assert_eq!(ItaCategory::from_ita(-29.0), ItaCategory::Brown);
        assert_eq!(ItaCategory::from_ita(-31.0), ItaCategory::Dark);
    }

    #[test]
    fn undertone_thresholds() {
        let at = |h: f64| {
            Lab::new(
                60.0,
                20.0 * h.to_radians().cos(),
                20.0 * h.to_radians().sin(),
            )
        };
        assert_eq!(Undertone::from_lab(&at(50.0)), Undertone::Cool);
        assert_eq!(Undertone::from_lab(&at(61.0)), Undertone::Neutral);
        assert_eq!(Undertone::from_lab(&at(70.0)), Undertone::Warm);
    }
}
