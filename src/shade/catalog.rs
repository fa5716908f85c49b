//! Foundation shade catalogs, nearest-shade search by CIEDE2000 and two-shade blends.
//!
//! Mixing model for blends: Kubelka-Munk single-constant mixing applied per channel to the linear
//! sRGB values of the swatches, read as three broadband reflectances. Each shade's K/S =
//! (1 - R)² / 2R is mixed linearly by mass share and turned back into R. This follows pigment
//! (subtractive) mixing rather than averaging light, so a mix is darker than the average of the
//! two colours, as mixed foundation is. Limits: three broad bands stand in for a spectrum, the
//! swatch images are screen renderings not measured reflectances, and both shades are assumed to
//! share one base and pigment set (hence blends only within one product); expect the predicted
//! mix to be good to a few ΔE00, not better.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::Error;
use crate::color::space::{linear_srgb_to_lab, linear_to_srgb8};
use crate::color::Lab;

/// A catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shade {
    /// Brand name.
    pub brand: String,
    /// Product (foundation line) name.
    pub product: String,
    /// Shade name within the product.
    pub shade: String,
    /// Swatch colour as sRGB `#RRGGBB`.
    pub hex: String,
    /// Swatch colour in CIELAB D65.
    pub lab: Lab,
}

/// A shade and its distance to the skin colour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadeMatch {
    /// Brand name.
    pub brand: String,
    /// Product name.
    pub product: String,
    /// Shade name.
    pub shade: String,
    /// Swatch colour `#RRGGBB`.
    pub hex: String,
    /// CIEDE2000 between the swatch and the skin colour.
    pub de00: f64,
}

/// The best shades of one brand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrandMatches {
    /// Brand name.
    pub brand: String,
    /// Best shades of that brand, nearest first.
    pub matches: Vec<ShadeMatch>,
}

/// A two-shade mix within one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blend {
    /// Brand name.
    pub brand: String,
    /// Product name.
    pub product: String,
    /// The two shades, with their swatch colours.
    pub shades: [ShadeMatch; 2],
    /// Mass share of the first shade, 0..1 (the second gets 1 - ratio).
    pub ratio: f64,
    /// Predicted colour of the mix.
    pub hex: String,
    /// CIEDE2000 between the predicted mix and the skin colour.
    pub de00: f64,
    /// The mixing model used for the prediction.
    pub model: String,
}

/// A set of shades to match against.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    shades: Vec<Shade>,
}

impl Catalog {
    /// The catalog shipped in `seeds/shade/foundations.csv` (The Pudding, MIT; see its README).
    pub fn builtin() -> Result<&'static Catalog, Error> {
        static BUILTIN: OnceLock<Result<Catalog, String>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let text = include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/seeds/shade/foundations.csv"
                ));
                Catalog::from_csv(text.as_bytes()).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::BuiltinCatalog(e.clone()))
    }

    /// Reads a CSV catalog with a header row: `brand`, `product`, `shade`, and either `hex`
    /// (`#RRGGBB` sRGB) or `L`, `a`, `b` (CIELAB D65). Header names are case-insensitive and
    /// other columns are ignored.
    pub fn from_csv<R: Read>(reader: R) -> Result<Self, Error> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| Error::Catalog(format!("header: {e}")))?
            .iter()
            .map(str::to_ascii_lowercase)
            .collect();
        let col = |name: &str| headers.iter().position(|h| h == name);
        let need = |name: &str| {
            col(name).ok_or_else(|| Error::Catalog(format!("missing column {name:?}")))
        };
        let (ib, ip, is) = (need("brand")?, need("product")?, need("shade")?);
        let (ih, il, ia, ibb) = (col("hex"), col("l"), col("a"), col("b"));
        if ih.is_none() && (il.is_none() || ia.is_none() || ibb.is_none()) {
            return Err(Error::Catalog(
                "need a hex column or L, a, b columns".into(),
            ));
        }
        let mut shades = Vec::new();
        for (row, rec) in rdr.records().enumerate() {
            let line = row + 2;
            let rec = rec.map_err(|e| Error::Catalog(format!("line {line}: {e}")))?;
            let field = |i: usize| rec.get(i).unwrap_or("").to_string();
            let number = |i: Option<usize>| {
                i.and_then(|i| rec.get(i))
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|v| v.is_finite())
            };
            let hex_field = ih.map(field).filter(|s| !s.is_empty());
            let lab = match (&hex_field, number(il), number(ia), number(ibb)) {
                (Some(h), ..) => {
                    Lab::from_hex(h).map_err(|e| Error::Catalog(format!("line {line}: {e}")))?
                }
                (None, Some(l), Some(a), Some(b)) => Lab::new(l, a, b),
                _ => return Err(Error::Catalog(format!("line {line}: no colour"))),
            };
            shades.push(Shade {
                brand: field(ib),
                product: field(ip),
                shade: field(is),
                hex: hex_field.map_or_else(|| lab.to_hex(), |h| h.to_ascii_uppercase()),
                lab,
            });
        }
        if shades.is_empty() {
            return Err(Error::Catalog("no shades".into()));
        }
        Ok(Self { shades })
    }

    /// All shades.
    pub fn shades(&self) -> &[Shade] {
        &self.shades
    }

    /// The `k` shades nearest to `skin` by CIEDE2000.
    pub fn top_k(&self, skin: &Lab, k: usize) -> Vec<ShadeMatch> {
        let mut all: Vec<ShadeMatch> = self
            .nearest_pool(skin, k)
            .map(|s| to_match(s, skin))
            .collect();
        all.sort_by(|a, b| a.de00.total_cmp(&b.de00));
        all.truncate(k);
        all
    }

    /// Shades worth a CIEDE2000 evaluation: the `POOL + k` nearest by the cheap CIE76 distance.
    /// CIEDE2000 reorders neighbours but never promotes a shade from that far down the CIE76 list
    /// (the two differ by well under a factor of two on skin colours), so the top k is exact.
    fn nearest_pool<'a>(&'a self, skin: &Lab, k: usize) -> impl Iterator<Item = &'a Shade> {
        let mut by76: Vec<(f64, &Shade)> = self
            .shades
            .iter()
            .map(|s| (de76_sq(&s.lab, skin), s))
            .collect();
        let keep = (POOL + k).min(by76.len());
        if keep < by76.len() {
            by76.select_nth_unstable_by(keep, |a, b| a.0.total_cmp(&b.0));
            by76.truncate(keep);
        }
        by76.into_iter().map(|(_, s)| s)
    }

    /// The `k` nearest shades of each brand, brands ordered by their best match.
    pub fn top_k_per_brand(&self, skin: &Lab, k: usize) -> Vec<BrandMatches> {
        let mut by_brand: BTreeMap<&str, Vec<(f64, &Shade)>> = BTreeMap::new();
        for s in &self.shades {
            by_brand
                .entry(&s.brand)
                .or_default()
                .push((de76_sq(&s.lab, skin), s));
        }
        let mut out: Vec<BrandMatches> = by_brand
            .into_iter()
            .map(|(brand, mut cands)| {
                cands.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut m: Vec<ShadeMatch> = cands
                    .iter()
                    .take(k + 12)
                    .map(|(_, s)| to_match(s, skin))
                    .collect();
                m.sort_by(|a, b| a.de00.total_cmp(&b.de00));
                m.truncate(k);
                BrandMatches {
                    brand: brand.to_string(),
                    matches: m,
                }
            })
            .collect();
        let best = |b: &BrandMatches| b.matches.first().map_or(f64::INFINITY, |m| m.de00);
        out.sort_by(|a, b| best(a).total_cmp(&best(b)));
        out
    }

    /// The two-shade mix within one product that comes closest to `skin`.
    ///
    /// Each product contributes its four shades nearest to the skin, and only products whose
    /// nearest shade is within 3 ΔE00 of the overall best are tried (a mix cannot beat its
    /// ingredients by much more). The mass share is found by golden-section search to 0.005 (the
    /// distance is unimodal along the mixing line).
    pub fn best_blend(&self, skin: &Lab) -> Option<Blend> {
        let mut products: BTreeMap<(&str, &str), Vec<(f64, &Shade)>> = BTreeMap::new();
        for s in &self.shades {
            products
                .entry((&s.brand, &s.product))
                .or_default()
                .push((de76_sq(&s.lab, skin), s));
        }
        let candidates: Vec<(ProductKey, Vec<(&Shade, f64)>)> = products
            .into_iter()
            .filter(|(_, v)| v.len() >= 2)
            .map(|(key, mut v)| {
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut near: Vec<(&Shade, f64)> = v
                    .iter()
                    .take(4)
                    .map(|(_, s)| (*s, s.lab.de00(skin)))
                    .collect();
                near.sort_by(|a, b| a.1.total_cmp(&b.1));
                (key, near)
            })
            .collect();
        let overall = candidates
            .iter()
            .filter_map(|(_, v)| v.first().map(|x| x.1))
            .fold(f64::INFINITY, f64::min);
        let mut best: Option<Blend> = None;
        for ((brand, product), shades) in candidates {
            if shades.first().is_none_or(|x| x.1 > overall + 3.0) {
                continue;
            }
            for (i, (s1, _)) in shades.iter().enumerate() {
                for (s2, _) in shades.iter().skip(i + 1) {
                    let (r1, r2) = (s1.lab.to_linear_srgb(), s2.lab.to_linear_srgb());
                    let dist = |t: f64| linear_srgb_to_lab(km_mix(r1, r2, t)).de00(skin);
                    let t = golden_min(dist, 0.0, 1.0, 0.005);
                    let d = dist(t);
                    if best.as_ref().is_none_or(|b| d < b.de00) {
                        let [r, g, b] = linear_to_srgb8(km_mix(r1, r2, t));
                        best = Some(Blend {
                            brand: brand.to_string(),
                            product: product.to_string(),
                            shades: [to_match(s1, skin), to_match(s2, skin)],
                            ratio: (t * 100.0).round() / 100.0,
                            hex: format!("#{r:02X}{g:02X}{b:02X}"),
                            de00: d,
                            model: "kubelka_munk_per_channel_linear_srgb".into(),
                        });
                    }
                }
            }
        }
        best
    }
}

/// (brand, product).
type ProductKey<'a> = (&'a str, &'a str);

/// Shades beyond the k wanted that get a full CIEDE2000 evaluation.
const POOL: usize = 200;

fn de76_sq(x: &Lab, y: &Lab) -> f64 {
    (x.l - y.l).powi(2) + (x.a - y.a).powi(2) + (x.b - y.b).powi(2)
}

/// Minimum of a unimodal function on [lo, hi] by golden-section search.
fn golden_min(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64, tol: f64) -> f64 {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (hi - g * (hi - lo), lo + g * (hi - lo));
    let (mut fa, mut fb) = (f(a), f(b));
    while hi - lo > tol {
        if fa < fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - g * (hi - lo);
            fa = f(a);
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + g * (hi - lo);
            fb = f(b);
        }
    }
    (lo + hi) / 2.0
}

fn to_match(s: &Shade, skin: &Lab) -> ShadeMatch {
    ShadeMatch {
        brand: s.brand.clone(),
        product: s.product.clone(),
        shade: s.shade.clone(),
        hex: s.hex.clone(),
        de00: s.lab.de00(skin),
    }
}

/// Kubelka-Munk single-constant mix of two reflectance triples, `t` parts of `a`.
pub fn km_mix(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    let ks = |r: f64| {
        let r = r.clamp(1e-4, 1.0);
        (1.0 - r) * (1.0 - r) / (2.0 * r)
    };
    std::array::from_fn(|c| {
        let k = t * ks(a[c]) + (1.0 - t) * ks(b[c]);
        1.0 + k - (k * k + 2.0 * k).sqrt()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_loads_without_near_greys() {
        let cat = Catalog::builtin().unwrap();
        assert!(cat.shades().len() > 6000);
        assert!(cat.shades().iter().all(|s| s.lab.chroma() >= 4.0));
        let brands: std::collections::BTreeSet<&str> =
            cat.shades().iter().map(|s| s.brand.as_str()).collect();
        assert!(brands.len() > 100);
    }

    #[test]
    fn custom_catalog_with_hex_or_lab() {
        let csv = "Brand,Product,Shade,hex\nA,Fluid,110,#F0D0B0\nA,Fluid,120,#E0B890\nB,Stick,1,#C09070\n";
        let cat = Catalog::from_csv(csv.as_bytes()).unwrap();
        let target = Lab::from_hex("#E0B890").unwrap();
        let top = cat.top_k(&target, 2);
        assert_eq!(top[0].shade, "120");
        assert!(top[0].de00 < 1e-9);
        let per = cat.top_k_per_brand(&target, 1);
        assert_eq!(per.len(), 2);
        assert_eq!(per[0].brand, "A");
        let lab_csv = "brand,product,shade,L,a,b\nX,Y,Z,60,12,20\n";
        let cat = Catalog::from_csv(lab_csv.as_bytes()).unwrap();
        assert_eq!(cat.shades()[0].lab, Lab::new(60.0, 12.0, 20.0));
        assert!(Catalog::from_csv("brand,product\nA,B\n".as_bytes()).is_err());
        assert!(Catalog::from_csv("brand,product,shade,hex\nA,B,C,#12\n".as_bytes()).is_err());
    }

    #[test]
    fn blend_lands_between_two_shades_and_mixes_subtractively() {
        let csv = "brand,product,shade,hex\nA,Fluid,light,#F0D0B0\nA,Fluid,dark,#B08060\nB,Other,x,#7090C0\n";
        let cat = Catalog::from_csv(csv.as_bytes()).unwrap();
        let (l, d) = (
            Lab::from_hex("#F0D0B0").unwrap().to_linear_srgb(),
            Lab::from_hex("#B08060").unwrap().to_linear_srgb(),
        );
        let target = linear_srgb_to_lab(km_mix(l, d, 0.3));
        let blend = cat.best_blend(&target).unwrap();
        assert_eq!(blend.product, "Fluid");
        let ratio_light = if blend.shades[0].shade == "light" {
            blend.ratio
        } else {
            1.0 - blend.ratio
        };
        assert!((ratio_light - 0.3).abs() < 0.011, "{blend:?}");
        // Pool pruning must not change the exact top-k on the real catalog.
        let real = Catalog::builtin().unwrap();
        let skin = Lab::new(62.0, 14.0, 19.0);
        let mut brute: Vec<f64> = real.shades().iter().map(|s| s.lab.de00(&skin)).collect();
        brute.sort_by(f64::total_cmp);
        let fast: Vec<f64> = real.top_k(&skin, 10).iter().map(|m| m.de00).collect();
        assert_eq!(fast, brute[..10].to_vec());
        assert!(blend.de00 < 0.3);
        // Pigment mixing is darker than averaging light.
        let avg: [f64; 3] = std::array::from_fn(|c| 0.5 * (l[c] + d[c]));
        assert!(linear_srgb_to_lab(km_mix(l, d, 0.5)).l < linear_srgb_to_lab(avg).l);
    }
}
