//! The `rampart` binary: `serve`, `check`, `demo` and `config-schema`.
//!
//! This is the only crate that uses `anyhow`: it turns every error into a message
//! and an exit code.

mod allocator;
mod demo;
mod lockout;
mod route_names;
mod stages;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

/// mimalloc (see [`allocator`] for why, and why not through `mimalloc::MiMalloc`).
#[global_allocator]
static ALLOCATOR: allocator::Mimalloc = allocator::Mimalloc;

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
    /// Manage API keys in the key store of a configuration's `identity.key_store`.
    Keys {
        /// The YAML configuration file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Revoke a token (`jti`) or an API key (prefix) on every instance, through
    /// the configuration's `identity.revocation` Redis; an API key is also
    /// marked revoked in `identity.key_store` when configured.
    Revoke {
        /// The YAML configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// `jti` or `api_key`.
        kind: String,
        /// The token's `jti`, or the key's id (the 8 characters after `rk_`; a
        /// whole key is cut to it, its secret never published).
        id: String,
        /// When the credential expires anyway (`30d` or RFC 3339); default: never.
        #[arg(long)]
        expires: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Create a key; it is printed once, only the hash is stored.
    Create {
        /// The consumer the key belongs to.
        #[arg(long)]
        consumer: String,
        /// Scopes, comma-separated.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Roles, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Rate-limit plan.
        #[arg(long)]
        plan: Option<String>,
        /// Lifetime (`30d`) or expiry (RFC 3339).
        #[arg(long)]
        expires: Option<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by prefix.
    Revoke {
        /// The key's prefix.
        prefix: String,
    },
    /// Replace a key; the old one keeps working for `--grace`.
    Rotate {
        /// The key's prefix.
        prefix: String,
        /// How long the old key keeps working (e.g. `1h`).
        #[arg(long)]
        grace: Option<String>,
        /// The new key's lifetime (`30d`) or expiry (RFC 3339); default: what
        /// the old key had left (required for an expired key).
        #[arg(long)]
        expires: Option<String>,
    },
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { file } => {
            // Stages may need a runtime to build (Redis clients): check inside one.
            return match runtime() {
                Ok(rt) => rt.block_on(check(&file)),
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
        Command::Keys { config, action } => {
            runtime().and_then(|rt| rt.block_on(keys(config, action)))
        }
        Command::Revoke {
            config,
            kind,
            id,
            expires,
        } => runtime().and_then(|rt| rt.block_on(revoke(config, kind, id, expires))),
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
    rampart_authn::install_crypto_provider();
    let workers = match std::env::var("RAMPART_WORKERS") {
        Err(_) => None,
        // tokio asserts on zero worker threads; anything else unreadable
        // would silently mean "one per core".
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => anyhow::bail!(
                "RAMPART_WORKERS: `{text}` is not a number of worker threads (1 or more)"
            ),
        },
    };
    // One worker: a current-thread scheduler has no work-stealing queues, atomics
    // or cross-thread wake-ups to pay for on every task switch.
    let mut builder = if workers == Some(1) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if let Some(threads) = workers {
            builder.worker_threads(threads);
        }
        builder
    };
    Ok(builder.enable_all().build()?)
}

async fn check(file: &std::path::Path) -> ExitCode {
    let errors = match rampart_config::load(file) {
        Ok(config) => {
            // Accepted, but weakening: said, not refused.
            for warning in config.warnings() {
                tracing::warn!("{warning}");
            }
            // A bad `identity` section is reported with its line, and the APIs are
            // still checked (their `authn` sections need the adapters, so those
            // are left out rather than reported as a second, derived error).
            let mut errors = Vec::new();
            let factory = match start_adapters(&config, true).await {
                Ok(adapters) => stages::EngineStages::with_adapters(adapters),
                Err(err) => {
                    let (field, message) = stages::split_field("", "identity", &format!("{err:#}"));
                    let line = config.identity.as_ref().and_then(|section| section.line());
                    errors.push(rampart_config::ConfigError::new(
                        &config.source,
                        line,
                        field,
                        message,
                    ));
                    stages::EngineStages::default()
                }
            };
            let identity_failed = !errors.is_empty();
            // The `redis` section is built with the first API that has rate
            // limits; without one, check it on its own so it is not found bad
            // only when such an API is added.
            if let Some(redis) = &config.redis
                && config
                    .apis
                    .iter()
                    .all(|api| api.engines.rate_limit.is_none())
                && let Err(message) = stages::redis_store(&config, None)
            {
                let (field, message) = stages::split_field("", "redis", &message);
                errors.push(rampart_config::ConfigError::new(
                    &config.source,
                    redis.line(),
                    field,
                    message,
                ));
            }
            errors.extend(rampart_gateway::runtime::check_audit_files(&config));
            // Listener TLS is built as `serve` builds it: a key that does not
            // match its certificate is found here, with its line.
            errors.extend(rampart_gateway::listeners::check(&config));
            if let Err(stage_errors) = rampart_gateway::runtime::check_stages(&config, &factory) {
                errors.extend(stage_errors.0.into_iter().filter(|error| {
                    !(identity_failed && error.to_string().ends_with(stages::NO_ADAPTERS))
                }));
            }
            if errors.is_empty() {
                println!("{}: ok", file.display());
                return ExitCode::SUCCESS;
            }
            rampart_config::ConfigErrors(errors)
        }
        Err(errors) => errors,
    };
    for error in &errors.0 {
        eprintln!("{error}");
    }
    ExitCode::FAILURE
}

async fn serve(path: PathBuf) -> anyhow::Result<()> {
    // SIGHUP's default action ends the process, and the server would listen
    // for it only once it runs: building the first configuration can take
    // seconds (the CRS, large specs), and a reload sidecar or `systemctl
    // reload` may signal meanwhile. Caught from here on; one that comes
    // during start-up stays pending in this stream and reloads once the
    // server runs (the file may have changed after it was read).
    let early_hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let config = rampart_config::load(&path)
        .map_err(|errors| anyhow::anyhow!("configuration refused:\n{errors}"))?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let adapters = start_adapters(&config, false).await?;
    let factory = Arc::new(stages::EngineStages::with_adapters(adapters));
    let mut server = rampart_gateway::Server::bind(config, factory).await?;
    if let Some(hangups) = early_hangups {
        server = server.with_hangups(hangups);
    }
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

/// Starts the identity adapters of a configuration (defaults when it has no
/// `identity` section): outbound HTTP, the key store, shared revocation.
/// `check_only`: for `rampart check`, which must leave no trace: the key
/// store is checked, never created or written.
pub(crate) async fn start_adapters(
    config: &rampart_config::Config,
    check_only: bool,
) -> anyhow::Result<Arc<rampart_adapters::Adapters>> {
    let mut identity = identity_config(config);
    if let Some(store) = identity.key_store.as_mut() {
        store.check_only = check_only;
    }
    let clock: Arc<dyn rampart_authn::clock::Clock> = Arc::new(rampart_authn::clock::SystemClock);
    let (max_entries, retention) = identity
        .revocation
        .as_ref()
        .map_or((100_000, 300), |r| (r.max_entries, r.retention_seconds));
    let revocations = Arc::new(rampart_authn::revocation::RevocationList::new(
        clock.clone(),
        max_entries,
        retention,
    ));
    let adapters =
        rampart_adapters::Adapters::start(&identity, "identity", revocations, clock).await?;
    Ok(Arc::new(adapters))
}

/// The `identity` section (defaults when absent), its paths taken from the
/// configuration's directory.
fn identity_config(config: &rampart_config::Config) -> rampart_adapters::AdaptersConfig {
    config
        .identity
        .as_ref()
        .map(|i| i.value.clone())
        .unwrap_or_default()
        .relative_to(&config.base_dir)
}

fn identity_of(path: &std::path::Path) -> anyhow::Result<rampart_adapters::AdaptersConfig> {
    let config = rampart_config::load(path)
        .map_err(|errors| anyhow::anyhow!("configuration refused:\n{errors}"))?;
    Ok(identity_config(&config))
}

async fn keys(path: PathBuf, action: KeysAction) -> anyhow::Result<()> {
    let identity = identity_of(&path)?;
    let store = identity
        .key_store
        .ok_or_else(|| anyhow::anyhow!("{}: no identity.key_store configured", path.display()))?;
    let outcome: rampart_adapters::Outcome = match action {
        KeysAction::Create {
            consumer,
            scopes,
            roles,
            plan,
            expires,
        } => {
            let args = rampart_adapters::CreateKeyArgs {
                consumer,
                scopes,
                roles,
                plan,
                expires,
            };
            rampart_adapters::keys_create(&store, &args).await?.into()
        }
        KeysAction::List => rampart_adapters::keys_list(&store).await?.into(),
        KeysAction::Revoke { prefix } => match &identity.revocation {
            Some(sync) => {
                rampart_adapters::keys_revoke_shared(
                    &store,
                    sync,
                    &rampart_adapters::RevokeKeyArgs { prefix },
                )
                .await?
            }
            None => {
                rampart_adapters::keys_revoke(&store, &rampart_adapters::RevokeKeyArgs { prefix })
                    .await?
                    .into()
            }
        },
        KeysAction::Rotate {
            prefix,
            grace,
            expires,
        } => {
            let args = rampart_adapters::RotateKeyArgs {
                prefix,
                grace,
                expires,
            };
            match &identity.revocation {
                Some(sync) => rampart_adapters::keys_rotate_shared(&store, sync, &args).await?,
                None => rampart_adapters::keys_rotate(&store, &args).await?.into(),
            }
        }
    };
    print_outcome(outcome)
}

/// Prints a command's output; a step that did not happen fails the command
/// (exit 1) after the output (which may hold a key shown only this once).
fn print_outcome(outcome: rampart_adapters::Outcome) -> anyhow::Result<()> {
    println!("{}", outcome.output);
    match outcome.warning {
        Some(warning) => anyhow::bail!("{warning}"),
        None => Ok(()),
    }
}

async fn revoke(
    path: PathBuf,
    kind: String,
    id: String,
    expires: Option<String>,
) -> anyhow::Result<()> {
    let identity = identity_of(&path)?;
    let sync = identity
        .revocation
        .ok_or_else(|| anyhow::anyhow!("{}: no identity.revocation configured", path.display()))?;
    let kind = match kind.as_str() {
        "jti" => rampart_authn::revocation::CredentialKind::Jti,
        "api_key" => rampart_authn::revocation::CredentialKind::ApiKey,
        _ => anyhow::bail!("kind must be `jti` or `api_key`"),
    };
    let args = rampart_adapters::RevokeCredentialArgs { kind, id, expires };
    // An API key is marked revoked in the key store too, when there is one.
    let outcome =
        rampart_adapters::revoke_credential(&sync, identity.key_store.as_ref(), &args).await?;
    print_outcome(outcome)
}
