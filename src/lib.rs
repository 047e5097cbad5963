//! icon_haloitsm: a HaloITSM plugin for Rapid7 InsightConnect. See ARCHITECTURE.md.

pub mod actions;
pub mod cli;
pub mod converge;
pub mod demo;
pub mod findings;
pub mod findings_cli;
pub mod fnv;
pub mod front_door;
pub mod halo;
pub mod halo_failures;
pub mod key_locks;
pub mod lifecycle;
pub mod memory;
pub mod plugin;
pub mod protocol;
pub mod remediations;
pub mod server;
pub mod spec;
pub mod sync;
pub mod ticket_events;
pub mod triggers;
