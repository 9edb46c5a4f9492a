//! `cargo xtask codegen [--check]`: turns the resource catalog into the committed Rust of
//! `jumpwatch-model` and into `docs/resources.md`; and the built-in rule pack into the table of
//! `docs/rules.md`.
//!
//! With `--check`, nothing is written and a stale file is an error; the test below runs the same
//! check under `cargo test`, so a catalog change without regeneration fails CI.

mod catalog;
mod docs;
mod rules;
mod rust;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The files codegen owns, by path relative to the workspace root, with their contents.
fn generate(root: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let model = root.join("crates/jumpwatch-model");
    let catalog = catalog::resolve(catalog::load(&model.join("catalog/kinds"))?)?;
    let generated = PathBuf::from("crates/jumpwatch-model/src/generated");
    let mut files = BTreeMap::new();
    files.insert(generated.join("mod.rs"), rust::module()?);
    files.insert(generated.join("ids.rs"), rust::ids(&catalog)?);
    files.insert(generated.join("kinds.rs"), rust::kinds(&catalog)?);
    for (name, text) in rust::types(&catalog)? {
        files.insert(generated.join("types").join(name), text);
    }
    files.insert(PathBuf::from("docs/resources.md"), docs::resources(&catalog));
    files.insert(PathBuf::from("docs/rules.md"), rules::doc(root)?);
    Ok(files)
}

/// Generated files on disk that codegen would no longer write (a removed kind).
fn leftovers(root: &Path, files: &BTreeMap<PathBuf, String>) -> Result<Vec<PathBuf>> {
    let dir = root.join("crates/jumpwatch-model/src/generated/types");
    let mut out = Vec::new();
    if dir.exists() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let relative = path.strip_prefix(root)?.to_path_buf();
            if !files.contains_key(&relative) {
                out.push(relative);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The files that differ from what codegen would write, and those it would remove.
pub(crate) fn stale(root: &Path) -> Result<Vec<PathBuf>> {
    let files = generate(root)?;
    let mut stale = Vec::new();
    for (path, text) in &files {
        let current = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        if &current != text {
            stale.push(path.clone());
        }
    }
    stale.extend(leftovers(root, &files)?);
    Ok(stale)
}

/// Runs codegen: writes the files, or with `check` reports the stale ones.
pub(crate) fn run(root: &Path, check: bool) -> Result<()> {
    if check {
        let stale = stale(root)?;
        if stale.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = stale.iter().map(|p| format!("  {}", p.display())).collect();
        bail!("generated files are stale; run `cargo xtask codegen`:\n{}", list.join("\n"));
    }
    let files = generate(root)?;
    for path in leftovers(root, &files)? {
        std::fs::remove_file(root.join(&path))
            .with_context(|| format!("removing {}", path.display()))?;
    }
    for (path, text) in &files {
        let full = root.join(path);
        if std::fs::read_to_string(&full).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&full, text).with_context(|| format!("writing {}", full.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_files_are_fresh() {
        let root = crate::workspace_root();
        let stale = super::stale(&root).unwrap();
        assert!(stale.is_empty(), "stale generated files (run `cargo xtask codegen`): {stale:?}");
    }
}
