//! sRGB <-> linear sRGB <-> XYZ <-> CIELAB (D65), Bradford adaptation from D50, CIEDE2000.
//!
//! The conversions delegate to the `palette` crate; this module only fixes the conventions used
//! across atelier: CIELAB is always relative to D65 (2 degree observer), linear RGB is linear sRGB
//! (BT.709 primaries) in 0..1, and data measured under D50 (ColorChecker references) is brought
//! to D65 with the Bradford transform.

use std::sync::OnceLock;

use palette::chromatic_adaptation::AdaptIntoUnclamped;
use palette::color_difference::Ciede2000;
use palette::white_point::{D50, D65};
use palette::{FromColor, IntoColor, LinSrgb, Srgb, Xyz};
use serde::{Deserialize, Serialize};

use super::Error;

/// A CIELAB colour relative to the D65 white (2 degree observer).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lab {
    /// Lightness L*, 0..100.
    pub l: f64,
    /// Green (-) to red (+) axis a*.
    pub a: f64,
    /// Blue (-) to yellow (+) axis b*.
    pub b: f64,
}

impl Lab {
    /// Builds a colour from its three coordinates.
    pub fn new(l: f64, a: f64, b: f64) -> Self {
        Self { l, a, b }
    }

    /// Chroma C*ab.
    pub fn chroma(&self) -> f64 {
        self.a.hypot(self.b)
    }

    /// Hue angle h_ab in degrees, 0..360.
    pub fn hue_deg(&self) -> f64 {
        self.b.atan2(self.a).to_degrees().rem_euclid(360.0)
    }

    /// CIEDE2000 colour difference (kL = kC = kH = 1).
    pub fn de00(&self, other: &Lab) -> f64 {
        ciede2000(*self, *other)
    }

    /// Converts to linear sRGB (not clamped: out-of-gamut colours give values outside 0..1).
    pub fn to_linear_srgb(&self) -> [f64; 3] {
        let lin: LinSrgb<f64> = palette::Lab::<D65, f64>::new(self.l, self.a, self.b).into_color();
        [lin.red, lin.green, lin.blue]
    }

    /// Converts to 8-bit sRGB, clamping out-of-gamut colours.
    pub fn to_srgb8(&self) -> [u8; 3] {
        linear_to_srgb8(self.to_linear_srgb())
    }

    /// `#RRGGBB` of the clamped sRGB colour.
    pub fn to_hex(&self) -> String {
        let [r, g, b] = self.to_srgb8();
        format!("#{r:02X}{g:02X}{b:02X}")
    }

    /// Parses `#RRGGBB` or `RRGGBB` (sRGB) into CIELAB D65.
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        Ok(srgb8_to_lab(parse_hex(hex)?))
    }

    /// Converts a CIELAB colour measured relative to D50 into D65 with the Bradford transform.
    pub fn from_d50(l: f64, a: f64, b: f64) -> Self {
        let xyz50: Xyz<D50, f64> = palette::Lab::<D50, f64>::new(l, a, b).into_color();
        let xyz65: Xyz<D65, f64> = xyz50.adapt_into_unclamped();
        let lab = palette::Lab::<D65, f64>::from_color(xyz65);
        Self::new(lab.l, lab.a, lab.b)
    }
}

/// Parses `#RRGGBB` (the `#` is optional) into 8-bit sRGB.
pub fn parse_hex(hex: &str) -> Result<[u8; 3], Error> {
    let digits = hex.trim().trim_start_matches('#');
    let bad = || Error::BadHex(hex.to_string());
    if digits.len() != 6 || !digits.is_ascii() {
        return Err(bad());
    }
    let channel = |i: usize| {
        digits
            .get(i..i + 2)
            .and_then(|s| u8::from_str_radix(s, 16).ok())
            .ok_or_else(bad)
    };
    Ok([channel(0)?, channel(2)?, channel(4)?])
}

/// Decodes 8-bit sRGB into linear sRGB (0..1) through a 256-entry table (it runs per pixel).
pub fn srgb8_to_linear(c: [u8; 3]) -> [f64; 3] {
    let lut = srgb_decode_table();
    [
        lut[usize::from(c[0])],
        lut[usize::from(c[1])],
        lut[usize::from(c[2])],
    ]
}

fn srgb_decode_table() -> &'static [f64; 256] {
    static TABLE: OnceLock<[f64; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0.0; 256];
        for (i, v) in t.iter_mut().enumerate() {
            let c = i as f64 / 255.0;
            *v = Srgb::new(c, c, c).into_linear::<f64>().red;
        }
        t
    })
}

/// Encodes linear sRGB into 8-bit sRGB, clamping to 0..1 first.
pub fn linear_to_srgb8(c: [f64; 3]) -> [u8; 3] {
    let lin = LinSrgb::new(
        c[0].clamp(0.0, 1.0),
        c[1].clamp(0.0, 1.0),
        c[2].clamp(0.0, 1.0),
    );
    let s: Srgb<f64> = Srgb::from_linear(lin);
    let q = |v: f64| (v * 255.0).round().clamp(0.0, 255.0) as u8;
    [q(s.red), q(s.green), q(s.blue)]
}

/// Linear sRGB -> CIE XYZ (D65, Y of white = 1).
pub fn linear_srgb_to_xyz(c: [f64; 3]) -> [f64; 3] {
    let xyz: Xyz<D65, f64> = LinSrgb::new(c[0], c[1], c[2]).into_color();
    [xyz.x, xyz.y, xyz.z]
}

/// CIE XYZ (D65) -> linear sRGB, not clamped.
pub fn xyz_to_linear_srgb(c: [f64; 3]) -> [f64; 3] {
    let lin: LinSrgb<f64> = Xyz::<D65, f64>::new(c[0], c[1], c[2]).into_color();
    [lin.red, lin.green, lin.blue]
}

/// Linear sRGB -> CIELAB D65.
pub fn linear_srgb_to_lab(c: [f64; 3]) -> Lab {
    let lab: palette::Lab<D65, f64> = LinSrgb::new(c[0], c[1], c[2]).into_color();
    Lab::new(lab.l, lab.a, lab.b)
}

/// 8-bit sRGB -> CIELAB D65.
pub fn srgb8_to_lab(c: [u8; 3]) -> Lab {
    linear_srgb_to_lab(srgb8_to_linear(c))
}

/// CIEDE2000 colour difference (Sharma, Wu and Dalal 2005), kL = kC = kH = 1.
pub fn ciede2000(x: Lab, y: Lab) -> f64 {
    let p = palette::Lab::<D65, f64>::new(x.l, x.a, x.b);
    let q = palette::Lab::<D65, f64>::new(y.l, y.a, y.b);
    p.difference(q)
}

/// Bradford chromatic adaptation matrix in linear sRGB from D65 to the white point `to` (XYZ, Y = 1).
///
/// Used to simulate illuminant casts: a camera balanced for D65 that photographs a scene lit by
/// `to` records roughly `M * rgb`.
pub fn bradford_cast_matrix(to: [f64; 3]) -> [[f64; 3]; 3] {
    const BFD: [[f64; 3]; 3] = [
        [0.8951, 0.2664, -0.1614],
        [-0.7502, 1.7135, 0.0367],
        [0.0389, -0.0685, 1.0296],
    ];
    let m = nalgebra::Matrix3::from_fn(|r, c| BFD[r][c]);
    let m_inv = m.try_inverse().unwrap_or_else(nalgebra::Matrix3::identity);
    let d65 = nalgebra::Vector3::new(0.95047, 1.0, 1.08883);
    let w = nalgebra::Vector3::new(to[0], to[1], to[2]);
    let (s, d) = (m * d65, m * w);
    let gain = nalgebra::Matrix3::from_diagonal(&nalgebra::Vector3::new(
        d[0] / s[0],
        d[1] / s[1],
        d[2] / s[2],
    ));
    let to_xyz = rgb_xyz_matrix();
    let from_xyz = to_xyz
        .try_inverse()
        .unwrap_or_else(nalgebra::Matrix3::identity);
    let cast = from_xyz * m_inv * gain * m * to_xyz;
    std::array::from_fn(|r| std::array::from_fn(|c| cast[(r, c)]))
}

fn rgb_xyz_matrix() -> nalgebra::Matrix3<f64> {
    let cols = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]].map(linear_srgb_to_xyz);
    nalgebra::Matrix3::from_fn(|r, c| cols[c][r])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARMA: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/color/ciede2000_sharma.csv"
    ));

    #[test]
    fn ciede2000_matches_all_34_sharma_pairs() {
        let mut n = 0;
        for line in SHARMA.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let v: Vec<f64> = line.split(',').map(|s| s.trim().parse().unwrap()).collect();
            let (x, y) = (Lab::new(v[0], v[1], v[2]), Lab::new(v[3], v[4], v[5]));
            let d = ciede2000(x, y);
            assert!((d - v[6]).abs() < 1e-4, "pair {n}: {d} vs {}", v[6]);
            assert!((ciede2000(y, x) - v[6]).abs() < 1e-4, "pair {n} swapped");
            n += 1;
        }
        assert_eq!(n, 34);
    }

    #[test]
    fn conversions_match_colour_science_reference() {
        // Reference rows written by tools/color_reference.py (colour-science 0.4.6).
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/color/conversions.csv"
        ));
        let mut n = 0;
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let rgb = parse_hex(f[0]).unwrap();
            let v: Vec<f64> = f[1..].iter().map(|s| s.parse().unwrap()).collect();
            let lin = srgb8_to_linear(rgb);
            let xyz = linear_srgb_to_xyz(lin);
            let lab = srgb8_to_lab(rgb);
            for k in 0..3 {
                assert!((lin[k] - v[k]).abs() < 1e-6, "{line}: linear");
                assert!((xyz[k] - v[3 + k]).abs() < 2e-4, "{line}: xyz {xyz:?}");
            }
            assert!(
                lab.de00(&Lab::new(v[6], v[7], v[8])) < 0.02,
                "{line}: lab {lab:?}"
            );
            let d65 = Lab::from_d50(v[9], v[10], v[11]);
            assert!(
                d65.de00(&Lab::new(v[12], v[13], v[14])) < 0.02,
                "{line}: bradford {d65:?}"
            );
            assert_eq!(lab.to_srgb8(), rgb, "{line}: round trip");
            n += 1;
        }
        assert!(n >= 20);
    }

    #[test]
    fn hex_parsing_rejects_garbage() {
        assert!(parse_hex("#12345").is_err());
        assert!(parse_hex("#12345G").is_err());
        assert!(parse_hex("#ÄÄÄ").is_err());
        assert_eq!(parse_hex("a06f4a").unwrap(), [0xA0, 0x6F, 0x4A]);
    }

    #[test]
    fn cast_to_d65_is_identity() {
        let m = bradford_cast_matrix([0.95047, 1.0, 1.08883]);
        for (r, row) in m.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let want = if r == c { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-9);
            }
        }
    }
}
