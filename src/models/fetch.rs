//! Fetching the model files from the `mediapipe` wheel.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use indicatif::{ProgressBar, ProgressStyle};

use super::manifest::sha256_file;
use super::{Error, Manifest};

/// Where to put the models and how to get them.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Folder the `.tflite` files go to.
    pub models_dir: PathBuf,
    /// Folder the downloaded wheel is kept in, so a second fetch needs no network.
    pub cache_dir: PathBuf,
    /// Python interpreter that runs `pip download`.
    pub python: String,
    /// Draw progress bars (off in tests and when output is not a terminal).
    pub progress: bool,
}

impl FetchOptions {
    /// Options for `models_dir` with the cache and interpreter from `ATELIER_CACHE_DIR` and
    /// `ATELIER_PYTHON` (defaults: `$XDG_CACHE_HOME/atelier` or `~/.cache/atelier`, and `python3`).
    pub fn new(models_dir: impl Into<PathBuf>) -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let cache_dir = env("ATELIER_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                env("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| env("HOME").map(|h| Path::new(&h).join(".cache")))
                    .unwrap_or_else(|| PathBuf::from(".cache"))
                    .join("atelier")
            });
        Self {
            models_dir: models_dir.into(),
            cache_dir,
            python: env("ATELIER_PYTHON").unwrap_or_else(|| "python3".into()),
            progress: false,
        }
    }
}

/// Makes sure every model file is present and verified, fetching only when one is not.
///
/// A folder that already holds verified files needs neither Python nor the network.
pub fn ensure(opts: &FetchOptions) -> Result<(), Error> {
    let manifest = Manifest::builtin()?;
    if manifest.verify_dir(&opts.models_dir).is_ok() {
        return Ok(());
    }
    fetch(opts)
}

/// Fetches and verifies every model file that is missing or differs from the manifest.
///
/// Concurrent callers (parallel test processes, two servers) serialise on a lock file in the
/// models folder; files are written under a temporary name and renamed once verified, so a
/// reader never sees a half-written model.
pub fn fetch(opts: &FetchOptions) -> Result<(), Error> {
    let manifest = Manifest::builtin()?;
    let dir = &opts.models_dir;
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let lock_path = dir.join(".fetch.lock");
    let lock = File::create(&lock_path).map_err(Error::io(&lock_path))?;
    lock.lock().map_err(Error::io(&lock_path))?;

    let todo: Vec<_> = manifest
        .files
        .iter()
        .filter(|f| f.verify(&dir.join(&f.name)).is_err())
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let wheel = find_or_download_wheel(&manifest, opts)?;
    let zip_err = |reason: String| Error::Wheel {
        wheel: wheel.clone(),
        reason,
    };
    let file = File::open(&wheel).map_err(Error::io(&wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| zip_err(e.to_string()))?;
    for model in todo {
        let target = dir.join(&model.name);
        let partial = dir.join(format!("{}.partial", model.name));
        {
            let mut member = archive
                .by_name(&model.wheel_path)
                .map_err(|e| zip_err(format!("{}: {e}", model.wheel_path)))?;
            let bar = progress_bar(opts.progress, member.size(), &model.name);
            let mut out = File::create(&partial).map_err(Error::io(&partial))?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = member
                    .read(&mut buf)
                    .map_err(|e| zip_err(format!("{}: {e}", model.wheel_path)))?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).map_err(Error::io(&partial))?;
                bar.inc(n as u64);
            }
            out.sync_all().map_err(Error::io(&partial))?;
            bar.finish();
        }
        let actual = sha256_file(&partial)?;
        if actual != model.sha256 {
            let _ = std::fs::remove_file(&partial);
            return Err(Error::Checksum {
                path: target,
                expected: model.sha256.clone(),
                actual,
            });
        }
        std::fs::rename(&partial, &target).map_err(Error::io(&target))?;
        tracing::info!(model = %model.name, "model fetched and verified");
    }
    Ok(())
}

fn progress_bar(show: bool, len: u64, name: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(name.to_owned());
    if let Ok(style) = ProgressStyle::with_template("{msg:34} [{bar:30}] {bytes}/{total_bytes}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The wheel's file-name prefix for a `name==version` requirement (wheel names use `_` for `-`).
fn wheel_prefix(package: &str) -> Option<String> {
    let (name, version) = package.split_once("==")?;
    Some(format!("{}-{}-", name.replace('-', "_"), version))
}

fn find_cached_wheel(cache: &Path, prefix: &str) -> Option<PathBuf> {
    std::fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".whl"))
        })
}

fn find_or_download_wheel(manifest: &Manifest, opts: &FetchOptions) -> Result<PathBuf, Error> {
    let prefix = wheel_prefix(&manifest.package).ok_or_else(|| {
        Error::Manifest(format!(
            "package {:?} is not name==version",
            manifest.package
        ))
    })?;
    let cache = opts.cache_dir.join("wheels");
    if let Some(wheel) = find_cached_wheel(&cache, &prefix) {
        return Ok(wheel);
    }
    std::fs::create_dir_all(&cache).map_err(Error::io(&cache))?;
    tracing::info!(package = %manifest.package, cache = %cache.display(), "downloading the model wheel with pip");
    // The platform pins make pip choose the same wheel whatever the local Python is, so the
    // manifest's hashes hold on every machine.
    let mut cmd = Command::new(&opts.python);
    cmd.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
    ])
    .args([
        "--platform",
        "manylinux_2_17_x86_64",
        "--disable-pip-version-check",
        "-d",
    ])
    .arg(&cache)
    .arg(&manifest.package)
    .stdin(Stdio::null())
    .stderr(Stdio::piped());
    if !opts.progress {
        cmd.arg("-q").stdout(Stdio::null());
    }
    let out = cmd.output().map_err(|e| {
        Error::Python(format!(
            "could not run `{} -m pip` ({e}); install Python 3 with pip, or set ATELIER_PYTHON",
            opts.python
        ))
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr
            .lines()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(Error::Python(format!(
            "`{} -m pip download {}` failed ({}): {}",
            opts.python,
            manifest.package,
            out.status,
            tail.join(" | ")
        )));
    }
    find_cached_wheel(&cache, &prefix).ok_or_else(|| {
        Error::Python(format!(
            "pip reported success but no {prefix}*.whl is in {}",
            cache.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_prefix_follows_wheel_naming() {
        assert_eq!(
            wheel_prefix("mediapipe==0.10.14").as_deref(),
            Some("mediapipe-0.10.14-")
        );
        assert_eq!(
            wheel_prefix("ai-edge-litert==1.0").as_deref(),
            Some("ai_edge_litert-1.0-")
        );
        assert_eq!(wheel_prefix("mediapipe"), None);
    }

    #[test]
    fn a_missing_python_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let opts = FetchOptions {
            models_dir: dir.path().join("models"),
            cache_dir: dir.path().join("cache"),
            python: "/nonexistent/python3".into(),
            progress: false,
        };
        let err = ensure(&opts).unwrap_err().to_string();
        assert!(err.contains("ATELIER_PYTHON"), "{err}");
    }

    #[test]
    fn a_wheel_with_a_tampered_model_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = Manifest::builtin().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(cache.join("wheels")).unwrap();
        let wheel = cache.join("wheels/mediapipe-0.10.14-cp311-none-any.whl");
        let mut zip = zip::ZipWriter::new(File::create(&wheel).unwrap());
        for f in &manifest.files {
            zip.start_file(
                f.wheel_path.as_str(),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            zip.write_all(b"not the real weights").unwrap();
        }
        zip.finish().unwrap();
        let opts = FetchOptions {
            models_dir: dir.path().join("models"),
            cache_dir: cache,
            python: "/nonexistent".into(),
            progress: false,
        };
        let err = fetch(&opts).unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }), "{err}");
        // Nothing unverified is left where the service would load it.
        assert!(!dir
            .path()
            .join("models")
            .join(&manifest.files[0].name)
            .exists());
    }
}
