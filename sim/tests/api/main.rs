//! The simulator's own tests: `halo_sim` started on 127.0.0.1 and driven over real HTTP, the way
//! the plugin's client will, with nothing of the plugin. One binary, a module per area; the
//! helpers (a simulator, a token, a client with it) are in `sim/tests/common`.

use std::time::{Duration, Instant};

use halo_sim::{ChangeKind, Faults, SimConfig, SimHandle};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[path = "../common/mod.rs"]
mod common;

use common::*;

mod actions;
mod attachments;
mod auth;
mod faults;
mod live_tenant;
mod lookups;
mod tickets;
