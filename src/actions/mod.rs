//! One file per action: typed input, typed output, and `run`. The registry below is checked
//! against the spec by a test (every spec action has a handler and vice versa; every spec
//! example deserializes into the input type).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::halo::HaloClient;
use crate::protocol::PluginError;

mod add_attachment;
mod add_comment;
mod assets;
mod assign_ticket;
mod check_webhook;
mod close_ticket;
pub mod common;
mod create_ticket;
mod delete_attachment;
mod delete_comment;
mod delete_ticket;
pub mod file_names;
mod get_attachment;
mod get_ticket;
mod host_to_asset;
mod list_attachments;
pub mod list_comments;
mod lookups;
mod org_lookups;
mod people;
mod process_webhook;
mod reference;
mod related_tickets;
pub mod search_tickets;
pub mod send_findings;
mod send_investigation;
mod send_remediations;
mod setup_webhook;
mod sync_comments;
mod ticket_lookups;
mod update_comment;
mod update_ticket;
mod webhook_common;

/// What a running action can use.
#[derive(Clone)]
pub struct ActionContext {
    pub client: Arc<HaloClient>,
}

/// An action: its spec name, its typed input and output, and what it does.
pub trait Action: Send + Sync + 'static {
    const NAME: &'static str;
    type Input: DeserializeOwned + Send + 'static;
    type Output: Serialize + Send + 'static;
    fn run(ctx: ActionContext, input: Self::Input) -> impl Future<Output = Result<Self::Output, PluginError>> + Send;

    /// The raw input, before it is checked against the spec: an action that reports bad items
    /// one by one (rather than failing for all of them) marks them here, and one that refuses
    /// what the spec's defaults would hide says so. Nothing, by default.
    fn before_validation(_input: &mut Value) -> Result<(), PluginError> {
        Ok(())
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Value, PluginError>> + Send>>;

/// An action with its types erased, as the registry holds it.
pub struct Handler {
    pub name: &'static str,
    /// Run with a spec-validated input.
    pub run: fn(ActionContext, Value) -> BoxFuture,
    /// Does this (validated) input deserialize into the action's input type?
    pub accepts: fn(&Value) -> Result<(), String>,
    /// `Action::before_validation`.
    pub before_validation: fn(&mut Value) -> Result<(), PluginError>,
}

fn handler<A: Action>() -> Handler {
    Handler {
        name: A::NAME,
        run: |ctx, input| {
            Box::pin(async move {
                let input: A::Input = serde_json::from_value(input).map_err(|e| {
                    PluginError::internal(format!("The validated input of `{}` does not fit its input type: {e}.", A::NAME))
                })?;
                let output = A::run(ctx, input).await?;
                serde_json::to_value(output)
                    .map_err(|e| PluginError::internal(format!("The output of `{}` could not be serialized: {e}.", A::NAME)))
            })
        },
        accepts: |v| serde_json::from_value::<A::Input>(v.clone()).map(|_| ()).map_err(|e| e.to_string()),
        before_validation: A::before_validation,
    }
}

/// Every action of the plugin.
pub fn registry() -> Vec<Handler> {
    vec![
        handler::<get_ticket::GetTicket>(),
        handler::<create_ticket::CreateTicket>(),
        handler::<update_ticket::UpdateTicket>(),
        handler::<search_tickets::SearchTickets>(),
        handler::<close_ticket::CloseTicket>(),
        handler::<add_comment::AddComment>(),
        handler::<assign_ticket::AssignTicket>(),
        handler::<people::GetUser>(),
        handler::<people::GetAgent>(),
        handler::<list_comments::ListComments>(),
        handler::<add_attachment::AddAttachment>(),
        handler::<delete_ticket::DeleteTicket>(),
        handler::<lookups::ListStatuses>(),
        handler::<lookups::ListTicketTypes>(),
        handler::<lookups::ListPriorities>(),
        handler::<lookups::ListAgents>(),
        handler::<lookups::ListTeams>(),
        handler::<org_lookups::ListClients>(),
        handler::<related_tickets::ListChildTickets>(),
        handler::<related_tickets::LinkTickets>(),
        handler::<related_tickets::UnlinkTicket>(),
        handler::<assets::SearchAssets>(),
        handler::<assets::GetAsset>(),
        handler::<assets::LinkAssets>(),
        handler::<people::SearchUsers>(),
        handler::<people::SearchAgents>(),
        handler::<org_lookups::ListSites>(),
        handler::<ticket_lookups::ListCategories>(),
        handler::<ticket_lookups::ListOutcomes>(),
        handler::<send_findings::SendFindings>(),
        handler::<reference::UpsertTicketByReference>(),
        handler::<reference::FindTicketByReference>(),
        handler::<reference::SetStatusFromRapid7>(),
        handler::<reference::MapStatus>(),
        handler::<process_webhook::ProcessWebhook>(),
        handler::<send_investigation::SendInvestigation>(),
        handler::<send_remediations::SendRemediations>(),
        handler::<list_attachments::ListAttachments>(),
        handler::<get_attachment::GetAttachment>(),
        handler::<delete_attachment::DeleteAttachment>(),
        handler::<update_comment::UpdateComment>(),
        handler::<delete_comment::DeleteComment>(),
        handler::<setup_webhook::SetupWebhook>(),
        handler::<check_webhook::CheckWebhook>(),
        handler::<sync_comments::SyncComments>(),
    ]
}
