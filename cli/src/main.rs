//! `healthpoints`: the operator's command. `healthpoints up` runs the whole mesh in one process
//! on the embedded default (SQLite under `./data`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use healthpoints::mesh::{self, MeshOptions};
use healthpoints_telemetry::TelemetryConfig;

#[derive(Debug, Parser)]
#[command(name = "healthpoints", about = "The city health points programme")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start every service and the gateway in this process.
    Up {
        /// Where each service keeps its SQLite database.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// The gateway's HTTP address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http_addr: String,
        /// The web client's address (residents, merchant counters, officials); `none` runs
        /// none.
        #[arg(long, default_value = "127.0.0.1:8081")]
        web_addr: String,
        /// `username:password` of the first city admin, created if none exists.
        #[arg(long, env = "HP_BOOTSTRAP_ADMIN", hide_env_values = true)]
        bootstrap_admin: Option<String>,
        /// District codes whose malls run beside the city mall (default: the pilots, Qingpu
        /// and Yangpu).
        #[arg(long, value_delimiter = ',')]
        district_malls: Vec<String>,
        /// Seed merchants, a catalogue per mall and demo residents with points, and print the
        /// logins (needs --bootstrap-admin, or uses admin:Admin-pass-2026).
        #[arg(long)]
        demo: bool,
        /// An origin whose browser pages may call the API (CORS), e.g.
        /// `http://localhost:5173`; repeat or comma-separate for more. None by default.
        #[arg(long = "cors-origin", value_delimiter = ',')]
        cors_origins: Vec<String>,
        /// A PostgreSQL server for the services' databases instead of SQLite files:
        /// `postgres://user[:password]@host[:port][/prefix]`; each service gets
        /// `<prefix>_<service>` (prefix `healthpoints` by default), created if missing.
        #[arg(long, env = "HP_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Copy the embedded default's data consistently while it runs: every service's SQLite file
    /// (`VACUUM INTO`) and identity's key file, into a new private directory. Restore by
    /// starting on the copy (`up --data-dir TO`).
    Backup {
        /// The data directory of `up`.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// A new (or empty) directory for the copy.
        #[arg(long)]
        to: PathBuf,
    },
    /// Print the charts' topology block, generated from the mesh plan (`helm/*/values.yaml`
    /// carry it between `# BEGIN topology` and `# END topology`).
    ChartTopology,
    /// Create every service's PostgreSQL database if missing, apply its migrations (each once,
    /// however many run at the same time) and exit: the step a deployment runs before the
    /// services start.
    Migrate {
        /// `postgres://user[:password]@host[:port][/prefix]`, as for `up`.
        #[arg(long, env = "HP_DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// District codes whose malls run (default: the pilots, Qingpu and Yangpu).
        #[arg(long, value_delimiter = ',', conflicts_with = "city_only")]
        district_malls: Vec<String>,
        /// Only the city's services: district malls deployed on their own (the district-mall
        /// chart) migrate their own databases at start.
        #[arg(long)]
        city_only: bool,
    },
    /// Bring a city's data in from the platform it had before.
    Import {
        #[command(subcommand)]
        what: Import,
    },
}

#[derive(Debug, Subcommand)]
enum Import {
    /// Residents from an NDJSON file, or CSV when it ends in `.csv` (columns `name`,
    /// `id_number`, `phone`, `residence_district`, `residence_type`): streamed to the gateway,
    /// each imported once per ID number; refused lines are printed with why. They sign in once
    /// they set a password (a reset code, or at a health-station counter).
    Residents(ImportFile),
    /// Opening balances from an NDJSON file, or CSV when it ends in `.csv` (columns
    /// `record_id`, `id_number`, `book`, `points`, `expires_on`): each a transfer from the
    /// book's migration account to the resident (imported before), once per `record_id`;
    /// refused lines are printed with why.
    Balances(ImportFile),
}

#[derive(Debug, clap::Args)]
struct ImportFile {
    file: PathBuf,
    /// The gateway of a running healthpoints.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// `username:password` of a city admin (or of a district's admin, for their district's
    /// residents and book). A file that takes longer than a sign-in lasts goes as several
    /// requests, signing in again before each token runs out.
    #[arg(long, env = "HP_ADMIN", hide_env_values = true)]
    admin: String,
    /// The line of the file to start from: where an interrupted import said to resume.
    #[arg(long, default_value_t = 1)]
    from_line: u64,
}

/// The district malls named on the command line, or the pilots.
fn parse_district_malls(codes: &[String]) -> anyhow::Result<Vec<healthpoints_types::DistrictCode>> {
    if codes.is_empty() {
        return Ok(mesh::pilot_districts());
    }
    codes
        .iter()
        .map(|c| healthpoints_types::DistrictCode::parse(c))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("--district-malls: {}", e.0))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up {
            data_dir,
            http_addr,
            web_addr,
            bootstrap_admin,
            district_malls,
            demo,
            cors_origins,
            database_url,
        } => {
            let bootstrap_admin = match (bootstrap_admin, demo) {
                (None, true) => Some("admin:Admin-pass-2026".to_owned()),
                (given, _) => given,
            };
            let district_malls = parse_district_malls(&district_malls)?;
            let _telemetry =
                healthpoints_telemetry::init("healthpoints", &TelemetryConfig::default())?;
            let shutdown = healthpoints_grpc::Shutdown::on_signals();
            let running = mesh::start(MeshOptions {
                data_dir,
                http_addr,
                bootstrap_admin: bootstrap_admin.clone(),
                database_urls: Default::default(),
                database_server: database_url.clone(),
                district_malls,
                rate_limits: None,
                cors_origins,
                web_addr: (web_addr != "none").then_some(web_addr),
                mall_settings: Vec::new(),
            })
            .await?;
            if let Some(web) = running.web_url() {
                println!("healthpoints web client: {web}");
            }
            println!("healthpoints is up: {}", running.url());
            println!("  API description: {}/openapi.json", running.url());
            if let Some(url) = &database_url {
                println!("  databases: {}", healthpoints::databases::describe(url)?);
            }
            println!("  gRPC (reflection: grpcurl -plaintext ADDRESS list):");
            for (service, addr) in running.grpc_addresses() {
                println!("    {service:<12} {addr}");
            }
            if demo {
                let admin = bootstrap_admin.as_deref().unwrap_or_default();
                let (user, password) = admin.split_once(':').unwrap_or((admin, ""));
                match running.web_url() {
                    Some(web) => println!("demo data (sign in at {web}/login):"),
                    None => println!(
                        "demo data (log in at POST {}/v1/auth/login):",
                        running.url()
                    ),
                }
                for line in healthpoints::demo::seed(&running, (user, password)).await? {
                    println!("{line}");
                }
            }
            println!("  stop with Ctrl-C");
            running.run_until(shutdown).await;
            Ok(())
        }
        Command::ChartTopology => {
            print!("{}", healthpoints::chart::topology());
            Ok(())
        }
        Command::Backup { data_dir, to } => {
            for file in healthpoints::backup::backup(&data_dir, &to).await? {
                println!("copied {}", file.display());
            }
            Ok(())
        }
        Command::Migrate {
            database_url,
            district_malls: codes,
            city_only,
        } => {
            let _telemetry =
                healthpoints_telemetry::init("healthpoints", &TelemetryConfig::default())?;
            let districts = if city_only {
                vec![]
            } else {
                parse_district_malls(&codes)?
            };
            let plan = healthpoints::plan::MeshPlan::new(districts);
            for name in healthpoints::databases::migrate_all(&database_url, &plan).await? {
                println!("migrated {name}");
            }
            Ok(())
        }
        Command::Import { what } => {
            let (what, f) = match what {
                Import::Residents(f) => (healthpoints::import::What::Residents, f),
                Import::Balances(f) => (healthpoints::import::What::Balances, f),
            };
            let ImportFile {
                file,
                gateway,
                admin,
                from_line,
            } = f;
            let mut out = std::io::stdout();
            let done =
                healthpoints::import::run(&gateway, &admin, what, &file, from_line, &mut out)
                    .await?;
            println!(
                "created {}, already there {}, refused {}",
                done.created, done.exists, done.refused
            );
            if let Some(line) = done.next_line {
                anyhow::bail!(
                    "the import stopped before the end of {}: run it again with --from-line {line}",
                    file.display()
                );
            }
            Ok(())
        }
    }
}
