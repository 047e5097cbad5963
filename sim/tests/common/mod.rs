//! Helpers of the simulator's tests: a simulator on 127.0.0.1, a token from it, and a client of
//! its API holding that token.

use std::net::SocketAddr;

use halo_sim::{SimConfig, SimHandle, start};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub async fn sim_with(config: SimConfig) -> SimHandle {
    start(config, loopback()).await.expect("bind 127.0.0.1")
}

pub async fn sim() -> SimHandle {
    sim_with(SimConfig::default()).await
}

pub async fn token_response(h: &SimHandle, form: &[(&str, &str)]) -> Response {
    Client::new().post(format!("{}/token", h.auth_url())).form(form).send().await.expect("token request")
}

pub async fn token(h: &SimHandle) -> String {
    let r = token_response(
        h,
        &[("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "sim-secret"), ("scope", "all")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("token json");
    v["access_token"].as_str().expect("access_token").to_string()
}

/// A client bound to one simulator and token.
pub struct Api {
    pub http: Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub async fn new(h: &SimHandle) -> Api {
        Api { http: Client::new(), base: h.api_url(), token: token(h).await }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body).send().await.expect("POST")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.http.delete(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.expect("DELETE")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.expect("json")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Value {
        let r = self.post(path, body).await;
        assert_eq!(r.status(), StatusCode::OK, "POST {path}");
        r.json().await.expect("json")
    }
}

pub async fn json_of(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("application/json"), "{status}: content-type {ct}");
    (status, r.json().await.expect("json body"))
}

pub fn ids(v: &Value) -> Vec<i64> {
    v["tickets"].as_array().map(|a| a.iter().filter_map(|t| t["id"].as_i64()).collect()).unwrap_or_default()
}
