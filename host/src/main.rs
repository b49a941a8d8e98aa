//! The `keystead` binary: command-line entry point.

// Outside tests a failure is an error the caller sees, never a panic of the process;
// a lock held across an await would stall every task waiting on it.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]
#![deny(clippy::await_holding_lock)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keystead::config::Config;

#[derive(Parser)]
#[command(
    name = "keystead",
    version,
    about = "A PKI platform extensible with WebAssembly plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Config file (default: config/keystead.toml when it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Inspect plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// List the plugins the config declares, with their grants.
    List {
        /// Config file (default: config/keystead.toml when it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Tell which world a component implements, what it imports, and
    /// whether the config's grants fit it.
    Check {
        /// The component (.wasm).
        file: PathBuf,
        /// Config file whose [[plugins]] entry for this file is checked.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Plugin { command } => plugin(command),
    }
}

fn load_config(path: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|err| {
        eprintln!("keystead: {err}");
        ExitCode::from(2)
    })
}

fn serve(config_path: Option<PathBuf>) -> ExitCode {
    let config = match load_config(config_path.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    keystead::telemetry::init_logging(&config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("keystead: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(keystead::server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "start-up failed");
            eprintln!("keystead: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn plugin(command: PluginCommand) -> ExitCode {
    match command {
        PluginCommand::List { config } => match load_config(config.as_deref()) {
            Ok(config) => {
                print!("{}", keystead::plugins::cli::list(&config));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        PluginCommand::Check { file, config } => {
            let config = match config.as_deref().map(|p| load_config(Some(p))).transpose() {
                Ok(config) => config,
                Err(code) => return code,
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("keystead: cannot start the async runtime: {err}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(keystead::plugins::cli::check(&file, config.as_ref())) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(report) => {
                    eprint!("{report}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
