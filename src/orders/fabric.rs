//! The fabric catalog: which fabrics orders may name, and the roll facts marker planning needs
//! (usable width, the rotations the grain or nap allows, the cutter's minimum gap).
//!
//! The service ships `seeds/fabric/fabrics.csv`; a factory with its own rolls points
//! `ATELIER_FABRICS` at a CSV file of the same shape.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The bundled catalog.
const BUNDLED_CSV: &str = include_str!("../../seeds/fabric/fabrics.csv");

/// A fabric catalog that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A row is malformed or holds an impossible value.
    #[error("fabric catalog line {line}: {reason}")]
    Row {
        /// 1-based line in the file (the header is line 1).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The catalog has no fabric.
    #[error("the fabric catalog is empty")]
    Empty,
}

/// One fabric roll type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Fabric {
    /// Code orders use in `fabric`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Usable width between the selvedges, mm.
    pub roll_width_mm: f64,
    /// Counter-clockwise rotations in degrees a piece may take once its grain line runs along
    /// the roll (`[0, 180]` for most wovens, `[0]` for a nap or pile).
    pub rotations: Vec<f64>,
    /// Smallest distance kept between two pieces, mm.
    pub min_gap_mm: f64,
}

#[derive(Deserialize)]
struct Row {
    id: String,
    name: String,
    roll_width_mm: f64,
    rotations: String,
    min_gap_mm: f64,
}

/// Every fabric the service knows, by id.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    fabrics: BTreeMap<String, Fabric>,
}

impl Catalog {
    /// The catalog shipped with the service (`seeds/fabric/fabrics.csv`).
    pub fn bundled() -> Result<Catalog, CatalogError> {
        Catalog::from_csv(BUNDLED_CSV)
    }

    /// Reads a catalog file.
    pub fn from_file(path: &Path) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Catalog::from_csv(&text)
    }

    /// Parses CSV with the columns `id,name,roll_width_mm,rotations,min_gap_mm`, checking every
    /// value, so that a bad catalog stops start-up instead of a marker plan.
    pub fn from_csv(text: &str) -> Result<Catalog, CatalogError> {
        let mut fabrics = BTreeMap::new();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        for (i, row) in reader.deserialize::<Row>().enumerate() {
            let line = i + 2;
            let bad = |reason: String| CatalogError::Row { line, reason };
            let row = row.map_err(|e| bad(e.to_string()))?;
            let fabric = fabric(row).map_err(bad)?;
            if fabrics.contains_key(&fabric.id) {
                return Err(bad(format!("fabric {} is listed twice", fabric.id)));
            }
            fabrics.insert(fabric.id.clone(), fabric);
        }
        if fabrics.is_empty() {
            return Err(CatalogError::Empty);
        }
        Ok(Catalog { fabrics })
    }

    /// The fabric with this id.
    pub fn get(&self, id: &str) -> Option<&Fabric> {
        self.fabrics.get(id)
    }

    /// Every fabric, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Fabric> {
        self.fabrics.values()
    }
}

fn fabric(row: Row) -> Result<Fabric, String> {
    let id = row.id.trim().to_owned();
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "id {id:?} must be 1-64 lowercase letters, digits or -"
        ));
    }
    if row.name.trim().is_empty() {
        return Err(format!("fabric {id} has no name"));
    }
    // Narrower than a ribbon or wider than any loom is a typo (cm or m instead of mm).
    if !(row.roll_width_mm.is_finite() && (100.0..=5000.0).contains(&row.roll_width_mm)) {
        return Err(format!(
            "fabric {id}: roll_width_mm {} is not between 100 and 5000 mm",
            row.roll_width_mm
        ));
    }
    if !(row.min_gap_mm.is_finite() && (0.0..=50.0).contains(&row.min_gap_mm)) {
        return Err(format!(
            "fabric {id}: min_gap_mm {} is not between 0 and 50 mm",
            row.min_gap_mm
        ));
    }
    let mut rotations = Vec::new();
    for r in row.rotations.split(',') {
        let degrees: f64 = r
            .trim()
            .parse()
            .map_err(|_| format!("fabric {id}: rotation {r:?} is not a number of degrees"))?;
        if !(degrees.is_finite() && (0.0..360.0).contains(&degrees)) {
            return Err(format!(
                "fabric {id}: rotation {degrees} is not in 0..360 degrees"
            ));
        }
        if rotations.contains(&degrees) {
            return Err(format!("fabric {id}: rotation {degrees} is listed twice"));
        }
        rotations.push(degrees);
    }
    Ok(Fabric {
        id,
        name: row.name.trim().to_owned(),
        roll_width_mm: row.roll_width_mm,
        rotations,
        min_gap_mm: row.min_gap_mm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "id,name,roll_width_mm,rotations,min_gap_mm\n";

    #[test]
    fn the_bundled_catalog_loads() {
        let c = Catalog::bundled().unwrap();
        let poplin = c.get("poplin-white").unwrap();
        assert_eq!(poplin.roll_width_mm, 1500.0);
        assert_eq!(poplin.rotations, [0.0, 180.0]);
        // A pile fabric lets every piece lie one way only.
        assert_eq!(c.get("velvet-black").unwrap().rotations, [0.0]);
        assert_eq!(c.get("interlining-white").unwrap().rotations.len(), 4);
        assert!(c.get("tweed").is_none());
        assert!(c.iter().count() >= 10);
    }

    #[test]
    fn bad_rows_name_their_line() {
        for (row, needle) in [
            ("Poplin,x,1500,0,3", "lowercase"),
            ("a,x,15,0,3", "roll_width_mm"),
            ("a,x,1500,\"0,45x\",3", "rotation"),
            ("a,x,1500,\"0,360\",3", "0..360"),
            ("a,x,1500,\"0,0\",3", "twice"),
            ("a,x,1500,0,-1", "min_gap_mm"),
            ("a,,1500,0,1", "no name"),
            ("a,x,wide,0,1", "line 2"),
        ] {
            let err = Catalog::from_csv(&format!("{HEADER}{row}\n")).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("line 2") && text.contains(needle),
                "{row}: {text}"
            );
        }
        let twice = format!("{HEADER}a,x,1500,0,1\na,y,1400,0,1\n");
        assert!(Catalog::from_csv(&twice)
            .unwrap_err()
            .to_string()
            .contains("line 3"));
        assert!(matches!(
            Catalog::from_csv(HEADER),
            Err(CatalogError::Empty)
        ));
    }
}
