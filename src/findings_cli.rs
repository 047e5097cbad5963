//! The `send-findings` and `check-connection` commands: the findings feature for people and CI
//! pipelines holding a Prowler output file, with the connection from flags or the environment.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;

use serde_json::{Value, json};

use crate::actions::send_findings::{ClosedStatus, FindingSettings, Origin};
use crate::findings::{self, Report, ocsf};
use crate::halo::{ConnectionConfig, HaloClient};
use crate::protocol::PluginError;

/// Connection settings given on the command line or in `HALO_*` variables.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    #[arg(long = "client-id", env = "HALO_CLIENT_ID")]
    pub client_id: String,
    #[arg(long = "client-secret", env = "HALO_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    #[arg(long = "auth-server", env = "HALO_AUTH_SERVER")]
    pub auth_server: String,
    #[arg(long = "resource-server", env = "HALO_RESOURCE_SERVER")]
    pub resource_server: String,
    #[arg(long, env = "HALO_TENANT")]
    pub tenant: Option<String>,
    /// Accept a self-signed certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Per-request timeout in seconds.
    #[arg(long = "timeout", default_value_t = 30)]
    pub timeout_seconds: u64,
    /// The status that closes tickets (HaloITSM's built-in Closed is 9).
    #[arg(long = "closed-status-id", env = "HALO_CLOSED_STATUS_ID")]
    pub closed_status_id: Option<i64>,
    /// Requests the API application may make per --rate-limit-window; requests are paced to it.
    /// Unset: the limit is learned from HaloITSM's 429 answers.
    #[arg(long = "rate-limit-requests", env = "HALO_RATE_LIMIT_REQUESTS")]
    pub rate_limit_requests: Option<i64>,
    /// Seconds of the window --rate-limit-requests counts in.
    #[arg(long = "rate-limit-window", env = "HALO_RATE_LIMIT_WINDOW", default_value_t = 300)]
    pub rate_limit_window_seconds: u64,
}

impl ConnectionArgs {
    /// What the commands print, with the client secret masked in every form it takes on the
    /// wire (HaloITSM's own text is redacted by the client already; this is the second guard).
    pub fn mask(&self, text: &str) -> String {
        let mut secrets = vec![self.client_secret.clone()];
        let conn = json!({"client_id": self.client_id, "client_secret": {"secretKey": self.client_secret}});
        crate::protocol::with_encodings(&mut secrets, &conn);
        crate::protocol::Masker::new(secrets).mask_str(text).unwrap_or_else(|| text.to_string())
    }

    pub fn client(&self) -> Result<HaloClient, String> {
        let v = json!({
            "client_id": self.client_id, "client_secret": {"secretKey": self.client_secret},
            "authorization_server": self.auth_server, "resource_server": self.resource_server,
            "tenant": self.tenant, "ssl_verify": !self.insecure, "timeout_seconds": self.timeout_seconds,
            "rate_limit_requests": self.rate_limit_requests, "rate_limit_window_seconds": self.rate_limit_window_seconds,
        });
        let mut v = v;
        if let Some(c) = self.closed_status_id {
            v["closed_status_id"] = json!(c);
        }
        let cfg = ConnectionConfig::from_value(&v).map_err(|e| e.to_string())?;
        HaloClient::new(cfg).map_err(|e| e.to_string())
    }
}

/// What the findings command does besides the connection.
#[derive(Debug, Clone, clap::Args)]
pub struct FindingArgs {
    /// Ticket type of new tickets.
    #[arg(long = "tickettype-id", env = "HALO_TICKETTYPE_ID")]
    pub tickettype_id: Option<i64>,
    /// Finding statuses that need a ticket (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "FAIL")]
    pub statuses: Vec<String>,
    /// Findings below this severity get no ticket.
    #[arg(long = "min-severity", default_value = "Low")]
    pub min_severity: String,
    /// Custom field that stores each ticket's finding key.
    #[arg(long = "dedupe-field-id")]
    pub dedupe_field_id: Option<i64>,
    /// finding (one ticket per finding) or check (one per check).
    #[arg(long = "group-by", default_value = "finding")]
    pub group_by: String,
    /// ignore, note or close: what a passing finding does to its open ticket.
    #[arg(long = "on-pass", default_value = "note")]
    pub on_pass: String,
    #[arg(long = "reopen-status-id", default_value_t = 1)]
    pub reopen_status_id: i64,
    #[arg(long = "team-id")]
    pub team_id: Option<i64>,
    /// Priority per severity, e.g. Critical=1,High=2.
    #[arg(long = "priority", value_delimiter = ',')]
    pub priorities: Vec<String>,
    /// Work out what would happen without changing anything.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Seconds the whole batch may wait for HaloITSM's rate limit before the rest fails.
    #[arg(long = "deadline-seconds", env = "HALO_DEADLINE_SECONDS", default_value_t = 3600)]
    pub deadline_seconds: i64,
    /// Print the per-finding results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn options(a: &FindingArgs, closed_status_id: i64) -> Result<findings::Options, PluginError> {
    let mut map: HashMap<String, Value> = HashMap::new();
    for p in &a.priorities {
        let (k, v) = p.split_once('=').ok_or_else(|| {
            PluginError::client(format!("--priority `{p}` is not SEVERITY=ID"), "Write e.g. --priority Critical=1,High=2.")
        })?;
        let id: i64 = v
            .trim()
            .parse()
            .map_err(|_| PluginError::client(format!("--priority `{p}`: `{v}` is not a number"), "Write e.g. --priority Critical=1."))?;
        map.insert(k.trim().to_string(), json!(id));
    }
    FindingSettings {
        origin: Origin::Command,
        statuses: a.statuses.clone(),
        min_severity: a.min_severity.clone(),
        tickettype_id: a.tickettype_id,
        default_tickettype_id: None,
        priority_map: map,
        dedupe_field_id: a.dedupe_field_id,
        group_by: a.group_by.clone(),
        on_pass: a.on_pass.clone(),
        reopen_status_id: a.reopen_status_id,
        closed_status: ClosedStatus { id: closed_status_id, setting: "--closed-status-id (HALO_CLOSED_STATUS_ID)" },
        team_id: a.team_id,
        dry_run: a.dry_run,
        deadline_seconds: a.deadline_seconds,
        batch_size: None,
    }
    .check()
}

fn print_report(r: &Report, total: usize, dry_run: bool, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return;
    }
    println!("{total} finding(s){}", if dry_run { " (dry run: nothing was changed)" } else { "" });
    println!("  {:<10} {:>6}", "outcome", "count");
    for (name, n) in [
        ("created", r.counts.created),
        ("updated", r.counts.updated),
        ("reopened", r.counts.reopened),
        ("closed", r.counts.closed),
        ("unchanged", r.counts.unchanged),
        ("skipped", r.counts.skipped),
        ("failed", r.counts.failed),
    ] {
        println!("  {name:<10} {n:>6}");
    }
    let changed: Vec<_> =
        r.results.iter().filter(|x| !matches!(x.outcome, findings::Outcome::Unchanged | findings::Outcome::Skipped)).collect();
    if !changed.is_empty() {
        println!();
        println!("  {:<9} {:>7}  {:<9} check / resource", "outcome", "ticket", "severity");
        for x in changed {
            let ticket = x.ticket_id.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
            println!(
                "  {:<9} {:>7}  {:<9} {} / {}",
                x.outcome.as_str(),
                ticket,
                x.severity.as_deref().unwrap_or("-"),
                x.check_id.as_deref().unwrap_or("-"),
                x.resource_uid.as_deref().unwrap_or("-")
            );
            if let Some(e) = &x.error {
                println!("            error: {e}");
            }
        }
    }
}

/// The progress bar's note while requests wait for the rate limit (a second or more).
fn waiting_message(waiting: Option<std::time::Duration>) -> String {
    match waiting {
        Some(d) if d.as_secs() >= 1 => format!("waiting for HaloITSM's rate limit ({} s)", d.as_secs()),
        _ => String::new(),
    }
}

/// `send-findings FILE`: exit status 0 when every finding was handled, 1 when some failed,
/// 2 when nothing could be done.
pub async fn send_findings(file: &Path, conn: &ConnectionArgs, args: &FindingArgs) -> i32 {
    let closed = conn.closed_status_id.unwrap_or(crate::halo::BUILT_IN_CLOSED_STATUS);
    let opts = match options(args, closed) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {} {}", e.cause, e.assistance);
            return 2;
        }
    };
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return 2;
        }
    };
    let all = match ocsf::read_file(&bytes) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return 2;
        }
    };
    let client = match conn.client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} tickets {elapsed} {msg}") {
            b.set_style(style);
        }
        b.enable_steady_tick(std::time::Duration::from_millis(250));
        Some(b)
    } else {
        None
    };
    // Say when the batch is held back by HaloITSM's rate limit, and for how long.
    let watch = bar.clone().map(|b| {
        let budget = client.budget().clone();
        tokio::spawn(async move {
            loop {
                b.set_message(waiting_message(budget.waiting()));
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        })
    });
    let progress = |done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    };
    let result = findings::send(&client, &opts, &all, &progress).await;
    if let Some(w) = watch {
        w.abort();
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match result {
        Ok(mut report) => {
            for r in &mut report.results {
                if let Some(e) = &mut r.error {
                    *e = conn.mask(e);
                }
            }
            print_report(&report, all.len(), opts.dry_run, args.json);
            if report.counts.failed > 0 { 1 } else { 0 }
        }
        Err(e) => {
            let pe = PluginError::from(&e);
            eprintln!("error: {}", conn.mask(&format!("{} {}", pe.cause, pe.assistance)));
            2
        }
    }
}

/// Rows of one lookup `check-connection` prints.
const LOOKUP_ROWS: usize = 50;

/// `check-connection`: does the connection work, and which IDs can the inputs use.
pub async fn check_connection(conn: &ConnectionArgs) -> i32 {
    let client = match conn.client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if let Err(e) = client.test_access().await {
        let pe = PluginError::from(&e);
        println!("Connection FAILED: {}", conn.mask(&pe.cause));
        println!("  {}", conn.mask(&pe.assistance));
        return 1;
    }
    println!("Connection OK: {} (token fetched, tickets readable)", client.config().resource_server);
    // (title, path, wrapper key, where the name is: categories hold it in `value`, outcomes in
    // `outcome`, docs/halo-api.md#K5, K6).
    let lookups: [(&str, &str, &str, &str); 5] = [
        ("Ticket types", "TicketType", "tickettypes", "name"),
        ("Teams", "Team", "teams", "name"),
        ("Clients", "Client", "clients", "name"),
        ("Categories", "Category", "categories", "value"),
        ("Outcomes (for notes)", "Outcome", "outcomes", "outcome"),
    ];
    for (title, path, key, name_key) in lookups {
        println!();
        println!("{title}:");
        match client.list(path, &[], key).await {
            Ok((rows, _)) => {
                for r in rows.iter().take(LOOKUP_ROWS) {
                    let id = crate::halo::ticket::int(r, "id").map(|i| i.to_string()).unwrap_or_else(|| "-".into());
                    let name = crate::halo::ticket::string(r, name_key).unwrap_or_default();
                    println!("  {id:>5}  {name}");
                }
                if rows.len() > LOOKUP_ROWS {
                    println!("  ... and {} more (the list actions show all)", rows.len() - LOOKUP_ROWS);
                }
            }
            Err(e) => println!("  (could not list: {})", conn.mask(&e.to_string())),
        }
    }
    println!();
    println!("Statuses:");
    match client.statuses(true).await {
        Ok(statuses) => {
            for s in &statuses.list {
                let closes = match s.closes {
                    Some(true) => "  (closes tickets)",
                    _ => "",
                };
                println!("  {:>5}  {}{closes}", s.id, s.name);
            }
            if let Err(problem) = crate::halo::tenant::check_closed_status(&statuses, client.config().closed_status_id) {
                println!();
                println!("Closed status WRONG: {problem}");
                return 1;
            }
            println!();
            println!("Closed status {} closes tickets", client.config().closed_status_id);
        }
        Err(e) => println!("  (could not list: {})", conn.mask(&e.to_string())),
    }
    0
}
