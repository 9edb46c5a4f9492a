//! `jumpwatch-sim`: a fake JumpCloud API on 127.0.0.1.
//!
//! - `jumpwatch-sim [OPTIONS]` serves a seeded tenant until Ctrl-C or SIGTERM;
//! - `jumpwatch-sim fixtures --out DIR [--check]` writes (or checks) the committed fixture tenant.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jumpwatch_sim::{SimArgs, fixtures};

#[derive(Debug, Parser)]
#[command(
    name = "jumpwatch-sim",
    version,
    about = "A faithful fake JumpCloud API for tests, demos and benchmarks"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    sim: SimArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the fixture tenant (seed 42, size small, clock 2026-01-01T00:00:00Z), one JSON file
    /// per kind.
    Fixtures {
        /// The directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// Write nothing; fail when a file differs from what would be written.
        #[arg(long)]
        check: bool,
    },
}

// The binary's output is what the user asked for.
#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Fixtures { out, check }) => {
            let result =
                if check { fixtures::check(&out).map(|()| 0) } else { fixtures::write(&out) };
            match result {
                Ok(_) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        None => serve(&cli.sim),
    }
}

#[allow(clippy::print_stderr)]
fn serve(args: &SimArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let sim = match args.builder().start().await {
            Ok(sim) => sim,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "jumpwatch-sim: a fake JumpCloud ({} tenant, seed {})",
            args.size, args.seed
        );
        let _ = writeln!(out, "base URL: {}", sim.base_url());
        let _ = writeln!(out, "API key:  {}", sim.api_key());
        let _ =
            writeln!(out, "OAuth:    client id {} secret {}", sim.client_id(), sim.client_secret());
        if sim.org_ids().len() > 1 {
            let orgs: Vec<&str> =
                sim.org_ids().iter().map(jumpwatch_model::OrganizationId::as_str).collect();
            let _ = writeln!(out, "orgs:     {} (send one in x-org-id)", orgs.join(", "));
        } else {
            let _ = writeln!(out, "org:      {}", sim.org_ids()[0]);
        }
        let _ = writeln!(
            out,
            "admin:    {}/__sim/ (mutations, scenarios, faults, stats, reset)",
            sim.base_url()
        );
        if !sim.addr().ip().is_loopback() {
            let _ = writeln!(
                out,
                "warning:  listening beyond this machine; the admin API has no authentication"
            );
        }
        let _ = out.flush();
        drop(out);
        shutdown_signal().await;
        sim.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::parse_from([
            "jumpwatch-sim",
            "--size",
            "medium",
            "--orgs",
            "3",
            "--clock-skew-s",
            "-30",
        ]);
        assert!(cli.command.is_none());
        assert_eq!(cli.sim.orgs, 3);
        assert_eq!(cli.sim.faults().clock_skew_s, -30);
        let cli = Cli::parse_from(["jumpwatch-sim", "fixtures", "--out", "dir", "--check"]);
        assert!(matches!(cli.command, Some(Command::Fixtures { check: true, .. })));
    }
}
