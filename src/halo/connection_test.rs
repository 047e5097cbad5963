//! The connection test: does this API application reach HaloITSM as the plugin needs it to? An
//! API application acts as an agent: Halo's guides set it up with Login Type Agent and an "Agent
//! to log in as", and its permissions are those of the application and that agent together
//! (docs/halo-api.md#AU7). When a read is refused, the test says which setting to change.

use super::{HaloClient, HaloError, tenant};

impl HaloClient {
    /// A token, then one cheap authenticated call that needs ticket access.
    pub async fn test_access(&self) -> Result<(), HaloError> {
        self.token().await?;
        self.get("Tickets", &[("count", "1".into()), ("ticketidonly", "true".into())]).await.map_err(|e| match e {
            HaloError::Forbidden { message, .. } => HaloError::Setup {
                problem: format!("HaloITSM refuses this API application the ticket list (HTTP 403: {message})"),
                fix: "In HaloITSM (Configuration > Integrations > Halo API > Applications), give the application the permissions read:tickets and edit:tickets (or all), and make sure the agent it logs in as may see and edit tickets.".into(),
            },
            other => other,
        })?;
        Ok(())
    }

    /// The connection test: a token and the ticket list; the agent the application acts as and
    /// the teams (an application that logs in as a Client may read neither, AU7); then whether
    /// the Closed Status ID closes tickets on this tenant (where HaloITSM says so; a tenant whose
    /// statuses cannot be read is not failed for it).
    pub async fn test_connection(&self) -> Result<(), HaloError> {
        self.test_access().await?;
        let agent = match self.get_optional("Agent/me", &[]).await {
            Ok(me) => me,
            Err(HaloError::Forbidden { .. }) => None,
            Err(e) => return Err(e),
        };
        if agent.is_none() {
            return Err(HaloError::Setup {
                problem: "HaloITSM does not say which agent this API application acts as (GET /Agent/me is refused or empty)".into(),
                fix: "In HaloITSM (Configuration > Integrations > Halo API > Applications), set the application's Login Type to Agent and choose the Agent to log in as: tickets, notes and status changes are made as that agent.".into(),
            });
        }
        if let Err(HaloError::Forbidden { message, .. }) = self.teams(true).await {
            return Err(HaloError::Setup {
                problem: format!("HaloITSM refuses this API application the list of teams (HTTP 403: {message})"),
                fix: "Either the application logs in as a Client, which cannot read teams (set its Login Type to Agent), or the agent it logs in as may not see teams: give that agent access to the teams tickets are assigned to.".into(),
            });
        }
        match self.statuses(true).await {
            Ok(statuses) => tenant::check_closed_status(&statuses, self.config().closed_status_id)
                .map_err(|reason| HaloError::InvalidConfig { field: "closed_status_id".into(), reason })?,
            Err(e) => tracing::warn!("Could not read the tenant's statuses to check the Closed Status ID: {e}"),
        }
        Ok(())
    }
}
