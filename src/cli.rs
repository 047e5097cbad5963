//! The legacy command-line sub-commands (`info`, `sample`, `run`, `test`, `http`), as
//! library functions so that `main.rs` only parses arguments.

use std::io::{IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::plugin::{Mode, Plugin};
use crate::protocol::{MessageType, PluginError, StartMessage, envelope};
use crate::server::{self, AppState, ServerOptions};
use crate::spec::spec;

/// `info`: name, vendor, version, description and the steps, laid out like the Python runtime.
pub fn info_text(color: bool) -> String {
    let s = spec();
    let (g, r) = if color { ("\x1b[92m", "\x1b[0m") } else { ("", "") };
    let mut out = String::new();
    out.push_str(&format!("Name:        {g}{}{r}\n", s.name));
    out.push_str(&format!("Vendor:      {g}{}{r}\n", s.vendor));
    out.push_str(&format!("Version:     {g}{}{r}\n", s.version));
    out.push_str(&format!("Description: {g}{}{r}\n", s.description));
    for (label, steps) in [("Triggers", &s.triggers), ("Actions", &s.actions), ("Tasks", &s.tasks)] {
        if steps.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{label} ({g}{}{r}):\n", steps.len()));
        for (name, step) in steps.iter() {
            out.push_str(&format!("└── {g}{name}{r} ({}{r})\n", step.description));
        }
    }
    out
}

pub fn print_info() {
    print!("{}", info_text(std::io::stdout().is_terminal()));
}

/// `sample NAME`: a complete start message for a step, filled from the spec's examples and
/// defaults.
pub fn sample(name: &str) -> Result<Value, String> {
    let s = spec();
    let connection = s.sample(&s.connection);
    if let Some(t) = s.tasks.get(name) {
        return Ok(
            json!({"body": {"task": name, "meta": {}, "input": s.sample(&t.input), "connection": connection, "state": {}}, "type": "task_start", "version": "v1"}),
        );
    }
    if let Some(t) = s.triggers.get(name) {
        return Ok(json!({"body": {"trigger": name, "meta": {}, "input": s.sample(&t.input),
            "dispatcher": {"url": "http://localhost:8000", "webhook_url": ""}, "connection": connection}, "type": "trigger_start", "version": "v1"}));
    }
    if let Some(a) = s.actions.get(name) {
        return Ok(
            json!({"body": {"action": name, "meta": {}, "input": s.sample(&a.input), "connection": connection}, "type": "action_start", "version": "v1"}),
        );
    }
    Err(format!("Invalid trigger, action or task name: {name}"))
}

/// `run` / `test`: one start message on stdin, the output message on stdout. Returns the exit
/// status (0 on success).
pub async fn run_stdin(plugin: Arc<Plugin>, mode: Mode) -> i32 {
    let mut input = Vec::new();
    let parsed: Result<Value, PluginError> = match std::io::stdin().read_to_end(&mut input) {
        Err(e) => Err(PluginError::client(
            format!("Could not read the start message from standard input: {e}"),
            "Pipe one JSON start message into the command.",
        )),
        Ok(_) => serde_json::from_slice(&input).map_err(|e| {
            PluginError::client(
                format!("The start message on standard input is not valid JSON: {e}"),
                "Pipe one JSON start message into the command (see the `sample` command).",
            )
        }),
    };
    let (message, ok) = match parsed {
        // A trigger runs until it is stopped; it prints only if it cannot start or fails.
        Ok(msg) if mode == Mode::Run && StartMessage::type_of(&msg) == Some(MessageType::TriggerStart) => {
            match crate::triggers::run(plugin.clone(), msg, crate::triggers::Options::from_env(plugin.debug()), std::future::pending())
                .await
            {
                Ok(()) => return 0,
                Err(message) => (message, false),
            }
        }
        Ok(msg) => {
            let outcome = plugin.handle(msg, mode).await;
            let ok = outcome.is_ok();
            (outcome.message, ok)
        }
        Err(e) => {
            tracing::error!("{e}");
            (envelope(None, &json!({}), String::new(), Err(e)), false)
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut stdout, &message);
    let _ = stdout.write_all(b"\n");
    let _ = stdout.flush();
    if ok { 0 } else { 1 }
}

/// `http`: serve the REST API until SIGTERM/SIGINT.
pub async fn http(plugin: Plugin, addr: SocketAddr, opts: ServerOptions) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("{} {} serving the plugin API on http://{}", spec().name, spec().version, listener.local_addr()?);
    let state = AppState::new(Arc::new(plugin));
    server::serve(state, listener, opts, server::termination_signal()).await
}

/// Process logging: human-readable lines on stderr (JSON with `LOG_FORMAT=json`), level from
/// `RUST_LOG` or `--debug`, plus the per-step capture that fills each output's `log`.
pub fn init_logging(debug: bool, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = match (debug, quiet) {
        (true, _) => "debug,hyper=info,reqwest=info,h2=info,rustls=info",
        (false, true) => "error",
        (false, false) => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(crate::protocol::MaskingStderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let registry = tracing_subscriber::registry().with(crate::protocol::StepLogLayer);
    if json {
        let _ = registry.with(stderr.json().with_filter(filter)).try_init();
    } else {
        let _ = registry.with(stderr.with_filter(filter)).try_init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_lists_every_action() {
        let text = info_text(false);
        assert!(text.starts_with("Name:        haloitsm\nVendor:      "));
        for name in spec().actions.keys() {
            assert!(text.contains(&format!("└── {name} (")), "{name} missing from:\n{text}");
        }
    }

    #[test]
    fn samples_are_complete_start_messages() {
        for name in spec().actions.keys() {
            let s = sample(name).unwrap();
            assert_eq!(s["type"], "action_start");
            assert_eq!(s["body"]["action"], json!(name));
            assert!(s["body"]["connection"]["client_secret"]["secretKey"].is_string());
            let input = s["body"]["input"].as_object().unwrap();
            assert_eq!(input.len(), spec().actions[name].input.fields.len());
        }
        assert!(sample("nope").is_err());
    }
}
