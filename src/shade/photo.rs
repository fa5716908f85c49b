//! The whole counter request on a photo: find the faces, measure the largest, match shades.

use image::RgbImage;

use super::{analyse_regions, Catalog, Error, FaceRegions, ShadeOptions, ShadeReport, Warning};
use crate::vision::FaceMesher;

/// A photo's shade report and the face regions it sampled (for the swatch picture).
pub struct PhotoAnalysis {
    /// Skin, correction, matches and warnings.
    pub report: ShadeReport,
    /// Where the skin was sampled.
    pub regions: FaceRegions,
}

/// Finds the faces in `img`, analyses the largest one with a mesh (adding
/// [`Warning::SeveralFaces`] when there are more) and matches it against `catalog`.
pub fn analyse_photo(
    faces: &FaceMesher,
    img: &RgbImage,
    catalog: &Catalog,
    options: &ShadeOptions,
) -> Result<PhotoAnalysis, Error> {
    let found = faces.detect(img)?;
    let meshed: Vec<_> = found
        .faces
        .iter()
        .filter_map(|f| f.mesh.as_ref().map(|mesh| (f.bbox.w * f.bbox.h, mesh)))
        .collect();
    let (_, largest) = meshed
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .ok_or(Error::NoFace)?;
    let regions = FaceRegions::from_mesh(largest)?;
    let mut report = analyse_regions(img, &regions, catalog, options)?;
    if meshed.len() > 1 {
        report.warnings.push(Warning::SeveralFaces);
    }
    Ok(PhotoAnalysis { report, regions })
}
