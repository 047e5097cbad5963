//! The `simulate` flags for live-tenant behaviours (`live.rs`): all at once, or one by one.

use super::live::LiveQuirks;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct LiveArgs {
    /// Behave as integrations in production found live tenants to: every behaviour below but the
    /// restricted outcomes and the Client login.
    #[arg(long = "live-tenant")]
    pub live_tenant: bool,
    /// Free-text `search` misses keys (punctuation, a final digit).
    #[arg(long = "search-misses-keys")]
    pub search_misses_keys: bool,
    /// Answer at most this many history entries when `count` is not sent (a live tenant: 52).
    #[arg(long = "action-list-cap")]
    pub action_list_cap: Option<usize>,
    /// List history entries newest first.
    #[arg(long = "actions-newest-first")]
    pub actions_newest_first: bool,
    /// Two creates at once collide: the later answers 500.
    #[arg(long = "create-collisions")]
    pub create_collisions: bool,
    /// `agent_id` answers the agent's visible queue; unknown `datesearch` fields are ignored.
    #[arg(long = "filters-are-hints")]
    pub filters_are_hints: bool,
    /// A ticket's user needs its site; integers written as 95.0 are refused.
    #[arg(long = "user-needs-site")]
    pub user_needs_site: bool,
    /// Serve attachments as short-lived pre-signed links.
    #[arg(long = "attachment-links")]
    pub attachment_links: bool,
    /// `record_count` counts a page's rows only.
    #[arg(long = "per-page-record-count")]
    pub per_page_record_count: bool,
    /// A new ticket's history has no creation entry.
    #[arg(long = "no-creation-entry")]
    pub no_creation_entry: bool,
    /// The tenant's own outcomes ("Internal Note", ID 7); unknown outcome names refused.
    #[arg(long = "tenant-outcomes")]
    pub tenant_outcomes: bool,
    /// Outcome IDs the API agent may not use (comma-separated).
    #[arg(long = "restricted-outcomes", value_delimiter = ',')]
    pub restricted_outcomes: Vec<i64>,
    /// A priority outside the ticket type's SLA is silently replaced.
    #[arg(long = "priority-outside-sla-ignored")]
    pub priority_outside_sla_ignored: bool,
    /// The API application logs in as a Client: agents and teams are refused.
    #[arg(long = "client-login")]
    pub client_login: bool,
}

impl LiveArgs {
    /// The behaviours the flags switch on.
    pub fn quirks(self) -> LiveQuirks {
        let base = if self.live_tenant { LiveQuirks::live_tenant() } else { LiveQuirks::default() };
        LiveQuirks {
            search_misses_keys: base.search_misses_keys || self.search_misses_keys,
            action_list_cap: self.action_list_cap.or(base.action_list_cap),
            actions_newest_first: base.actions_newest_first || self.actions_newest_first,
            create_collisions: base.create_collisions || self.create_collisions,
            filters_are_hints: base.filters_are_hints || self.filters_are_hints,
            user_needs_site: base.user_needs_site || self.user_needs_site,
            attachment_links: base.attachment_links || self.attachment_links,
            per_page_record_count: base.per_page_record_count || self.per_page_record_count,
            no_creation_entry: base.no_creation_entry || self.no_creation_entry,
            tenant_outcomes: base.tenant_outcomes || self.tenant_outcomes,
            restricted_outcomes: self.restricted_outcomes,
            priority_outside_sla_ignored: base.priority_outside_sla_ignored || self.priority_outside_sla_ignored,
            client_login: self.client_login,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::live::DEFAULT_ACTION_LIST_CAP;
    use super::*;

    #[test]
    fn flags_switch_behaviours_on_one_by_one_or_all_at_once() {
        assert_eq!(LiveArgs::default().quirks(), LiveQuirks::default());
        assert_eq!(LiveArgs { live_tenant: true, ..LiveArgs::default() }.quirks(), LiveQuirks::live_tenant());
        let one = LiveArgs { action_list_cap: Some(DEFAULT_ACTION_LIST_CAP), client_login: true, ..LiveArgs::default() }.quirks();
        assert_eq!(one, LiveQuirks { action_list_cap: Some(52), client_login: true, ..LiveQuirks::default() });
    }
}
