//! The legacy command line of the real binary: `info`, `sample`, `run`, `test`, `http`.

use crate::common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{
    ODD_SECRET, SECRET, connection, echoing_api, echoing_token_endpoint, halo_with_token, leaked, mount_agent_and_teams, odd_connection,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_icon_haloitsm");

fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

async fn halo() -> MockServer {
    let server = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/5"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 5, "summary": "Port scan", "status_id": 1, "status_name": "New"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 1, "tickets": [{"id": 5}]})))
        .mount(&server)
        .await;
    mount_agent_and_teams(&server).await;
    server
}

#[test]
fn info_lists_name_version_and_actions() {
    let out = Command::new(BIN).arg("info").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Name:        haloitsm"), "{text}");
    assert!(text.contains("Version:     1.0.0"), "{text}");
    assert!(text.contains("└── get_ticket ("), "{text}");
}

#[test]
fn sample_prints_a_start_message_and_rejects_unknown_names() {
    let out = Command::new(BIN).args(["sample", "get_ticket"]).output().unwrap();
    assert!(out.status.success());
    let msg = stdout_json(&out);
    assert_eq!(msg["type"], "action_start");
    assert_eq!(msg["body"]["action"], "get_ticket");
    assert_eq!(msg["body"]["input"], json!({"ticket_id": 1042, "include_details": true}));
    assert_eq!(msg["body"]["connection"]["client_secret"], json!({"secretKey": "9z8y7x6w5v4u3t2s1r0q9z8y7x6w5v4u3t2s1r0q"}));
    let out = Command::new(BIN).args(["sample", "nope"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Invalid trigger, action or task name"));
}

#[tokio::test]
async fn run_answers_on_stdout_logs_on_stderr_and_exits_zero() {
    let halo = halo().await;
    let msg = json!({"version": "v1", "type": "action_start",
        "body": {"action": "get_ticket", "meta": {"jobId": "j"}, "connection": connection(&halo.uri()), "input": {"ticket_id": 5}}});
    let out = tokio::task::spawn_blocking(move || run_with_stdin(&["run"], &msg.to_string())).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body = stdout_json(&out);
    assert_eq!(body["body"]["status"], "ok");
    assert_eq!(body["body"]["meta"], json!({"jobId": "j"}));
    assert_eq!(body["body"]["output"]["ticket"]["summary"], "Port scan");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Step name: get_ticket"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));
}

#[tokio::test]
async fn run_exits_non_zero_with_an_error_message_for_bad_input() {
    let halo = halo().await;
    let msg = json!({"version": "v1", "type": "action_start",
        "body": {"action": "get_ticket", "connection": connection(&halo.uri()), "input": {"ticket_id": "five"}}});
    let out = tokio::task::spawn_blocking(move || run_with_stdin(&["run"], &msg.to_string())).await.unwrap();
    assert!(!out.status.success());
    let body = stdout_json(&out);
    assert_eq!(body["body"]["status"], "error");
    assert!(body["body"]["error"].as_str().unwrap().contains("`ticket_id`"));
}

#[test]
fn run_with_malformed_json_reports_it() {
    let out = run_with_stdin(&["run"], "{oops");
    assert!(!out.status.success());
    let body = stdout_json(&out);
    assert!(body["body"]["error"].as_str().unwrap().contains("not valid JSON"));
}

#[tokio::test]
async fn test_runs_the_connection_test() {
    let halo = halo().await;
    let msg = json!({"version": "v1", "type": "action_start", "body": {"action": "get_ticket", "connection": connection(&halo.uri()), "input": {}}});
    let out = tokio::task::spawn_blocking(move || run_with_stdin(&["--debug", "test"], &msg.to_string())).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout_json(&out)["body"]["output"], json!({"success": true}));

    let bad = json!({"version": "v1", "type": "connection_test", "body": {"connection": connection("http://127.0.0.1:9")}});
    let out = tokio::task::spawn_blocking(move || run_with_stdin(&["test"], &bad.to_string())).await.unwrap();
    assert!(!out.status.success());
    let body = stdout_json(&out);
    assert!(body["body"]["error"].as_str().unwrap().starts_with("Connection test failed!"), "{body}");
}

#[tokio::test]
async fn http_serves_until_sigterm_then_exits_cleanly() {
    // Port 0: the server binds a free port itself and says which (no window for another to take it).
    let mut child = Command::new(BIN).args(["http", "--port", "0", "--bind", "127.0.0.1"]).stderr(Stdio::piped()).spawn().unwrap();
    let (base, _) = common::announced_url(child.stderr.take().unwrap(), "serving the plugin API on ").await;
    let url = format!("{base}/api/v1/status");
    let r = common::eventually("the server to become ready", async || reqwest::get(&url).await.ok()).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "Ready"}));
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "{status:?}");
}

/// The whole product on a tenant that behaves as live tenants do (docs/halo-api.md L11, A11, T15,
/// Q6, T16, F6, L12, A12, A13, P3): every step as expected.
#[test]
fn the_demo_holds_on_a_live_tenant() {
    let out = Command::new(BIN).args(["demo", "--live-tenant"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("18/18 steps as expected") && !text.contains('✘'), "{text}");
    assert!(text.contains("no duplicates"), "{text}");
}

#[test]
fn demo_runs_the_workflow_against_the_simulator_and_exits_zero() {
    let out = Command::new(BIN).arg("demo").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("✔ Connection test"), "{text}");
    for step in [
        "Create a ticket from an InsightIDR alert",
        "Add a private comment",
        "Assign to an analyst",
        "Search the team's open tickets",
        "Close with a resolution",
        "List the ticket's comments",
        "Trigger: a status change in HaloITSM starts a workflow",
        "API Trigger: a HaloITSM webhook turned into an event by Process Webhook",
        "No hand set-up: the plugin sets up its webhook and recovers a missed delivery",
        "Send a Prowler scan (AWS example file)",
        "Send the same scan again",
        "Send an InsightIDR investigation",
        "Send it again after InsightIDR moved on",
        "Comments: one from InsightIDR to HaloITSM, one back, no echo",
        "Send InsightVM's top remediations",
        "A week later: the kernel is patched",
    ] {
        assert!(text.contains(&format!("✔ {step}")), "{step} missing:\n{text}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).trim().is_empty(), "the demo's account is not interleaved with logs");
    assert!(!text.contains('✘'), "{text}");
    assert!(text.contains("1 token request"), "{text}");
    assert!(text.contains("updated: status: OPEN -> INVESTIGATING; priority: HIGH -> CRITICAL"), "{text}");
    assert!(text.contains("closed: ubuntu-upgrade-linux-image is gone from the list"), "{text}");
    assert!(text.contains("for ubuntu-upgrade-openssl (risk 14250), CMDB assets [201,202]"), "{text}");
    assert!(text.contains("changed fields [\"agent\"]") && text.contains("processed again: the same event, the same event ID"), "{text}");
}

#[tokio::test]
async fn simulate_serves_a_halo_the_plugin_can_use() {
    let mut child = Command::new(BIN).args(["simulate", "--port", "0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let (base, printed) = common::announced_url(child.stdout.take().unwrap(), "simulator listening on ").await;
    common::eventually("the simulator to start", async || reqwest::get(format!("{base}/_sim/stats")).await.is_ok()).await;
    let conn = json!({"client_id": "sim-client", "client_secret": {"secretKey": "sim-secret"},
        "authorization_server": format!("{base}/auth"), "resource_server": format!("{base}/api")});
    let msg =
        json!({"version": "v1", "type": "action_start", "body": {"action": "get_ticket", "connection": conn, "input": {"ticket_id": 101}}});
    let out = tokio::task::spawn_blocking(move || run_with_stdin(&["run"], &msg.to_string())).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout_json(&out)["body"]["output"]["found"], true);

    // Every action's `sample` message, pointed at the simulator, is accepted by `run`.
    for name in icon_haloitsm::spec::spec().actions.keys() {
        let sample = Command::new(BIN).args(["sample", name]).output().unwrap();
        let mut msg = stdout_json(&sample);
        msg["body"]["connection"] = json!({"client_id": "sim-client", "client_secret": {"secretKey": "sim-secret"},
            "authorization_server": format!("{base}/auth"), "resource_server": format!("{base}/api"), "default_ticket_type_id": 4});
        for (k, v) in msg["body"]["input"].as_object_mut().unwrap().iter_mut() {
            // The samples' IDs are a real instance's; use the simulator's seed records.
            let seeded = match k.as_str() {
                "ticket_id" if name == "delete_ticket" => json!(107),
                "ticket_id" => json!(101),
                "agent_id" => json!(3),
                "team_id" => json!(2),
                "user_id" | "site_id" | "category_id" => json!(1),
                "status_id" => json!(2),
                "tickettype_id" => json!(4),
                "attachment_id" if name == "delete_attachment" => json!(2),
                "attachment_id" => json!(1),
                "comment_id" if name == "delete_comment" => json!(4),
                "comment_id" => json!(2),
                "parent_id" => json!(102),
                _ => continue,
            };
            *v = seeded;
        }
        if name == "process_webhook" {
            // One body or a batch, never both (the sample fills every input).
            msg["body"]["input"].as_object_mut().unwrap().remove("deliveries");
        }
        if name == "create_ticket" {
            // The requester by ID or by email, never both.
            msg["body"]["input"].as_object_mut().unwrap().remove("requester_email");
        }
        let out = tokio::task::spawn_blocking(move || run_with_stdin(&["run"], &msg.to_string())).await.unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stdout));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let printed = printed.lock().unwrap().clone();
    assert!(printed.contains(&format!("{base}/api")), "{printed}");
}

#[tokio::test]
async fn process_logs_on_stderr_are_masked_too() {
    let halo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})))
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/5"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"Message": format!("bad secret {SECRET}")})))
        .mount(&halo)
        .await;
    let msg = json!({"version": "v1", "type": "action_start", "body": {"action": "get_ticket", "connection": connection(&halo.uri()), "input": {"ticket_id": 5}}});
    let out = tokio::task::spawn_blocking(move || run_with_stdin(&["run"], &msg.to_string())).await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad secret ********"), "{stderr}");
    assert!(!stderr.contains(SECRET) && !String::from_utf8_lossy(&out.stdout).contains(SECRET));
    assert!(!stderr.contains("\x1b["), "no colour codes when stderr is not a terminal");
}

// ----- an upstream that echoes requests -----------------------------------------------------------

#[tokio::test]
async fn run_never_prints_an_echoed_token_or_secret() {
    for halo in [echoing_token_endpoint().await, echoing_api().await] {
        let msg = json!({"version": "v1", "type": "action_start", "body": {"action": "get_ticket", "meta": {},
                         "connection": odd_connection(&halo.uri()), "input": {"ticket_id": 5}}});
        let out = tokio::task::spawn_blocking(move || run_with_stdin(&["run"], &msg.to_string())).await.unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{text}");
        assert!(text.contains("********"), "the echo is shown, masked: {text}");
        assert_eq!(leaked(&text), Vec::<String>::new(), "{text}");
    }
}

#[tokio::test]
async fn check_connection_and_send_findings_never_print_an_echoed_token_or_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scan.ocsf.json");
    let finding = json!({"class_name": "Detection Finding", "status_code": "FAIL", "severity": "High",
        "metadata": {"event_code": "s3_public"}, "finding_info": {"uid": "prowler-aws-s3_public-1-eu-west-1-logs", "title": "Public bucket"},
        "cloud": {"provider": "aws", "region": "eu-west-1", "account": {"uid": "1"}},
        "resources": [{"uid": "arn:aws:s3:::logs", "name": "logs", "region": "eu-west-1"}]});
    std::fs::write(&file, serde_json::to_vec(&json!([finding])).unwrap()).unwrap();
    for halo in [echoing_token_endpoint().await, echoing_api().await] {
        let (auth, api) = (format!("{}/auth", halo.uri()), format!("{}/api", halo.uri()));
        let f = file.clone();
        let runs = tokio::task::spawn_blocking(move || {
            let command = |args: &[&str]| {
                Command::new(BIN)
                    .args(args)
                    .env("HALO_CLIENT_ID", "cid")
                    .env("HALO_CLIENT_SECRET", ODD_SECRET)
                    .env("HALO_AUTH_SERVER", &auth)
                    .env("HALO_RESOURCE_SERVER", &api)
                    .output()
                    .unwrap()
            };
            [command(&["check-connection"]), command(&["send-findings", f.to_str().unwrap(), "--tickettype-id", "4"])]
        })
        .await
        .unwrap();
        for out in runs {
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(!out.status.success(), "{text}");
            assert_eq!(leaked(&text), Vec::<String>::new(), "{text}");
        }
    }
}
