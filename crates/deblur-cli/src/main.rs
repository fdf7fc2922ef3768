//! `deblur`: blind image deblurring with learned blur-kernel spaces, from the command line.
//!
//! Every subcommand calls one library entry point; errors print one line naming the file and the
//! problem, and exit with status 2 without writing any output file.

mod batch_cmds;
mod bench_cmds;
mod commands;
mod lai_cmds;
mod solve_cmds;
mod train_cmds;
mod weights_args;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    default_sigpipe();
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

/// A closed pipe (`deblur bench … | head`) ends the process quietly, as for other Unix tools,
/// instead of a panic in `println!` (Rust ignores SIGPIPE by default).
#[allow(unsafe_code)]
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: `signal` with the default disposition, called before any other thread starts
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
