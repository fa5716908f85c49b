//! The `atelier` command: the HTTP server and the CLI over the same library.

mod cli;

/// mimalloc keeps freed memory for reuse: a forward pass allocates and frees tens of megabytes of
/// activations, which glibc's allocator hands back to the kernel and page-faults in again on
/// every call (about a tenth of the inference time in profiles).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use atelier::api::{self, AppState};
use atelier::auth::{self, Role};
use atelier::config::{Config, LogFormat};
use atelier::models::{self, FetchOptions};
use atelier::store::Store;

#[derive(Parser)]
#[command(
    name = "atelier",
    version,
    about = "Made-to-measure service: body measurement, shade matching, patterns, cutting markers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the HTTP server (fetches the models first if they are missing).
    Serve,
    /// Manage the vision model files.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Pose landmarks (33 points, world landmarks) and the person mask of a photo, as JSON.
    Pose(cli::vision::PoseArgs),
    /// Faces (box, 6 keypoints, 468-point mesh) of a photo, as JSON.
    Face(cli::vision::FaceArgs),
    /// Selfie segmentation mask of a photo.
    Segment(cli::vision::SegmentArgs),
    /// The body model: train it on ANSUR II, or predict measurements from known values.
    Body {
        #[command(subcommand)]
        command: cli::body::BodyCommand,
    },
    /// The measurement set from front and side photos (or silhouettes) and the stated height.
    Measure(cli::body::MeasureArgs),
    /// Skin colour and the nearest foundation shades from a face photo.
    Shade(cli::shade::ShadeArgs),
    /// Draft a garment to measure and write its cut file.
    Draft(cli::pattern::DraftArgs),
    /// Grade a garment over GB/T 1335 sizes and write the nested set.
    Grade(cli::pattern::GradeArgs),
    /// List garments, their pieces and options.
    Garments,
    /// Nest an ESICUP instance into a cutting marker.
    Nest(cli::nest::NestArgs),
    /// Speed against the reference runtime.
    Bench {
        #[command(subcommand)]
        command: cli::bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Download the mediapipe wheel with pip, extract the models and verify their sha256.
    Fetch {
        /// Models folder (default: ATELIER_MODELS_DIR or ./models).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Verify the models folder against the manifest without fetching.
    Verify {
        /// Models folder (default: ATELIER_MODELS_DIR or ./models).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Issue a key for a tenant (created if new) and print it once; only its hash is stored.
    Create {
        /// Tenant name.
        #[arg(long)]
        tenant: String,
        /// Role: shop, counter, factory or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|e: auth::Error| e.to_string())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env().context("invalid configuration")?;
    init_tracing(config.log_format);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Serve => runtime.block_on(serve(config)),
        Command::Models {
            action: ModelsAction::Fetch { dir },
        } => {
            let mut opts = FetchOptions::new(dir.unwrap_or(config.models_dir));
            opts.progress = true;
            models::fetch(&opts)?;
            println!("models ready in {}", opts.models_dir.display());
            Ok(())
        }
        Command::Models {
            action: ModelsAction::Verify { dir },
        } => {
            let dir = dir.unwrap_or(config.models_dir);
            models::Manifest::builtin()?.verify_dir(&dir)?;
            println!("all models in {} match the manifest", dir.display());
            Ok(())
        }
        Command::Keys {
            action: KeysAction::Create { tenant, role },
        } => runtime.block_on(async {
            let store = Store::connect(&config.database_url)
                .await
                .context("opening the database")?;
            let issued = auth::issue_key(&store, &tenant, role).await?;
            println!("{}", issued.key);
            eprintln!(
                "key {} for tenant {:?} with role {}; store it now, it is not shown again",
                issued.key_id, issued.tenant, issued.role
            );
            Ok(())
        }),
        Command::Pose(args) => cli::vision::pose(args, &config),
        Command::Face(args) => cli::vision::face(args, &config),
        Command::Segment(args) => cli::vision::segment(args, &config),
        Command::Body { command } => cli::body::run(command),
        Command::Measure(args) => cli::body::measure(args, &config),
        Command::Shade(args) => cli::shade::run(args, &config),
        Command::Draft(args) => cli::pattern::draft(args),
        Command::Grade(args) => cli::pattern::grade(args),
        Command::Garments => cli::pattern::garments(),
        Command::Nest(args) => cli::nest::run(args),
        Command::Bench { command } => cli::bench::run(command, &config),
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("ATELIER_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,jagua_rs=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// How long a stopping server waits for the marker plan it is nesting to store its best marker:
/// the search ends within one separation round, so this only covers a slow database.
const PLAN_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

async fn serve(config: Config) -> Result<()> {
    let store = Store::connect(&config.database_url)
        .await
        .with_context(|| format!("opening the database ({})", redact(&config.database_url)))?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    tracing::info!(addr = %config.addr, database = ?store.backend(), "listening");
    let models_dir = config.models_dir.clone();
    let state = AppState::new(store.clone(), config);
    // Liveness answers at once; readiness waits for the models, fetched on first run.
    let loading = state.clone();
    tokio::spawn(async move {
        let opts = FetchOptions {
            progress: true,
            ..FetchOptions::new(models_dir.clone())
        };
        let result = tokio::task::spawn_blocking(move || -> Result<()> {
            models::ensure(&opts)?;
            loading.load_models(&models_dir)?;
            Ok(())
        })
        .await;
        match result {
            Ok(Ok(())) => tracing::info!("models loaded; ready"),
            Ok(Err(e)) => tracing::error!(error = %e, "models unavailable; /readyz stays 503"),
            Err(e) => tracing::error!(error = %e, "model loading task failed"),
        }
    });
    // Order events go out to the shops' webhooks from the outbox, also after a restart.
    tokio::spawn(atelier::webhooks::run(
        store.clone(),
        atelier::webhooks::Delivery {
            allow_private: state.config.webhook_allow_private,
            ..atelier::webhooks::Delivery::default()
        },
        std::time::Duration::from_secs(1),
    ));
    let plans = state.clone();
    api::serve(listener, api::router(state), api::shutdown_signal()).await?;
    plans.close_plans(PLAN_SHUTDOWN_GRACE).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
