//! Reading ANSUR II CSV files (or samples of them with fewer columns).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model::Sex;
use super::{Error, Result};

/// ANSUR II columns that describe the subject or the survey rather than the body.
const METADATA_COLUMNS: [&str; 16] = [
    "subjectid",
    "Gender",
    "Date",
    "Installation",
    "Component",
    "Branch",
    "PrimaryMOS",
    "SubjectsBirthLocation",
    "SubjectNumericRace",
    "Ethnicity",
    "DODRace",
    "Age",
    // Self-reported, with outliers: never train on them.
    "Heightin",
    "Weightlbs",
    "WritingPreference",
    "sex",
];

/// One input file, identified for provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// File name (no directory, so provenance does not depend on where data lay).
    pub file: String,
    /// sha256 of the file bytes, lowercase hex.
    pub sha256: String,
    /// Number of data rows read.
    pub rows: usize,
}

/// One surveyed subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// ANSUR subject id.
    pub id: u64,
    /// Sex recorded by the survey.
    pub sex: Sex,
    /// Values in ANSUR units, in the order of [`AnsurData::columns`].
    pub values: Vec<f64>,
}

/// ANSUR II subjects with the body columns common to all files read.
#[derive(Debug, Clone, PartialEq)]
pub struct AnsurData {
    /// Body measurement columns (ANSUR names).
    pub columns: Vec<String>,
    /// Subjects of all files.
    pub subjects: Vec<Subject>,
    /// Files read, with their hashes.
    pub sources: Vec<SourceFile>,
}

impl AnsurData {
    /// Position of a column.
    pub fn column_index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }
}

/// Reads `ansur2_female.csv` and `ansur2_male.csv` from a directory.
pub fn load_dir(dir: &Path) -> Result<AnsurData> {
    let files = [dir.join("ansur2_female.csv"), dir.join("ansur2_male.csv")];
    load_files(&files)
}

/// Reads ANSUR II CSV files; sex comes from a `Gender` or `sex` column.
pub fn load_files(paths: &[PathBuf]) -> Result<AnsurData> {
    let mut parts = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            action: "reading",
            path: path.clone(),
            source,
        })?;
        parts.push(parse_file(path, &bytes)?);
    }
    let Some(first) = parts.first() else {
        return Err(Error::Data {
            context: "input".into(),
            message: "no files given".into(),
        });
    };
    // Keep only the columns every file has, in the first file's order.
    let columns: Vec<String> = first
        .columns
        .iter()
        .filter(|c| parts.iter().all(|p| p.columns.contains(c)))
        .cloned()
        .collect();
    let mut subjects = Vec::new();
    let mut sources = Vec::new();
    for part in parts {
        let map: Vec<usize> = columns
            .iter()
            .filter_map(|c| part.columns.iter().position(|pc| pc == c))
            .collect();
        for s in part.subjects {
            let values = map
                .iter()
                .filter_map(|&i| s.values.get(i).copied())
                .collect();
            subjects.push(Subject {
                id: s.id,
                sex: s.sex,
                values,
            });
        }
        sources.push(part.source);
    }
    Ok(AnsurData {
        columns,
        subjects,
        sources,
    })
}

struct ParsedFile {
    columns: Vec<String>,
    subjects: Vec<Subject>,
    source: SourceFile,
}

fn parse_file(path: &Path, bytes: &[u8]) -> Result<ParsedFile> {
    let context = path.display().to_string();
    let csv_err = |source| Error::Csv {
        context: context.clone(),
        source,
    };
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader.headers().map_err(csv_err)?.clone();
    let find = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let id_col = find("subjectid").ok_or_else(|| Error::MissingColumn {
        context: context.clone(),
        column: "subjectid".into(),
    })?;
    let sex_col = find("Gender")
        .or_else(|| find("sex"))
        .ok_or_else(|| Error::MissingColumn {
            context: context.clone(),
            column: "Gender".into(),
        })?;
    let body: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| !METADATA_COLUMNS.iter().any(|m| m.eq_ignore_ascii_case(h)))
        .map(|(i, h)| (i, h.to_string()))
        .collect();
    let mut subjects = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(csv_err)?;
        let line = row + 1;
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let id = field(id_col)
            .parse::<u64>()
            .map_err(|_| Error::InvalidValue {
                field: "subjectid".into(),
                row: line,
                value: field(id_col).into(),
                reason: "not an integer id",
            })?;
        let sex = Sex::parse(field(sex_col), line)?.ok_or_else(|| Error::InvalidValue {
            field: "Gender".into(),
            row: line,
            value: String::new(),
            reason: "empty",
        })?;
        let mut values = Vec::with_capacity(body.len());
        for (i, name) in &body {
            let text = field(*i);
            let value = text
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0);
            values.push(value.ok_or_else(|| Error::InvalidValue {
                field: name.clone(),
                row: line,
                value: text.into(),
                reason: "not a positive number",
            })?);
        }
        subjects.push(Subject { id, sex, values });
    }
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| context.clone());
    Ok(ParsedFile {
        columns: body.into_iter().map(|(_, n)| n).collect(),
        source: SourceFile {
            file,
            sha256: sha256_hex(bytes),
            rows: subjects.len(),
        },
        subjects,
    })
}

/// sha256 of bytes as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Deterministic fold of a subject for k-fold splits: a hash of the id, so folds do not follow file order.
pub fn fold_of(id: u64, folds: u64) -> u64 {
    // splitmix64 finaliser: a fixed, well-mixed hash that needs no random-number crate.
    let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    z % folds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn folds_are_balanced() {
        let mut counts = [0usize; 5];
        for id in 10_000..15_000u64 {
            if let Some(c) = counts.get_mut(fold_of(id, 5) as usize) {
                *c += 1;
            }
        }
        assert!(
            counts.iter().all(|&c| (900..1100).contains(&c)),
            "{counts:?}"
        );
    }
}
