//! `cargo xtask fixtures [--check]`: writes (or checks) the committed fixture tenant of
//! `jumpwatch-sim` in `crates/jumpwatch-sim/fixtures/small/`.
//!
//! `cargo xtask fixtures --record --out DIR` records fixtures from a real tenant instead (API key
//! from `JUMPCLOUD_API_KEY`), with names, emails, hostnames, serials and secrets replaced, through
//! `jumpwatch record`. Never run in CI.
//!
//! The simulator's own binary makes the files (`jumpwatch-sim fixtures --out DIR [--check]`); it
//! runs as a child process so that xtask does not depend on `jumpwatch-sim` or
//! `jumpwatch-model`, and codegen builds even when the model does not.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Where the fixture tenant is committed, relative to the workspace root.
const DIR: &str = "crates/jumpwatch-sim/fixtures/small";

pub(crate) fn run(root: &Path, check: bool) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root).args([
        "run",
        "-q",
        "-p",
        "jumpwatch-sim",
        "--",
        "fixtures",
        "--out",
        DIR,
    ]);
    if check {
        command.arg("--check");
    }
    let status = command.status().context("cannot run `cargo run -p jumpwatch-sim`")?;
    if !status.success() {
        if check {
            bail!("{DIR} is stale: run `cargo xtask fixtures` ({status})");
        }
        bail!("`jumpwatch-sim fixtures` failed ({status})");
    }
    Ok(())
}

/// Records an anonymized fixture tenant from the tenant of `JUMPCLOUD_API_KEY` into `out`.
pub(crate) fn record(root: &Path, out: &str) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["run", "-q", "--release", "-p", "jumpwatch-cli", "--", "record", "--out", out])
        .status()
        .context("cannot run `cargo run -p jumpwatch-cli`")?;
    if !status.success() {
        bail!("`jumpwatch record` failed ({status})");
    }
    Ok(())
}
