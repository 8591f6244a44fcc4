//! The event corpus: `PERISCOPE_CORPUS_DIR`, relative paths taken from the workspace
//! root.

use std::path::{Path, PathBuf};

/// The line a corpus test prints when it does not run.
pub const SKIPPED: &str = "skipped: PERISCOPE_CORPUS_DIR not set";

/// The corpus folder, or `None` (the caller prints [`SKIPPED`]; see [`dir_or_skip`]).
pub fn dir() -> Option<PathBuf> {
    let value = std::env::var_os("PERISCOPE_CORPUS_DIR").filter(|v| !v.is_empty())?;
    let path = PathBuf::from(value);
    Some(if path.is_absolute() {
        path
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    })
}

/// The corpus folder, or `None` after printing [`SKIPPED`].
pub fn dir_or_skip() -> Option<PathBuf> {
    let found = dir();
    if found.is_none() {
        println!("{SKIPPED}");
    }
    found
}

/// Every `.json` file under `dir`, recursively, sorted by path.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot read {}: {e}", d.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
