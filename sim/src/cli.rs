//! The `simulate` command's flags, owned by the simulator so that the plugin binary only
//! flattens them: every fault and tenant variant a harness may want, from the command line.

use std::net::{IpAddr, SocketAddr};

use super::profile::{ListRows, Profile, StatusSet};
use super::webhooks::Payload;
use super::{Faults, SimConfig, WebhookConfig};

#[derive(clap::Args, Debug, Clone)]
pub struct SimulateArgs {
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    #[arg(long = "client-id", default_value = "sim-client")]
    pub client_id: String,
    #[arg(long = "client-secret", default_value = "sim-secret")]
    pub client_secret: String,
    #[arg(long)]
    pub tenant: Option<String>,
    /// Token lifetime in seconds.
    #[arg(long = "token-lifetime", default_value_t = 3600)]
    pub token_lifetime: u64,
    /// The API application's name, recorded on the actions it makes.
    #[arg(long = "application-name", default_value = super::seed::DEFAULT_APPLICATION)]
    pub application_name: String,
    /// Added latency per API request, in milliseconds.
    #[arg(long = "latency-ms", default_value_t = 0)]
    pub latency_ms: u64,
    /// Answer every Nth API request with 429.
    #[arg(long = "rate-limit-every", default_value_t = 0)]
    pub rate_limit_every: u64,
    /// HaloITSM's rolling-window limit, REQUESTS/SECONDS (e.g. 100/10): beyond it, 429.
    #[arg(long = "rate-limit")]
    pub rate_limit: Option<super::RateWindow>,
    /// Send `Retry-After` with the rolling window's 429s.
    #[arg(long = "rate-limit-retry-after", requires = "rate_limit")]
    pub rate_limit_retry_after: bool,
    /// Answer every Nth API request with 500.
    #[arg(long = "server-error-every", default_value_t = 0)]
    pub server_error_every: u64,
    /// Start without the seed data.
    #[arg(long)]
    pub empty: bool,
    /// The tenant's statuses: `stock` (Closed is 9) or `customised` (renamed, closed 21 and 22).
    #[arg(long, value_enum, default_value = "stock")]
    pub statuses: StatusSetArg,
    /// What ticket list rows carry: `thin` (as captured) or `schema` (every list-schema field).
    #[arg(long = "list-rows", value_enum, default_value = "thin")]
    pub list_rows: ListRowsArg,
    /// Leave `hasbeenclosed` out of full ticket reads when it is false.
    #[arg(long = "omit-false-hasbeenclosed")]
    pub omit_false_hasbeenclosed: bool,
    /// Refuse POST bodies that are a bare object instead of an array.
    #[arg(long = "refuse-bare-objects")]
    pub refuse_bare_objects: bool,
    /// Leave `assets`, `parent_id` and `child_ticket_ids` out of full ticket reads.
    #[arg(long = "omit-ticket-relations")]
    pub omit_ticket_relations: bool,
    /// Answer a POST of several records with the last one saved, even with `returnall=true`.
    #[arg(long = "batch-answer-last-only")]
    pub batch_answer_last_only: bool,
    /// Refuse a POST of more than one record (400).
    #[arg(long = "refuse-arrays-of-many")]
    pub refuse_arrays_of_many: bool,
    /// POST Halo-style webhooks for every ticket change to this URL.
    #[arg(long = "webhook-url")]
    pub webhook_url: Option<String>,
    /// HTTP Basic user for the webhook deliveries (with --webhook-password).
    #[arg(long = "webhook-user", requires_all = ["webhook_url", "webhook_password"])]
    pub webhook_user: Option<String>,
    #[arg(long = "webhook-password", requires_all = ["webhook_url", "webhook_user"])]
    pub webhook_password: Option<String>,
    /// Send `Authorization: Bearer <token>` with each delivery.
    #[arg(long = "webhook-bearer", requires = "webhook_url", conflicts_with = "webhook_user")]
    pub webhook_bearer: Option<String>,
    /// Send this API key in the header --webhook-api-key-header (default X-API-Key).
    #[arg(long = "webhook-api-key", requires = "webhook_url")]
    pub webhook_api_key: Option<String>,
    #[arg(long = "webhook-api-key-header", requires = "webhook_api_key")]
    pub webhook_api_key_header: Option<String>,
    /// Send JSON arrays of up to this many events (gathered for 50 ms).
    #[arg(long = "webhook-batch", requires = "webhook_url", default_value_t = 0)]
    pub webhook_batch: usize,
    /// What a delivery carries: `full` (ticket and action), `small` (a few ticket fields) or
    /// `event-only` (IDs only) or `custom` (the --webhook-custom-payload template).
    #[arg(long = "webhook-payload", requires = "webhook_url", value_enum, default_value = "full")]
    pub webhook_payload: PayloadArg,
    /// With --webhook-payload custom: the JSON template (`<<ticket>>`, `<<ticket^field>>`).
    #[arg(long = "webhook-custom-payload", requires = "webhook_url")]
    pub webhook_custom_payload: Option<String>,
    /// The same as --webhook-payload event-only.
    #[arg(long = "webhook-event-only", requires = "webhook_url")]
    pub webhook_event_only: bool,
    /// Send every number (IDs) as a string.
    #[arg(long = "webhook-ids-as-strings", requires = "webhook_url")]
    pub webhook_ids_as_strings: bool,
    /// Share (0 to 1) of deliveries never sent.
    #[arg(long = "webhook-drop", requires = "webhook_url", default_value_t = 0.0)]
    pub webhook_drop: f64,
    /// Share (0 to 1) of deliveries sent twice.
    #[arg(long = "webhook-duplicate", requires = "webhook_url", default_value_t = 0.0)]
    pub webhook_duplicate: f64,
    /// Delay half of the deliveries by a random 0 to this many milliseconds (reorders them).
    #[arg(long = "webhook-delay-ms", requires = "webhook_url")]
    pub webhook_delay_ms: Option<u64>,
    /// Seed for the drop, duplicate and delay choices (repeatable runs).
    #[arg(long = "webhook-seed", requires = "webhook_url")]
    pub webhook_seed: Option<u64>,
    /// Whether the API application may manage webhooks over the API [W21].
    #[arg(long = "webhook-api", value_enum, default_value = "allowed")]
    pub webhook_api: super::WebhookAccess,
    /// How `GET /WebhookEvent` answers the delivery log: a bare array, a keyed list, or not at all [W20].
    #[arg(long = "webhook-delivery-log", value_enum, default_value = "bare")]
    pub webhook_delivery_log: super::DeliveryLog,
    /// `GET /Webhook` rows carry only id, name, url and active [W17].
    #[arg(long = "webhook-list-thin")]
    pub webhook_list_thin: bool,
    #[command(flatten)]
    pub live: super::live_args::LiveArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum StatusSetArg {
    Stock,
    Customised,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ListRowsArg {
    Thin,
    Schema,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum PayloadArg {
    Full,
    Small,
    EventOnly,
    Custom,
}

/// What `simulate` runs: the simulator's settings, where it listens, its faults and webhooks.
pub struct Simulate {
    pub config: SimConfig,
    pub addr: SocketAddr,
    pub faults: Faults,
    pub webhook: Option<WebhookConfig>,
}

impl SimulateArgs {
    /// The settings the flags describe; Err says which webhook setting is unusable.
    pub fn into_settings(self) -> Result<Simulate, String> {
        let profile = Profile {
            statuses: match self.statuses {
                StatusSetArg::Stock => StatusSet::Stock,
                StatusSetArg::Customised => StatusSet::Customised,
            },
            list_rows: match self.list_rows {
                ListRowsArg::Thin => ListRows::Thin,
                ListRowsArg::Schema => ListRows::Schema,
            },
            omit_false_hasbeenclosed: self.omit_false_hasbeenclosed,
            refuse_bare_objects: self.refuse_bare_objects,
            omit_ticket_relations: self.omit_ticket_relations,
            batch_answer_last_only: self.batch_answer_last_only,
            refuse_arrays_of_many: self.refuse_arrays_of_many,
            live: self.live.quirks(),
            webhook_api: super::WebhookApiVariant {
                access: self.webhook_api,
                delivery_log: self.webhook_delivery_log,
                thin_list_rows: self.webhook_list_thin,
            },
            ..Profile::default()
        };
        let config = SimConfig {
            client_id: self.client_id,
            client_secret: self.client_secret,
            tenant: self.tenant,
            token_lifetime_secs: self.token_lifetime,
            seed: !self.empty,
            profile,
            application_name: self.application_name,
        };
        let faults = Faults {
            latency_ms: self.latency_ms,
            rate_limit_every: self.rate_limit_every,
            server_error_every: self.server_error_every,
            retry_after_secs: Some(1),
            rate_window: self.rate_limit.map(|w| super::RateWindow { retry_after: self.rate_limit_retry_after, ..w }),
            ..Faults::default()
        };
        let payload = match (self.webhook_event_only, self.webhook_payload) {
            (true, _) | (false, PayloadArg::EventOnly) => Payload::EventOnly,
            (false, PayloadArg::Small) => Payload::Small,
            (false, PayloadArg::Full) => Payload::Full,
            (false, PayloadArg::Custom) => Payload::Custom,
        };
        let webhook = self.webhook_url.map(|url| WebhookConfig {
            url,
            username: self.webhook_user,
            password: self.webhook_password,
            bearer_token: self.webhook_bearer,
            api_key: self.webhook_api_key,
            api_key_header: self.webhook_api_key_header,
            batch_size: self.webhook_batch,
            batch_window_ms: if self.webhook_batch > 1 { 50 } else { 0 },
            payload,
            custom_payload: self.webhook_custom_payload,
            ids_as_strings: self.webhook_ids_as_strings,
            drop_ratio: self.webhook_drop,
            duplicate_ratio: self.webhook_duplicate,
            delay_ratio: if self.webhook_delay_ms.is_some() { 0.5 } else { 0.0 },
            delay_ms: self.webhook_delay_ms.unwrap_or(0),
            seed: self.webhook_seed,
            ..WebhookConfig::default()
        });
        if let Some(w) = &webhook {
            w.validate().map_err(|e| format!("invalid webhook settings: {e}"))?;
        }
        Ok(Simulate { config, addr: SocketAddr::new(self.bind, self.port), faults, webhook })
    }
}
