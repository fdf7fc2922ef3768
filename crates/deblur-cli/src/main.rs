//! `deblur`: blind image deblurring with learned blur-kernel spaces, from the command line.
//!
//! Every subcommand calls one library entry point; errors print one line naming the file and the
//! problem, and exit with status 2 without writing any output file.

mod batch_cmds;
mod bench_cmds;
mod commands;
mod lai_cmds;
mod nonuniform_cmds;
mod solve_cmds;
mod space_cmds;
mod train_cmds;
mod weights_args;

use std::process::ExitCode;

use clap::Parser;

/// Stack of the CPU pool's threads, where the commands run: the main thread's usual 8 MiB and
/// room to spare.
const WORKER_STACK_BYTES: usize = 16 << 20;

fn main() -> ExitCode {
    default_sigpipe();
    deblur_core::retain_freed_memory();
    let cli = match commands::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    // the whole command runs on a worker of the CPU pool: every parallel operation then starts
    // on its own thread instead of waking the pool and sleeping (deblur_core::pool)
    deblur_core::init_pool(WORKER_STACK_BYTES);
    match deblur_core::on_pool(move || commands::run(cli).map_err(|err| err.to_string())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

/// Help and version go to stdout as clap writes them; a usage error becomes the same one line as
/// every other error (clap's message, its continuation lines joined, without the usage block and
/// the "--help" tip), exit status 2.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        // Help text, or the subcommand list for a bare `deblur kernel`: clap's own output.
        let _ = err.print();
        return if err.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    eprintln!("{}", one_line(&err.render().to_string()));
    ExitCode::from(2)
}

/// clap's message up to its first blank line, continuation lines joined by spaces.
fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
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
