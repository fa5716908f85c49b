//! The committed list of model files with their sha256.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Error;

/// The manifest committed as `models/manifest.json`, compiled into the binary so that a models
/// folder elsewhere (`ATELIER_MODELS_DIR`) is checked against the same hashes.
const MANIFEST_JSON: &str = include_str!("../../models/manifest.json");

/// Which package the models come from and the hash of each file.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// The pip requirement that provides the wheel, e.g. `mediapipe==0.10.14`.
    pub package: String,
    /// Licence of the model files.
    pub licence: String,
    /// The model files.
    pub files: Vec<ModelFile>,
}

/// One model file of the manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelFile {
    /// File name inside the models folder.
    pub name: String,
    /// Member path inside the wheel.
    pub wheel_path: String,
    /// Expected lowercase hex sha256.
    pub sha256: String,
}

impl Manifest {
    /// The manifest built into this binary.
    pub fn builtin() -> Result<Self, Error> {
        serde_json::from_str(MANIFEST_JSON).map_err(|e| Error::Manifest(e.to_string()))
    }

    /// Checks every file in `dir`; the first missing or differing file is the error.
    pub fn verify_dir(&self, dir: &Path) -> Result<(), Error> {
        self.files
            .iter()
            .try_for_each(|f| f.verify(&dir.join(&f.name)))
    }
}

impl ModelFile {
    /// Checks that `path` exists and hashes to the manifest's sha256.
    pub fn verify(&self, path: &Path) -> Result<(), Error> {
        if !path.exists() {
            return Err(Error::Missing(path.to_path_buf()));
        }
        let actual = sha256_file(path)?;
        if actual != self.sha256 {
            return Err(Error::Checksum {
                path: path.to_path_buf(),
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}

/// Lowercase hex sha256 of a file, streamed.
pub(super) fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(Error::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_lists_the_five_models() {
        let m = Manifest::builtin().unwrap();
        assert_eq!(m.package, "mediapipe==0.10.14");
        assert_eq!(m.files.len(), 5);
        assert!(m
            .files
            .iter()
            .all(|f| f.sha256.len() == 64 && f.wheel_path.ends_with(&f.name)));
    }

    #[test]
    fn a_changed_byte_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tflite");
        std::fs::write(&path, b"model bytes").unwrap();
        let good = ModelFile {
            name: "m.tflite".into(),
            wheel_path: "x/m.tflite".into(),
            sha256: sha256_file(&path).unwrap(),
        };
        good.verify(&path).unwrap();
        std::fs::write(&path, b"model bytez").unwrap();
        assert!(matches!(good.verify(&path), Err(Error::Checksum { .. })));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(good.verify(&path), Err(Error::Missing(_))));
    }
}
