//! The `icon_haloitsm` program: argument parsing only; every sub-command lives in the library.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use halo_sim as sim;
use icon_haloitsm::plugin::{Mode, Plugin};
use icon_haloitsm::server::{
    DEFAULT_BODY_LIMIT, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_BODY_BYTES_IN_FLIGHT,
    DEFAULT_MAX_CONCURRENT_STEPS, DEFAULT_MAX_QUEUED_STEPS, ServerOptions,
};
use icon_haloitsm::{cli, demo, findings_cli};

/// jemalloc rather than the C library's allocator: under concurrent steps glibc's malloc spent
/// about a third of the plugin's CPU (arena locks, consolidation), and the static musl build the
/// container ships has a slower allocator still (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "icon_haloitsm", version, about = "HaloITSM plugin for Rapid7 InsightConnect")]
struct Args {
    /// More logging; a trigger writes its events to stdout instead of POSTing them.
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the plugin's name, version and steps.
    Info,
    /// Print a sample start message for an action or trigger.
    Sample { name: String },
    /// Run the start message on stdin; the output message goes to stdout.
    Run,
    /// Run the connection test for the start message on stdin.
    Test,
    /// Serve the plugin REST API.
    Http {
        #[arg(long, default_value_t = 10001)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0")]
        bind: IpAddr,
        /// Seconds in-flight steps may take to finish after SIGTERM.
        #[arg(long = "graceful-timeout", alias = "graceful_timeout", default_value_t = 30)]
        graceful_timeout: u64,
        /// Largest request body in bytes.
        #[arg(long = "body-limit", default_value_t = DEFAULT_BODY_LIMIT)]
        body_limit: usize,
        /// Most steps running at once; more wait in the queue.
        #[arg(long = "max-concurrent-steps", value_name = "N", default_value_t = DEFAULT_MAX_CONCURRENT_STEPS as u64,
              value_parser = clap::value_parser!(u64).range(1..=100_000))]
        max_concurrent_steps: u64,
        /// Most steps waiting for a free slot; beyond these a step is refused with 503 and Retry-After.
        #[arg(long = "max-queued-steps", value_name = "M", default_value_t = DEFAULT_MAX_QUEUED_STEPS as u64,
              value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
        max_queued_steps: u64,
        /// Bytes of request bodies held in memory at once (read, waiting or running); a body
        /// that does not fit is refused with 503 and Retry-After. At least --body-limit.
        #[arg(long = "max-body-bytes-in-flight", value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES_IN_FLIGHT)]
        max_body_bytes_in_flight: usize,
        /// Seconds a client may take to send a request's headers before it is disconnected.
        #[arg(long = "header-read-timeout", value_name = "SECONDS", default_value_t = DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        header_read_timeout: u64,
        /// Seconds a step's body may take to arrive before the step is answered 408.
        #[arg(long = "body-read-timeout", value_name = "SECONDS", default_value_t = DEFAULT_BODY_READ_TIMEOUT.as_secs(),
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        body_read_timeout: u64,
        // Accepted for compatibility with the Python runtime's command line; not used.
        #[arg(long = "process_workers", hide = true)]
        _process_workers: Option<u32>,
        #[arg(long = "threads_per_worker", hide = true)]
        _threads_per_worker: Option<u32>,
        #[arg(long = "worker_class", hide = true)]
        _worker_class: Option<String>,
        #[arg(long = "worker_connections", hide = true)]
        _worker_connections: Option<u32>,
    },
    /// Run the demo: the plugin against the embedded HaloITSM simulator.
    Demo {
        /// Against a tenant that behaves as integrations in production found live tenants to
        /// (docs/halo-api.md: search that misses keys, capped histories, colliding creates, ...).
        #[arg(long = "live-tenant")]
        live_tenant: bool,
    },
    /// Turn a Prowler OCSF output file into HaloITSM tickets, without duplicates.
    #[command(name = "send-findings")]
    SendFindings {
        /// The Prowler output file (*.ocsf.json).
        file: std::path::PathBuf,
        #[command(flatten)]
        connection: findings_cli::ConnectionArgs,
        #[command(flatten)]
        options: findings_cli::FindingArgs,
    },
    /// Check a HaloITSM connection and list the IDs the inputs need.
    #[command(name = "check-connection")]
    CheckConnection {
        #[command(flatten)]
        connection: findings_cli::ConnectionArgs,
    },
    /// Run the embedded HaloITSM simulator.
    Simulate(sim::cli::SimulateArgs),
}

fn runtime(multi: bool) -> tokio::runtime::Runtime {
    let mut b = if multi { tokio::runtime::Builder::new_multi_thread() } else { tokio::runtime::Builder::new_current_thread() };
    b.enable_all().build().unwrap_or_else(|e| {
        eprintln!("could not start the async runtime: {e}");
        std::process::exit(2)
    })
}

/// Short-lived commands that print (info, sample, send-findings, ...) end quietly when their
/// output is piped into a program that stops reading (`| head`), like other command-line tools.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal disposition to its default before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if matches!(args.command, Command::Info | Command::Sample { .. } | Command::SendFindings { .. } | Command::CheckConnection { .. }) {
        default_sigpipe();
    }
    // The demo prints its own account; process logs would only interleave with it.
    cli::init_logging(args.debug, matches!(args.command, Command::Demo { .. }));
    match args.command {
        Command::Info => {
            cli::print_info();
            ExitCode::SUCCESS
        }
        Command::Sample { name } => match cli::sample(&name) {
            Ok(msg) => {
                println!("{msg}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Run | Command::Test => {
            let mode = if matches!(args.command, Command::Run) { Mode::Run } else { Mode::Test };
            let plugin = std::sync::Arc::new(Plugin::new(args.debug));
            // One thread: a trigger's listener, engine and dispatcher are all I/O-bound, and on
            // one thread they hand work to each other without crossing threads (faster webhook
            // ingest and start-up, measured in bench/RESULTS.md).
            let code = runtime(false).block_on(cli::run_stdin(plugin, mode));
            ExitCode::from(code as u8)
        }
        Command::Http {
            port,
            bind,
            graceful_timeout,
            body_limit,
            max_concurrent_steps,
            max_queued_steps,
            max_body_bytes_in_flight,
            header_read_timeout,
            body_read_timeout,
            ..
        } => {
            let opts = ServerOptions {
                body_limit,
                graceful_timeout: Duration::from_secs(graceful_timeout),
                // The parsers bound both far below usize::MAX.
                max_concurrent_steps: max_concurrent_steps as usize,
                max_queued_steps: max_queued_steps as usize,
                max_body_bytes_in_flight,
                header_read_timeout: Duration::from_secs(header_read_timeout),
                body_read_timeout: Duration::from_secs(body_read_timeout),
            };
            match runtime(true).block_on(cli::http(Plugin::new(args.debug), SocketAddr::new(bind, port), opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("http server failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::SendFindings { file, connection, options } => {
            let code = runtime(true).block_on(findings_cli::send_findings(&file, &connection, &options));
            ExitCode::from(code as u8)
        }
        Command::CheckConnection { connection } => {
            let code = runtime(false).block_on(findings_cli::check_connection(&connection));
            ExitCode::from(code as u8)
        }
        Command::Demo { live_tenant } => {
            let ok = runtime(true).block_on(demo::run(live_tenant));
            if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Command::Simulate(flags) => {
            let run = match flags.into_settings() {
                Ok(run) => run,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            match runtime(true).block_on(sim::run_cli(run)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("simulator failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
