//! The `docspace-auditor` binary: parses arguments, sets up logging, loads
//! the config, calls the library, and maps the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use docspace_auditor::audit::RunRequest;
use docspace_auditor::cli::{self, exit};

#[derive(Parser)]
#[command(
    name = "docspace-auditor",
    version,
    about = "Audits ONLYOFFICE DocSpace portals for lingering access in archived rooms and offboarding gaps"
)]
struct Args {
    /// Log as JSON lines (for journald or Loki).
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one audit now.
    Run {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Change nothing, whatever the config says.
        #[arg(long)]
        dry_run: bool,
        /// Run only this check (repeatable).
        #[arg(long = "check", value_name = "NAME")]
        checks: Vec<String>,
    },
    /// Validate the config, identify the key's user, print the effective config.
    CheckConfig {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// List the checks.
    Checks,
    /// Run on the configured schedules, with webhooks and metrics if configured.
    Daemon {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Start a built-in fake portal with a sample of problems and audit it.
    #[cfg(feature = "demo")]
    Demo {
        /// Where reports, state and outbox go.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal: journald and log files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.log_json
        || matches!(&args.command, Command::Daemon { config }
            if docspace_auditor::daemon::configured_log_format(config)
                == docspace_auditor::config::daemon::LogFormat::Json);
    init_logging(json);
    let runtime = match docspace_auditor::runtime::build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUN_FAILED);
        }
    };
    ExitCode::from(runtime.block_on(dispatch(args.command)))
}

async fn dispatch(command: Command) -> u8 {
    match command {
        Command::Checks => {
            print!("{}", cli::checks_text());
            exit::CLEAN
        }
        Command::CheckConfig { config } => {
            let config = match cli::load_config(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return exit::USAGE;
                }
            };
            print!("{}", cli::describe_config(&config));
            let client = match docspace_auditor::api::DocSpaceClient::new(config.portal.clone()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::RUN_FAILED;
                }
            };
            let portal = match client.whoami().await {
                Ok(me) => {
                    println!(
                        "{:<40} {} ({}){}",
                        "key user",
                        docspace_auditor::report::safe::one_line(&me.name(), 100),
                        me.id,
                        if me.is_admin || me.is_owner {
                            ", DocSpace admin".to_string()
                        } else {
                            "; WARNING: not a DocSpace admin, scans see only this user's rooms"
                                .to_string()
                        }
                    );
                    exit::CLEAN
                }
                Err(e) => {
                    eprintln!("error: cannot identify the key's user: {e}");
                    exit::RUN_FAILED
                }
            };
            let mail = cli::check_mail(&config).await;
            match &mail {
                Ok(Some(line)) => println!("{:<40} {line}", "mail"),
                Ok(None) => {}
                Err(e) => eprintln!("error: mail: {e}"),
            }
            if mail.is_err() {
                exit::RUN_FAILED
            } else {
                portal
            }
        }
        Command::Run {
            config,
            dry_run,
            checks,
        } => {
            let checks = match cli::parse_checks(&checks) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::USAGE;
                }
            };
            let config = match cli::load_config(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return exit::USAGE;
                }
            };
            // A run by hand must not audit the portal while the daemon does.
            let _lock = match docspace_auditor::daemon::acquire_lock(&config.state_path) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: {e}");
                    return e.exit_code();
                }
            };
            let request = RunRequest {
                dry_run,
                checks,
                ..RunRequest::default()
            };
            match cli::run_once(config, request).await {
                Ok(outcome) => {
                    print!("{}", cli::summary_text(&outcome));
                    cli::exit_code(&outcome)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    exit::RUN_FAILED
                }
            }
        }
        Command::Daemon { config } => {
            let options = docspace_auditor::daemon::DaemonOptions {
                config_path: config,
            };
            match docspace_auditor::daemon::run_daemon(options).await {
                Ok(()) => exit::CLEAN,
                Err(e) => {
                    eprintln!("error: {e}");
                    e.exit_code()
                }
            }
        }
        #[cfg(feature = "demo")]
        Command::Demo { dir } => docspace_auditor::demo::run(&dir).await,
    }
}
