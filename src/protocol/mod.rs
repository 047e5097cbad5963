//! The InsightConnect plugin protocol: start and output messages, the error classes and their
//! presets, secret masking, and the per-step log capture.

use crate::spec::StepKind;

mod errors;
mod masking;
mod messages;
mod step_log;

pub use errors::*;
pub use masking::*;
pub use messages::*;
pub use step_log::*;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn parse_defaults_missing_parts() {
        let m = StartMessage::parse(&json!({"version": "v1", "type": "action_start", "body": {"action": "get_ticket"}})).unwrap();
        assert_eq!(m.kind, MessageType::ActionStart);
        assert_eq!(m.name.as_deref(), Some("get_ticket"));
        assert_eq!(m.meta, json!({}));
        assert_eq!(m.connection, json!({}));
        assert_eq!(m.input, json!({}));
    }

    #[test]
    fn parse_rejects_malformed_messages() {
        let cause = |v: Value| StartMessage::parse(&v).unwrap_err().cause;
        assert_eq!(cause(json!({"type": "action_start", "body": {}})), "\"version\" missing from input message");
        assert_eq!(cause(json!({"version": "v2", "type": "action_start", "body": {}})), "Unsupported version 'v2'. Only v1 is supported");
        assert_eq!(cause(json!({"version": "v1", "body": {}})), "\"type\" missing from input message");
        assert_eq!(cause(json!({"version": "v1", "type": "action_start"})), "\"body\" missing from input message");
        assert_eq!(
            cause(json!({"version": "v1", "type": "action_start", "body": {}})),
            "Message is action_start but field \"action\" is missing from body"
        );
        assert_eq!(cause(json!({"version": "v1", "type": "trigger_start", "body": {"trigger": 5}})), "Trigger field must be a string");
        assert!(cause(json!({"version": "v1", "type": "nope", "body": {}})).starts_with("Unsupported message type \"nope\""));
        assert_eq!(StartMessage::parse(&json!([1])).unwrap_err().class, ErrorClass::Client);
    }

    #[test]
    fn status_table() {
        assert_eq!(PluginError::client("x", "y").http_status().as_u16(), 400);
        assert_eq!(PluginError::preset(Preset::BadRequest).http_status().as_u16(), 400);
        assert_eq!(PluginError::preset(Preset::ServerError).http_status().as_u16(), 500);
        assert_eq!(PluginError::preset(Preset::ServerError).into_connection_test().http_status().as_u16(), 400);
        assert_eq!(PluginError::internal("bug").http_status().as_u16(), 500);
        assert_eq!(PluginError::new(ErrorClass::NotImplemented, "x", "y").http_status().as_u16(), 501);
    }

    #[test]
    fn error_strings_follow_the_runtime() {
        let e = PluginError::preset(Preset::Timeout).with_data("slow");
        assert_eq!(
            e.to_string(),
            format!(
                "An error occurred during plugin execution! {} {} Response was slow",
                Preset::Timeout.cause(),
                Preset::Timeout.assistance()
            )
        );
        let c = PluginError::preset(Preset::InvalidCredentials).into_connection_test();
        assert!(c.to_string().starts_with("Connection test failed! Authentication failed: invalid credentials."));
    }

    #[test]
    fn envelope_shapes() {
        let ok = envelope(Some("action_event"), &json!({"jobId": "j"}), "l\n".into(), Ok(json!({"found": true})));
        assert_eq!(
            ok,
            json!({"body": {"log": "l\n", "status": "ok", "meta": {"jobId": "j"}, "output": {"found": true}}, "version": "v1", "type": "action_event"})
        );
        let e = PluginError::client("bad", "fix it");
        let err = envelope(None, &json!({}), String::new(), Err(e));
        assert_eq!(err["type"], Value::Null);
        assert_eq!(err["body"]["status"], "error");
        assert_eq!(err["body"]["error"], "bad");
        assert_eq!(err["body"]["exception"]["assistance"], "fix it");
        assert!(err["body"].get("output").is_none());
    }

    #[test]
    fn masks_secrets_at_any_depth_and_truncated_leaks() {
        let conn = json!({"client_id": "id", "client_secret": {"secretKey": "supersecretvalue"}, "nested": {"x": {"token": "tok123456"}}, "key": ""});
        let secrets = connection_secrets(&conn);
        let masker = Masker::new(secrets.clone());
        assert_eq!(secrets, vec!["supersecretvalue".to_string(), "tok123456".to_string()]);
        let mut out = json!({"log": "sent supersecretvalue and tok123456!", "a": ["x supersecretval y"], "n": 5, "short": "supersecret"});
        masker.mask_value(&mut out);
        assert_eq!(out["log"], "sent ******** and ********!");
        assert_eq!(out["a"][0], "x ******** y");
        assert_eq!(out["short"], "supersecret", "a prefix of 80% or less is not a leak");
        assert_eq!(out["n"], 5);
    }

    #[tokio::test]
    async fn step_log_collects_events_inside_the_scope_only() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(StepLogLayer);
        let _guard = tracing::subscriber::set_default(subscriber);
        let log = StepLog::new(false, std::sync::Arc::new(Masker::new(vec!["hunter22secret".into()])));
        log.scope(async {
            tracing::info!("password is hunter22secret");
            tracing::info!(target: "hyper::client", "not ours");
            tracing::info!("inside");
            tracing::debug!("hidden");
            tracing::warn!(ticket = 5, "warned");
        })
        .await;
        tracing::info!("outside");
        let text = log.take();
        assert!(text.contains("INFO inside\n"), "{text}");
        assert!(text.contains("WARN warned ticket=5\n"), "{text}");
        assert!(text.contains("INFO password is ********\n"), "{text}");
        assert!(!text.contains("not ours"), "{text}");
        assert!(!text.contains("hidden") && !text.contains("outside"), "{text}");
        assert_eq!(log.take(), "");
    }
}
