//! `qonyrau`: the command line. The only place where `anyhow` drives control flow.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use qonyrau::config::{self, Config};

#[derive(Parser)]
#[command(
    name = "qonyrau",
    version,
    about = "Contact-center telephony and IVR engine"
)]
struct Cli {
    /// Configuration file; defaults apply to every key it leaves out.
    #[arg(long, global = true, default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: SIP (UDP, TCP), RTP, HTTP (/health, /metrics).
    Serve,
    /// IVR flows.
    Flows {
        #[command(subcommand)]
        command: FlowsCommand,
    },
}

#[derive(Subcommand)]
enum FlowsCommand {
    /// Validate the config, every flow and every prompt they use; exit 1 listing all problems.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("qonyrau: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    if !path.exists() && path == std::path::Path::new(config::DEFAULT_PATH) {
        // No config file in the working directory: the built-in defaults.
        return Ok(Config::default());
    }
    Config::load(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = load_config(&cli.config)?;
    match cli.command {
        Command::Serve => {
            qonyrau::telemetry::init_logs(&config.log.level);
            qonyrau::pii::set_redaction(config.log.redact_pii);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(qonyrau::server::serve(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Flows {
            command: FlowsCommand::Check,
        } => match qonyrau::preflight::check(&config) {
            Ok(report) => {
                println!("{report}");
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                eprintln!("{problems}");
                Ok(ExitCode::FAILURE)
            }
        },
    }
}
