//! The `rampart` binary: `serve`, `check`, `demo` and `config-schema`.
//!
//! This is the only crate that uses `anyhow`: it turns every error into a message
//! and an exit code.

mod demo;
mod stages;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

/// Rampart: an API security gateway.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway with a configuration file.
    Serve {
        /// The YAML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file: list every error and exit 1, or exit 0.
    Check {
        /// The YAML configuration file.
        file: PathBuf,
    },
    /// Run a self-contained demo: gateway on 127.0.0.1:8080, admin on 127.0.0.1:9901,
    /// in front of an embedded, deliberately naive sample API.
    Demo,
    /// Print the JSON Schema of the configuration file.
    ConfigSchema,
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { file } => {
            // Stages may need a runtime to build (Redis clients): check inside one.
            return match runtime() {
                Ok(rt) => rt.block_on(async { check(&file) }),
                Err(err) => {
                    eprintln!("rampart: {err:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::ConfigSchema => {
            println!("{:#}", rampart_config::json_schema());
            Ok(())
        }
        Command::Serve { config } => runtime().and_then(|rt| rt.block_on(serve(config))),
        Command::Demo => runtime().and_then(|rt| rt.block_on(demo::run())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rampart: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAMPART_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .json()
        .init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One provider for the whole process (DESIGN: install it explicitly).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = std::env::var("RAMPART_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder.worker_threads(threads);
    }
    Ok(builder.enable_all().build()?)
}

fn check(file: &std::path::Path) -> ExitCode {
    let errors = match rampart_config::load(file) {
        Ok(config) => {
            let factory = stages::EngineStages::default();
            match rampart_gateway::runtime::check_stages(&config, &factory) {
                Ok(()) => {
                    println!("{}: ok", file.display());
                    return ExitCode::SUCCESS;
                }
                Err(errors) => errors,
            }
        }
        Err(errors) => errors,
    };
    for error in &errors.0 {
        eprintln!("{error}");
    }
    ExitCode::FAILURE
}

async fn serve(path: PathBuf) -> anyhow::Result<()> {
    let config = rampart_config::load(&path)
        .map_err(|errors| anyhow::anyhow!("configuration refused:\n{errors}"))?;
    let server =
        rampart_gateway::Server::bind(config, Arc::new(stages::EngineStages::default())).await?;
    for addr in server.local_addrs() {
        tracing::info!(%addr, "listening");
    }
    if let Some(addr) = server.admin_addr() {
        tracing::info!(%addr, "admin listening");
    }
    server.run(shutdown_signal()).await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
