//! `deblur`: blind image deblurring with learned blur-kernel spaces, from the command line.
//!
//! Every subcommand calls one library entry point; errors print one line naming the file and the
//! problem, and exit with status 2 without writing any output file.

mod bench_cmds;
mod commands;
mod lai_cmds;
mod solve_cmds;
mod train_cmds;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    deblur_core::retain_freed_memory();
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}
