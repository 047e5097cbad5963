//! The axum router: Halo routes, the `/_sim` control routes, and JSON fallbacks (no route ever
//! answers HTML or an empty error body).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult, EXCEPTION_CLASS, json_bytes_response, json_response};
use super::util::Params;
use super::{Faults, Simulator, WebhookConfig, actions, assets, attachments, auth, faults, lookups, tickets};

type Sim = State<Arc<Simulator>>;
type Body = Result<Bytes, BytesRejection>;

/// Largest request body accepted (attachments arrive base64-encoded in JSON).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

pub(crate) fn router(sim: Arc<Simulator>) -> Router {
    let api = Router::new()
        .route("/Tickets", get(list_tickets).post(post_tickets))
        .route("/Tickets/{id}", get(get_ticket).delete(delete_ticket))
        .route("/Actions", get(list_actions).post(post_actions))
        .route("/Actions/{id}", get(get_action).delete(delete_action))
        .route("/Attachment", get(list_attachments).post(post_attachments))
        .route("/Attachment/{id}", get(get_attachment).delete(delete_attachment))
        .route("/Status", get(statuses))
        .route("/Priority", get(priorities))
        .route("/TicketType", get(ticket_types))
        .route("/Agent", get(agents))
        .route("/Agent/{id}", get(agent))
        .route("/Team", get(teams))
        .route("/Users", get(users))
        .route("/Users/{id}", get(user))
        .route("/Client", get(clients))
        .route("/Client/{id}", get(client))
        .route("/Site", get(sites))
        .route("/Category", get(categories))
        .route("/Asset", get(list_assets))
        .route("/Asset/{id}", get(get_asset))
        .route("/Outcome", get(outcomes))
        .merge(super::webhook_routes::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(sim.clone(), faults::api_pipeline));
    Router::new()
        .route("/auth/token", post(auth::token))
        .route("/_sim/stats", get(ctl_stats))
        .route("/_sim/stats/reset", post(ctl_reset_stats))
        .route("/_sim/faults", get(ctl_faults).post(ctl_set_faults))
        .route("/_sim/revoke_tokens", post(ctl_revoke_tokens))
        .route("/_sim/tickets", get(ctl_tickets))
        .route("/_sim/tickets/{id}", get(ctl_ticket))
        .route("/_sim/events", get(ctl_events))
        .route("/_sim/webhook", get(ctl_webhook).post(ctl_set_webhook))
        .route("/_sim/webhook/stats", get(ctl_webhook_stats))
        .route("/_cdn/{token}", get(cdn_file))
        .nest("/api", api)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(sim)
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn done(r: ApiResult) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

fn ok(v: &Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, v))
}

fn params(q: Option<String>) -> Params {
    Params::parse(q.as_deref())
}

fn path_id(p: Result<Path<String>, PathRejection>, what: &str) -> Result<i64, ApiError> {
    let Path(raw) = p.map_err(|_| ApiError::bad_request(format!("Invalid {what} id")))?;
    raw.trim().parse::<i64>().map_err(|_| ApiError::bad_request(format!("Invalid {what} id '{raw}'")))
}

/// The body of a JSON write: content type must be JSON (ASP.NET answers 415 otherwise).
fn json_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        v.starts_with("application/json") || v.starts_with("text/json") || v.contains("+json")
    });
    if !is_json {
        return Err(ApiError::Exception(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            EXCEPTION_CLASS,
            "Unsupported content type: send application/json".into(),
        ));
    }
    body.map_err(|e| ApiError::Exception(e.status(), EXCEPTION_CLASS, e.body_text()))
}

/// The records of a POST body: an array of objects, or (unless the profile refuses it [T3]) one
/// bare object.
fn records(sim: &Simulator, headers: &HeaderMap, body: Body) -> Result<Vec<serde_json::Map<String, Value>>, ApiError> {
    let bytes = json_body(headers, body)?;
    let profile = &sim.read().profile;
    if profile.refuse_bare_objects && bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Err(ApiError::bad_request("The request body requires a JSON array"));
    }
    let objs = tickets::body_objects(&bytes)?;
    if profile.refuse_arrays_of_many && objs.len() > 1 {
        return Err(ApiError::bad_request("Only one record can be saved per request"));
    }
    Ok(objs)
}

/// Halo's answer to a POST: one element -> that record; several -> the last one, unless
/// `returnall=true`, which always answers an array [A14] (and a tenant that does not honour it
/// answers the last one all the same).
fn saved(sim: &Simulator, records: Vec<Value>, q: &Params) -> ApiResult {
    if q.flag("returnall") && !sim.read().profile.batch_answer_last_only {
        return ok(&Value::Array(records));
    }
    ok(&records.into_iter().last().unwrap_or(Value::Null))
}

async fn not_found(method: Method, uri: Uri) -> Response {
    ApiError::not_found(format!("No route for {method} {}", uri.path())).into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::Exception(
        StatusCode::METHOD_NOT_ALLOWED,
        EXCEPTION_CLASS,
        format!("The requested resource does not support http method '{method}' ({}).", uri.path()),
    )
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Tickets

async fn list_tickets(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    sim.count_ticket_list(match (q.flag("open_only"), q.flag("closed_only")) {
        (true, _) => "open_only",
        (_, true) => "closed_only",
        _ => "plain",
    });
    done(tickets::list(&sim.read(), &q, sim.clock.now()).and_then(|v| ok(&v)))
}

async fn get_ticket(State(sim): Sim, p: Result<Path<String>, PathRejection>) -> Response {
    done(path_id(p, "ticket").and_then(|id| {
        sim.full_ticket_bytes(id)
            .map(|b| json_bytes_response(StatusCode::OK, b))
            .ok_or_else(|| ApiError::not_found(format!("Ticket {id} not found")))
    }))
}

async fn post_tickets(State(sim): Sim, RawQuery(q): RawQuery, headers: HeaderMap, body: Body) -> Response {
    let q = params(q);
    let objs = match records(&sim, &headers, body) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    // A live tenant assigns ticket numbers in a race: a create while another is under way fails
    // and saves nothing [T15]. One request of many tickets is one create.
    let collides = {
        let store = sim.read();
        store.profile.live.create_collisions && tickets::creates_any(&store, &objs)
    };
    let _creating = if collides {
        let Some(slot) = sim.creating.claim() else {
            sim.count_collision();
            let message = crate::live::COLLISION_MESSAGE.to_string();
            return ApiError::Exception(StatusCode::INTERNAL_SERVER_ERROR, EXCEPTION_CLASS, message).into_response();
        };
        tokio::time::sleep(crate::live::CREATE_DURATION).await;
        Some(slot)
    } else {
        None
    };
    done((|| {
        let saved_records = sim.write(|s| {
            let actor = s.api_actor();
            tickets::post(s, &objs, &actor, sim.clock.now()).map(|saved| saved.iter().map(|t| Value::Object(s.profile.full(t))).collect())
        })?;
        saved(&sim, saved_records, &q)
    })())
}

async fn delete_ticket(State(sim): Sim, p: Result<Path<String>, PathRejection>) -> Response {
    done(path_id(p, "ticket").and_then(|id| {
        sim.write(|s| {
            let actor = s.api_actor();
            tickets::delete(s, id, &actor)
        })
        .ok_or_else(|| ApiError::not_found(format!("Ticket {id} not found")))
        .and_then(|v| ok(&v))
    }))
}

// ---------------------------------------------------------------------------------------------
// Actions

async fn list_actions(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    done(actions::list(&sim.read(), &q).and_then(|v| ok(&v)))
}

async fn post_actions(State(sim): Sim, RawQuery(q): RawQuery, headers: HeaderMap, body: Body) -> Response {
    let q = params(q);
    done((|| {
        let objs = records(&sim, &headers, body)?;
        let saved_records = sim.write(|s| {
            let actor = s.api_actor();
            actions::post(s, &objs, &actor, sim.clock.now())
        })?;
        saved(&sim, saved_records, &q)
    })())
}

async fn get_action(State(sim): Sim, RawQuery(q): RawQuery, p: Result<Path<String>, PathRejection>) -> Response {
    let q = params(q);
    done(path_id(p, "action").and_then(|id| actions::get(&sim.read(), id, &q).and_then(|v| ok(&v))))
}

async fn delete_action(State(sim): Sim, RawQuery(q): RawQuery, p: Result<Path<String>, PathRejection>) -> Response {
    let q = params(q);
    done(path_id(p, "action").and_then(|id| sim.write(|s| actions::delete(s, id, &q)).and_then(|v| ok(&v))))
}

// ---------------------------------------------------------------------------------------------
// Attachments

async fn list_attachments(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    done(attachments::list(&sim.read(), &q).and_then(|v| ok(&v)))
}

async fn post_attachments(State(sim): Sim, RawQuery(q): RawQuery, headers: HeaderMap, body: Body) -> Response {
    let q = params(q);
    done((|| {
        let objs = records(&sim, &headers, body)?;
        let saved_records = sim.write(|s| attachments::post(s, &objs, sim.clock.now()))?;
        saved(&sim, saved_records, &q)
    })())
}

/// The file itself, as `application/octet-stream`; on a tenant that serves links, the record
/// with a short-lived pre-signed `link` to it [F6].
async fn get_attachment(State(sim): Sim, headers: HeaderMap, p: Result<Path<String>, PathRejection>) -> Response {
    if sim.read().profile.live.attachment_links {
        return done(path_id(p, "attachment").and_then(|id| attachment_link(&sim, &headers, id)));
    }
    done(path_id(p, "attachment").and_then(|id| {
        let (name, data) = {
            let g = sim.read();
            let a = g.attachments.get(&id).ok_or_else(|| ApiError::not_found(format!("Attachment {id} not found")))?;
            let name = a.meta.get("filename").and_then(Value::as_str).unwrap_or("attachment").to_string();
            (name, a.data.clone())
        };
        let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))], data).into_response();
        let safe: String = name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
            r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
        Ok(r)
    }))
}

fn attachment_link(sim: &Simulator, headers: &HeaderMap, id: i64) -> ApiResult {
    let mut record =
        sim.read().attachments.get(&id).map(|a| a.meta.clone()).ok_or_else(|| ApiError::not_found(format!("Attachment {id} not found")))?;
    let expired = {
        let mut f = sim.faults.lock().unwrap_or_else(|e| e.into_inner());
        let expired = f.expired_attachment_links > 0;
        f.expired_attachment_links = f.expired_attachment_links.saturating_sub(1);
        expired
    };
    let ttl = std::time::Duration::from_secs(crate::live::ATTACHMENT_LINK_TTL_SECS);
    let (token, expires) = sim.links.issue(id, ttl, expired, &sim.clock);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    record.insert("link".into(), json!(format!("http://{host}/_cdn/{token}?Expires={expires}&Signature=sim")));
    ok(&Value::Object(record))
}

/// A pre-signed attachment link [F6]: no bearer token, and not once it has expired.
async fn cdn_file(State(sim): Sim, headers: HeaderMap, Path(token): Path<String>) -> Response {
    if let Some(refused) = crate::cdn::refuses_authorization(&headers) {
        return refused;
    }
    let id = match sim.links.resolve(&token, &sim.clock) {
        Ok(id) => id,
        Err(true) => return crate::cdn::s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired"),
        Err(false) => return crate::cdn::s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied"),
    };
    match sim.read().attachments.get(&id) {
        Some(a) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))], a.data.clone()).into_response()
        }
        None => crate::cdn::s3_error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist."),
    }
}

async fn delete_attachment(State(sim): Sim, p: Result<Path<String>, PathRejection>) -> Response {
    done(path_id(p, "attachment").and_then(|id| {
        sim.write(|s| s.attachments.remove(&id))
            .ok_or_else(|| ApiError::not_found(format!("Attachment {id} not found")))
            .and_then(|_| ok(&json!({ "id": id })))
    }))
}

// ---------------------------------------------------------------------------------------------
// Lookups

async fn list_assets(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    done(assets::list(&sim.read(), &q).and_then(|v| ok(&v)))
}

async fn get_asset(State(sim): Sim, p: Result<Path<String>, PathRejection>) -> Response {
    done(path_id(p, "asset").and_then(|id| assets::get(&sim.read(), id)).and_then(|v| ok(&v)))
}

async fn categories(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    done(lookups::categories(&sim.read().lookups, &q).and_then(|v| ok(&v)))
}

async fn outcomes(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    done(ok(&lookups::outcomes(&params(q), &sim.read().profile.live)))
}

async fn statuses(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    done(ok(&lookups::statuses(&sim.read().lookups, &q)))
}

async fn priorities(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    done(lookups::priorities(&sim.read().lookups, &q).and_then(|v| ok(&v)))
}

async fn ticket_types(State(sim): Sim) -> Response {
    done(ok(&lookups::ticket_types(&sim.read().lookups)))
}

/// An API application that logs in as a Client may not read agents or teams [AU7].
fn agents_only(sim: &Simulator) -> Result<(), ApiError> {
    if sim.read().profile.live.client_login {
        return Err(ApiError::Exception(
            StatusCode::FORBIDDEN,
            EXCEPTION_CLASS,
            "You do not have permission to access this resource".into(),
        ));
    }
    Ok(())
}

async fn agents(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    done(agents_only(&sim).and_then(|()| lookups::agents(&sim.read().lookups, &q)).and_then(|v| ok(&v)))
}

/// `/api/Agent/{id}`, including `/api/Agent/me`.
async fn agent(State(sim): Sim, p: Result<Path<String>, PathRejection>) -> Response {
    done(
        agents_only(&sim)
            .and(p.map_err(|_| ApiError::bad_request("Invalid agent id")))
            .and_then(|Path(id)| lookups::agent(&sim.read().lookups, id.trim()))
            .and_then(|v| ok(&v)),
    )
}

async fn teams(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    done(agents_only(&sim).and_then(|()| ok(&lookups::teams(&sim.read().lookups, &q))))
}

async fn users(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    let g = sim.read();
    done(lookups::users(&g.lookups, &q, g.profile.live.user_needs_site).and_then(|v| ok(&v)))
}

async fn user(State(sim): Sim, p: Result<Path<String>, PathRejection>) -> Response {
    let g = sim.read();
    done(path_id(p, "user").and_then(|id| lookups::user(&g.lookups, id, g.profile.live.user_needs_site).and_then(|v| ok(&v))))
}

async fn clients(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    done(ok(&lookups::clients(&sim.read().lookups, &q)))
}

async fn client(State(sim): Sim, p: Result<Path<String>, PathRejection>) -> Response {
    done(path_id(p, "client").and_then(|id| lookups::client(&sim.read().lookups, id).and_then(|v| ok(&v))))
}

async fn sites(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    let q = params(q);
    done(lookups::sites(&sim.read().lookups, &q).and_then(|v| ok(&v)))
}

// ---------------------------------------------------------------------------------------------
// Control routes (not Halo; unauthenticated)

async fn ctl_stats(State(sim): Sim) -> Response {
    done(ok(&json!(sim.stats())))
}

async fn ctl_reset_stats(State(sim): Sim) -> Response {
    sim.reset_stats();
    done(ok(&json!(sim.stats())))
}

async fn ctl_faults(State(sim): Sim) -> Response {
    done(ok(&json!(sim.faults())))
}

async fn ctl_set_faults(State(sim): Sim, body: Body) -> Response {
    done((|| {
        let body = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
        let f: Faults = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("Invalid faults: {e}")))?;
        sim.set_faults(f);
        ok(&json!(sim.faults()))
    })())
}

async fn ctl_revoke_tokens(State(sim): Sim) -> Response {
    sim.revoke_tokens();
    done(ok(&json!({ "revoked": true })))
}

async fn ctl_ticket(State(sim): Sim, p: Result<Path<String>, PathRejection>) -> Response {
    done(
        path_id(p, "ticket")
            .and_then(|id| sim.ticket(id).ok_or_else(|| ApiError::not_found(format!("Ticket {id} not found"))).and_then(|v| ok(&v))),
    )
}

/// Every ticket, full records (for harnesses counting what a run made).
async fn ctl_tickets(State(sim): Sim) -> Response {
    done(ok(&json!(sim.tickets())))
}

async fn ctl_events(State(sim): Sim) -> Response {
    done(ok(&json!(sim.events())))
}

/// The webhook settings (password masked), or `null` when none are configured.
async fn ctl_webhook(State(sim): Sim) -> Response {
    done(ok(&json!(sim.webhook().map(|w| w.masked()))))
}

/// Body: a `WebhookConfig`, or `null` (or nothing) to stop sending. Answers as `GET` does.
async fn ctl_set_webhook(State(sim): Sim, body: Body) -> Response {
    done((|| {
        let body = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
        let cfg: Option<WebhookConfig> = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("Invalid webhook settings: {e}")))?
        };
        if let Some(c) = &cfg {
            c.validate().map_err(ApiError::bad_request)?;
        }
        sim.set_webhook(cfg);
        ok(&json!(sim.webhook().map(|w| w.masked())))
    })())
}

async fn ctl_webhook_stats(State(sim): Sim) -> Response {
    done(ok(&json!(sim.webhook_stats())))
}
