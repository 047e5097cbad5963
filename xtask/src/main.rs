//! Developer tasks (`cargo xtask <task>`):
//! - `help [--check]`: write help.md from plugin.spec.yaml and the templates in help/
//!   (`--check`: fail when help.md is stale);
//! - `export [--binary PATH] [--out FILE]`: build the static binary and write the `.plg`
//!   (a gzipped `docker save` archive) without a Docker daemon.

mod examples;
mod export;
mod help;
mod image;
mod py_repr;

use std::path::PathBuf;
use std::process::ExitCode;

/// The repository root (the parent of this crate).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("help") => help::run(&args[1..]),
        Some("export") => export::run(&args[1..]),
        _ => Err("usage: cargo xtask help [--check] | export [--binary PATH] [--out FILE]".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
