//! Jumpwatch's project automation, run as `cargo xtask <command>`.
//!
//! - `codegen [--check]`: the resource catalog → `jumpwatch-model`'s generated Rust and
//!   `docs/resources.md`; the built-in rule pack → the table of `docs/rules.md`.
//! - `fixtures [--check]`: the simulator's committed fixture tenant
//!   (`crates/jumpwatch-sim/fixtures/small/`).
//! - `bench [...]`: Jumpwatch's performance against the simulator: collection against its lower
//!   bound and a sequential paginator, under a rate limit, a steady-state poll's CPU and memory,
//!   the rules' rate, notification delivery (see [`mod@bench`]).

use std::path::PathBuf;
use std::process::ExitCode;

mod bench;
mod codegen;
mod crash;
mod fixtures;
mod soak;
mod support;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  codegen [--check]   generate jumpwatch-model's Rust and docs/resources.md from the catalog;
                      with --check, write nothing and fail when a generated file is stale
  fixtures [--check]  write jumpwatch-sim's fixture tenant (seed 42, size small) into
                      crates/jumpwatch-sim/fixtures/small; with --check, fail when it is stale
  fixtures --record --out DIR
                      record anonymized fixtures from your tenant (JUMPCLOUD_API_KEY) into DIR
  bench [--size small|medium|large] [--latency 50ms] [--concurrency N] [--seed N]
        [--sequential-pages N|all] [--sequential-parents N|all] [--rate-limit 20]
        [--drain 200] [--drain-rate 20] [--no-poll] [--out target/bench/report.json]
                      build in release mode and measure, against the simulator: a full
                      collection against its lower bound and against a sequential limit=10
                      paginator; collection under a rate limit (429s); a steady-state poll's
                      CPU by step against decoding alone, and its peak memory against the raw
                      JSON; the rule pack's evaluations a second; notification drain rate.
                      Prints a table, writes a JSON report";

/// The workspace root: the parent of this crate's directory.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["codegen"] => codegen::run(&workspace_root(), false),
        ["codegen", "--check"] => codegen::run(&workspace_root(), true),
        ["fixtures"] => fixtures::run(&workspace_root(), false),
        ["fixtures", "--check"] => fixtures::run(&workspace_root(), true),
        ["fixtures", "--record", "--out", out] => fixtures::record(&workspace_root(), out),
        ["bench", rest @ ..] => bench::run(&workspace_root(), rest),
        ["bench-run", rest @ ..] => bench::run_measured(&workspace_root(), rest),
        ["bench-poll", rest @ ..] => bench::run_child_poll(rest),
        ["crash", rest @ ..] => crash::run(&workspace_root(), rest),
        ["soak", rest @ ..] => soak::run(&workspace_root(), rest),
        ["help" | "--help" | "-h"] | [] => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("unknown arguments: {}\n\n{USAGE}", args.join(" "));
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
