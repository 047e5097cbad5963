//! `list_categories` and `list_outcomes`: the values a ticket's categories take (docs/halo-api.md#K5)
//! and the outcomes a note can be recorded with (K6; an outcome can also move the status).

use serde::{Deserialize, Serialize};

use super::common::{invalid_input, positive_opt};
use super::lookups::flag;
use super::{Action, ActionContext};
use crate::halo::ticket::{int, string};
use crate::protocol::PluginError;

#[derive(Debug, Deserialize)]
pub struct CategoryInput {
    /// Which of a ticket's four category fields (1 to 4).
    pub level: Option<i64>,
    pub tickettype_id: Option<i64>,
    pub team_id: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Category {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct CategoryOutput {
    pub categories: Vec<Category>,
    pub count: i64,
}

pub struct ListCategories;

impl Action for ListCategories {
    const NAME: &'static str = "list_categories";
    type Input = CategoryInput;
    type Output = CategoryOutput;

    async fn run(ctx: ActionContext, input: CategoryInput) -> Result<CategoryOutput, PluginError> {
        let mut q = Vec::new();
        if let Some(l) = input.level {
            if !(1..=4).contains(&l) {
                return Err(invalid_input(
                    Self::NAME,
                    format_args!("input `level` must be 1, 2, 3 or 4, got {l}"),
                    "A ticket has four category fields, category_1 to category_4.",
                ));
            }
            q.push(("type_id", l.to_string()));
        }
        if let Some(t) = positive_opt(Self::NAME, "tickettype_id", input.tickettype_id)? {
            q.push(("tickettype_id", t.to_string()));
        }
        if let Some(t) = positive_opt(Self::NAME, "team_id", input.team_id)? {
            q.push(("team_id", t.to_string()));
        }
        let (rows, _) = ctx.client.list("Category", &q, "categories").await?;
        let categories: Vec<Category> = rows
            .iter()
            .filter_map(|r| {
                Some(Category {
                    id: int(r, "id").filter(|i| *i > 0)?,
                    // K5: the text is `value`; `category_name` where `value` is missing.
                    name: string(r, "value").or_else(|| string(r, "category_name")),
                    level: int(r, "type_id").filter(|l| (1..=4).contains(l)),
                })
            })
            .collect();
        Ok(CategoryOutput { count: categories.len() as i64, categories })
    }
}

#[derive(Debug, Deserialize)]
pub struct OutcomeInput {
    pub tickettype_id: Option<i64>,
    #[serde(default)]
    pub include_hidden: bool,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// The status a note with this outcome moves the ticket to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_status_id: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct OutcomeOutput {
    pub outcomes: Vec<Outcome>,
    pub count: i64,
}

pub struct ListOutcomes;

impl Action for ListOutcomes {
    const NAME: &'static str = "list_outcomes";
    type Input = OutcomeInput;
    type Output = OutcomeOutput;

    async fn run(ctx: ActionContext, input: OutcomeInput) -> Result<OutcomeOutput, PluginError> {
        let mut q = Vec::new();
        if let Some(t) = positive_opt(Self::NAME, "tickettype_id", input.tickettype_id)? {
            q.push(("tickettype_id", t.to_string()));
        }
        if input.include_hidden {
            q.push(("showhidden", "true".to_string()));
        }
        let (rows, _) = ctx.client.list("Outcome", &q, "outcomes").await?;
        let outcomes: Vec<Outcome> = rows
            .iter()
            .filter_map(|r| {
                Some(Outcome {
                    id: int(r, "id").filter(|i| *i > 0)?,
                    // K6: the name is `outcome`; there is no `name`.
                    name: string(r, "outcome"),
                    button_name: string(r, "buttonname"),
                    hidden: flag(r, "hidden"),
                    new_status_id: int(r, "newstatus").filter(|s| *s > 0),
                })
            })
            // A hidden outcome can come back on a tenant that ignores `showhidden`.
            .filter(|o| input.include_hidden || o.hidden != Some(true))
            .collect();
        Ok(OutcomeOutput { count: outcomes.len() as i64, outcomes })
    }
}
