//! The integration tests, one binary (linked once, every test run in parallel), a module per area.

mod comment_edits;
mod common;

mod actions_reads;
mod actions_writes;
mod adversarial;
mod architecture;
mod assets;
mod attachments_out;
mod cli;
mod connection_settings;
mod findings_batches;
mod findings_flows;
mod findings_wiremock;
mod halo_client;
mod investigations;
mod live_tenant;
mod lookups_more;
mod people_search;
mod plg;
mod process_webhook;
mod proptest_parsers;
mod protocol_http;
mod rate_limits;
mod related_tickets;
mod reliability;
mod remediations;
mod sim;
mod sim_flows;
mod sim_webhooks;
mod spec_contract;
mod stock_tenant;
mod sync;
mod ticket_flows;
mod tls;
mod triggers;
