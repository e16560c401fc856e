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
    /// Queues (ACD) tools.
    Acd {
        #[command(subcommand)]
        command: AcdCommand,
    },
    /// The database (`[database] url`): SQLite file by default, or PostgreSQL.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Staff accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a staff member; the password is read from standard input (one line).
    Add {
        login: String,
        /// operator, engineer, supervisor or admin
        #[arg(long)]
        role: String,
        /// Interface language: kk, ru or en
        #[arg(long, default_value = "ru")]
        language: String,
    },
    /// Issue a temporary password (printed once) that must be changed at the next login.
    Reset { login: String },
    /// Lift a lock after too many wrong passwords (the web login's and the SIP extension's).
    Unlock { login: String },
    /// Give a staff member a SIP extension for their softphone; the SIP password is read
    /// from standard input (one line) and stored only as digest HA1 values.
    Sip {
        login: String,
        /// Extension number, 2-15 digits, e.g. 2001
        #[arg(long)]
        extension: String,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create the database if needed and apply every migration.
    Migrate,
    /// Write a consistent copy to FILE (SQLite: VACUUM INTO; PostgreSQL: pg_dump).
    Backup { file: PathBuf },
    /// Replace the database with FILE; refuses a backup from a newer schema.
    Restore { file: PathBuf },
}

#[derive(Subcommand)]
enum AcdCommand {
    /// Feed the estimated-wait estimator from a trace of queue events (JSON lines, `-` for
    /// standard input) and print, for every caller entering, the estimate they would be told
    /// first: `{"caller":"c17","t":12.5,"position":3,"ewt_s":143.0}` (docs/ewt.md).
    Replay { trace: std::path::PathBuf },
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

/// `qonyrau acd replay`: errors name the trace's line; warnings go to standard error.
fn acd_replay(path: &std::path::Path) -> ExitCode {
    use std::io::{BufReader, BufWriter};
    let out = BufWriter::new(std::io::stdout().lock());
    let name = path.display();
    let result = if path == std::path::Path::new("-") {
        qonyrau::acd::replay::replay(std::io::stdin().lock(), out)
    } else {
        match std::fs::File::open(path) {
            Ok(f) => qonyrau::acd::replay::replay(BufReader::new(f), out),
            Err(e) => {
                eprintln!("{name}: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    match result {
        Ok(stats) => {
            for w in &stats.warnings {
                eprintln!("{name}:{}: warning: {}", w.line, w.kind);
            }
            if stats.warning_count > stats.warnings.len() as u64 {
                eprintln!("{name}: {} warnings in all", stats.warning_count);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
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
        Command::Acd {
            command: AcdCommand::Replay { trace },
        } => Ok(acd_replay(&trace)),
        Command::Db { command } => {
            current_thread()?.block_on(db_command(&config.database.url, command))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Users { command } => {
            current_thread()?.block_on(users_command(&config, command))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Flows {
            command: FlowsCommand::Check,
        } => match qonyrau::preflight::check(&config) {
            Ok(report) => {
                for w in &config.warnings {
                    eprintln!("warning: {w}");
                }
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

async fn db_command(url: &str, command: DbCommand) -> anyhow::Result<()> {
    use qonyrau::db::{backup, Db};
    let db = Db::open(url)
        .await
        .with_context(|| format!("opening {url}"))?;
    match command {
        DbCommand::Migrate => println!("database at schema version {}", db.schema_version()),
        DbCommand::Backup { file } => {
            backup::backup(&db, url, &file).await?;
            println!("backup written to {}", file.display());
        }
        DbCommand::Restore { file } => {
            backup::restore(&db, url, &file).await?;
            println!("restored from {}", file.display());
        }
    }
    Ok(())
}

fn current_thread() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn now() -> jiff::Timestamp {
    use qonyrau::clock::Clock;
    qonyrau::clock::SystemClock.now()
}

async fn users_command(config: &Config, command: UsersCommand) -> anyhow::Result<()> {
    let url = config.database.url.as_str();
    use qonyrau::db::Db;
    use qonyrau::staff::{store, Language, Role};
    let db = Db::open(url)
        .await
        .with_context(|| format!("opening {url}"))?;
    match command {
        UsersCommand::Add {
            login,
            role,
            language,
        } => {
            let role: Role = role.parse()?;
            let language: Language = language.parse()?;
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            store::add(&db, now(), &login, role, language, password).await?;
            println!("added {login} ({role})");
        }
        UsersCommand::Reset { login } => {
            let temporary = store::reset(&db, now(), "cli", &login).await?;
            println!("temporary password for {login}: {temporary}\n(it must be changed at the next login)");
        }
        UsersCommand::Unlock { login } => {
            store::unlock(&db, now(), "cli", &login).await?;
            let sip = qonyrau::registrar::store::unlock(&db, now(), "cli", &login).await?;
            println!(
                "unlocked {login}{}",
                if sip {
                    " (web login and SIP extension)"
                } else {
                    ""
                }
            );
        }
        UsersCommand::Sip { login, extension } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the SIP password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            qonyrau::registrar::store::set_account(
                &db,
                now(),
                "cli",
                &login,
                &extension,
                &config.registrar.realm,
                password,
            )
            .await?;
            println!(
                "{login} has SIP extension {extension} (realm {})",
                config.registrar.realm
            );
        }
    }
    Ok(())
}
