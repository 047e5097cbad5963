//! How a HaloITSM failure is told to a user: each `HaloError` becomes a `PluginError` with a
//! cause that says what failed and an assistance that says what to do about it. It lives above
//! the client, which knows nothing of the plugin protocol.

use crate::halo::HaloError;
use crate::protocol::{PluginError, Preset};

const MAYBE_APPLIED: &str = "The change may or may not have been saved in HaloITSM, so it was not sent again (HaloITSM would create a duplicate). Check the ticket in HaloITSM before running the step again.";

impl From<&HaloError> for PluginError {
    fn from(e: &HaloError) -> PluginError {
        let cause = format!("{e}.");
        match e {
            HaloError::InvalidCredentials { .. } => PluginError::plugin(
                Preset::InvalidCredentials,
                cause,
                "Check the Client ID and Client Secret of the API application in HaloITSM (Configuration > Integrations > HaloITSM API > Applications), that the application uses Client ID and Secret (Services) authentication, and that it is active.",
            ),
            HaloError::InvalidScope { .. } => PluginError::plugin(
                Preset::Unauthorized,
                cause,
                "Use the scope `all`, or give the API application the scopes you entered in the connection's Scope field.",
            ),
            HaloError::TokenRejected { tenant_set, .. } => PluginError::plugin(
                Preset::InvalidCredentials,
                cause,
                if *tenant_set {
                    "Check the Tenant field (it must be your Halo tenant name exactly), the Authorization Server URL, and the API application's credentials."
                } else {
                    "Check the Authorization Server URL and the API application's credentials. Instances hosted by Halo usually also need the Tenant field."
                },
            ),
            HaloError::Unauthorized { .. } => PluginError::plugin(
                Preset::Unauthorized,
                cause,
                "Check that the Authorization Server and Resource Server belong to the same HaloITSM instance, and that the API application is still active.",
            ),
            HaloError::Forbidden { .. } => PluginError::plugin(
                Preset::Unauthorized,
                cause,
                "Give the API application's agent the permission this step needs (for tickets: read and edit tickets), and make sure the token scope includes it (e.g. `all`).",
            ),
            HaloError::NotFound { .. } => PluginError::plugin(
                Preset::NotFound,
                cause,
                "Check the ID you gave, and that the Resource Server URL points at your instance's API (it usually ends with /api).",
            ),
            HaloError::Validation { message, .. } => PluginError::plugin(
                Preset::BadRequest,
                cause,
                "Correct the input HaloITSM complained about (IDs must exist in your instance; the lookup actions list valid IDs) and run the step again.",
            )
            .with_data(message.clone()),
            HaloError::RateLimitWait { .. } => PluginError::plugin(
                Preset::RateLimit,
                cause,
                "Nothing was sent for this request. Run the step again later, set the connection's Rate Limit so requests are paced, or give bulk steps a longer deadline.",
            ),
            HaloError::RateLimited { .. } => PluginError::plugin(
                Preset::RateLimit,
                cause,
                "The plugin already waited and retried. Run fewer HaloITSM steps at once, or ask your Halo administrator about the API rate limit.",
            ),
            HaloError::ServerError { write, .. } => PluginError::plugin(
                Preset::ServerError,
                cause,
                if *write { MAYBE_APPLIED } else { "HaloITSM failed while handling the request; the plugin retried reads already. Try again later, and check HaloITSM's status if it persists." },
            ),
            HaloError::Timeout { write, .. } => PluginError::plugin(
                Preset::Timeout,
                cause,
                if *write { MAYBE_APPLIED } else { "Check that HaloITSM is reachable and responsive, or raise the connection's Request Timeout." },
            ),
            HaloError::Unreachable { server, .. } => PluginError::plugin(
                Preset::ConnectionError,
                cause,
                format!(
                    "Check the {} URL in the connection, that the orchestrator can reach it (DNS, firewall, proxy), and for a self-signed certificate set SSL Verify to false.",
                    server.field()
                ),
            ),
            HaloError::Tls { server, .. } => PluginError::plugin(
                Preset::ConnectionError,
                cause,
                format!(
                    "If the {} uses a self-signed or private certificate, set SSL Verify to false in the connection (or add its CA to the container); otherwise check that the URL's host matches its certificate.",
                    server.field()
                ),
            ),
            HaloError::NoTokenEndpoint { .. } => PluginError::plugin(
                Preset::NotFound,
                cause,
                "Set Authorization Server to your instance's authorisation URL, usually https://<instance>/auth (hosted instances may use https://auth.haloservicedesk.com).",
            ),
            HaloError::Transport { write, .. } => PluginError::plugin(
                Preset::ConnectionError,
                cause,
                if *write { MAYBE_APPLIED } else { "Check the network path to HaloITSM and try again." },
            ),
            HaloError::Redirected { .. } => PluginError::plugin(
                Preset::RedirectError,
                cause,
                "Use the exact URLs of your instance in the connection: https rather than http, and the host the redirect points to.",
            ),
            HaloError::Unexpected { .. } => PluginError::plugin(
                Preset::InvalidJson,
                cause,
                "Check that the Resource Server URL points at the HaloITSM API (for example https://example.haloitsm.com/api), not at the web portal.",
            ),
            HaloError::Vanished { id, answered, deleted } => PluginError::plugin(
                Preset::NotFound,
                cause,
                if *deleted || *answered <= 0 {
                    format!("Check ticket {id} in HaloITSM (it may have been deleted or merged).")
                } else {
                    format!("Check ticket {id} in HaloITSM (it may have been deleted or merged), and ticket {answered}: delete it if this update created it.")
                },
            ),
            HaloError::NotClosed { status, setting, .. } => PluginError::plugin(
                Preset::BadRequest,
                cause,
                format!(
                    "Status {status} does not close tickets on this HaloITSM tenant. Set {setting} to a status that does (HaloITSM's built-in Closed is 9; List Statuses shows which statuses close tickets)."
                ),
            ),
            HaloError::PriorityNotKept { asked, .. } => PluginError::plugin(
                Preset::BadRequest,
                cause,
                format!(
                    "Use a priority the ticket type's SLA offers (List Priorities shows every SLA's priorities), or give the ticket type an SLA with priority {asked} in HaloITSM. Do not run the step again to fix it: the ticket is written; change its priority there or with Update Ticket."
                ),
            ),
            HaloError::OutcomeRefused { outcome, denied, .. } => PluginError::plugin(
                Preset::BadRequest,
                cause,
                if *denied {
                    format!(
                        "Nothing was written. Let the agent the API application logs in as use the outcome {outcome} in HaloITSM (Configuration > Tickets > Actions, the outcome's access settings), or give that agent a role that may."
                    )
                } else {
                    format!(
                        "Nothing was written. This HaloITSM has no outcome {outcome} the API application's agent may use: add one (Configuration > Tickets > Actions), or name an outcome List Outcomes shows."
                    )
                },
            ),
            HaloError::InvalidConfig { field, .. } => PluginError::client(cause, format!("Correct the connection field `{field}`.")),
            HaloError::Setup { fix, .. } => PluginError::plugin(Preset::Unauthorized, cause, fix.clone()),
            HaloError::AnswerTooLarge { .. } => PluginError::plugin(
                Preset::ServerError,
                cause,
                "Check the record in HaloITSM (a ticket's details or a note may hold a huge pasted text or image), or ask for fewer records (a smaller page). Nothing was changed.",
            ),
            HaloError::Busy { .. } => PluginError::plugin(
                Preset::ServerError,
                cause,
                "Other steps are reading large files from HaloITSM: run the step again in a minute. Nothing was changed.",
            ),
            HaloError::TooLarge { .. } => PluginError::client(
                cause,
                "Raise the step's `max_bytes` (up to its limit), or open the file in HaloITSM. Nothing was changed.",
            ),
        }
    }
}

impl From<HaloError> for PluginError {
    fn from(e: HaloError) -> PluginError {
        PluginError::from(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_that_may_have_applied_say_so() {
        let e = HaloError::ServerError { status: 500, message: "boom".into(), write: true };
        assert!(e.outcome_uncertain());
        assert!(PluginError::from(&e).assistance.contains("may or may not have been saved"));
        let r = HaloError::ServerError { status: 500, message: "boom".into(), write: false };
        assert!(!r.outcome_uncertain());
        assert_eq!(PluginError::from(&r).http_status().as_u16(), 500);
    }

    #[test]
    fn validation_errors_are_bad_requests() {
        let e = PluginError::from(HaloError::Validation { status: 400, message: "summary: required".into() });
        assert_eq!(e.http_status().as_u16(), 400);
        assert_eq!(e.data, "summary: required");
    }
}
