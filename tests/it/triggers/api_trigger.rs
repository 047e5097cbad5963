//! The `process_webhook` step and the triggers agree: the same changes, reported once by a
//! polling trigger and once by the step from the deliveries HaloITSM sent an API Trigger, give
//! the same events.

use super::*;
use crate::common::{PluginServer, action, post as post_json};
use crate::process_webhook::{API_KEY, api_trigger};

/// What both must agree on, per event.
fn identity(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            json!([
                e["event"],
                e["ticket"]["id"],
                e["changed_at"],
                e["previous_status_id"],
                e["old_status_id"],
                e["new_status_id"],
                e["changed_fields"],
                e["changed_by_integration"],
                e["insightidr_status"]
            ])
        })
        .collect()
}

async fn agree(trigger: &str, events: usize) {
    let s = setup().await;
    let (url, taken) = api_trigger().await;
    s.halo.sim.set_webhook(Some(
        serde_json::from_value::<WebhookConfig>(json!({"url": url, "api_key": API_KEY, "payload": "event_only"})).unwrap(),
    ));
    let mut t = s.start(trigger, json!({"source": "poll", "ticket_id": 101}));
    s.started().await;
    let edits = [json!({"status_id": 6}), json!({"agent_id": 4}), json!({}), json!({"status_id": 4})];
    let mut polled = 0;
    for edit in &edits {
        // HaloITSM's dates have whole seconds: each change in a second of its own.
        s.halo.sim.advance_clock(Duration::from_secs(1));
        let note = edit.as_object().unwrap().is_empty().then_some("Called the user");
        s.halo.sim.agent_edit(101, edit.clone(), note).unwrap();
        // One poll per change, so the trigger sees the changes one at a time as deliveries are.
        s.more_polls().await;
        polled = s.sink.outputs().len();
    }
    let from_trigger = s.sink.outputs();
    assert_eq!(from_trigger.len(), polled);
    assert_eq!(from_trigger.len(), events, "{from_trigger:#?}");
    assert!(stop(&mut t).await.success());
    let deliveries = taken.deliveries(edits.len()).await;
    let srv = PluginServer::start().await;
    let (status, out) = post_json(
        &srv.url("/api/v1/actions/process_webhook"),
        &action("process_webhook", connection(&s.halo), json!({"deliveries": deliveries, "trigger": trigger})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let from_step = out["body"]["output"]["events"].as_array().unwrap().clone();
    assert_eq!(identity(&from_step), identity(&from_trigger), "step:\n{from_step:#?}\ntrigger:\n{from_trigger:#?}");
}

#[tokio::test]
async fn the_step_gives_the_status_changes_the_trigger_does() {
    agree("ticket_status_changed", 2).await;
}

#[tokio::test]
async fn the_step_gives_the_updates_the_trigger_does() {
    agree("ticket_updated", 4).await;
}
