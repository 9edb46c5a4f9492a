//! `jumpwatch-sim`: a fake JumpCloud API on 127.0.0.1.
//!
//! - `jumpwatch-sim [OPTIONS]` serves a seeded tenant until Ctrl-C or SIGTERM;
//! - `jumpwatch-sim fixtures --out DIR [--check]` writes (or checks) the committed fixture tenant.

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
    let served =
        runtime.block_on(args.serve(&mut std::io::stdout(), jumpwatch_sim::shutdown_signal()));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
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
