//! Every error a step can end with: its class (which decides the HTTP status) and Rapid7's presets.

use std::fmt;

use axum::http::StatusCode;
use serde_json::{Value, json};

/// The error presets of the Python runtime (`ConnectionTestException.Preset`), with its wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    ApiKey,
    Unauthorized,
    RateLimit,
    UsernamePassword,
    NotFound,
    ServerError,
    ServiceUnavailable,
    InvalidJson,
    Unknown,
    Base64Encode,
    Base64Decode,
    Timeout,
    BadRequest,
    InvalidCredentials,
    MethodNotAllowed,
    Conflict,
    ConnectionError,
    RedirectError,
}

impl Preset {
    pub fn cause(self) -> &'static str {
        match self {
            Preset::ApiKey => "Invalid API key provided.",
            Preset::Unauthorized => "The account configured in your connection is unauthorized to access this service.",
            Preset::RateLimit => "The account configured in your plugin connection is currently rate-limited.",
            Preset::UsernamePassword => "Invalid username or password provided.",
            Preset::NotFound => "Invalid or unreachable endpoint provided.",
            Preset::ServerError => "Server error occurred",
            Preset::ServiceUnavailable => "The service is currently unavailable.",
            Preset::InvalidJson => "Received an unexpected response from the server.",
            Preset::Unknown => "Something unexpected occurred.",
            Preset::Base64Encode => "Unable to base64 encode content due to incorrect padding length.",
            Preset::Base64Decode => "Unable to base64 decode content due to incorrect padding length.",
            Preset::Timeout => "The connection timed out.",
            Preset::BadRequest => "The server is unable to process the request.",
            Preset::InvalidCredentials => "Authentication failed: invalid credentials.",
            Preset::MethodNotAllowed => "The request method is not allowed for this resource.",
            Preset::Conflict => "Request cannot be completed due to a conflict with the current state of the resource.",
            Preset::ConnectionError => "Failed to connect to the server.",
            Preset::RedirectError => "Request redirected more than the set limit for the server.",
        }
    }

    pub fn assistance(self) -> &'static str {
        match self {
            Preset::ApiKey => "Verify your API key configured in your connection is correct.",
            Preset::Unauthorized => "Verify the permissions for your account and try again.",
            Preset::RateLimit => "Adjust the time between requests if possible.",
            Preset::UsernamePassword => "Verify your username and password are correct.",
            Preset::NotFound => "Verify the URLs or endpoints in your configuration are correct.",
            Preset::ServerError => {
                "Verify your plugin connection inputs are correct and not malformed and try again. If the issue persists, please contact support."
            }
            Preset::ServiceUnavailable => "Try again later. If the issue persists, please contact support.",
            Preset::InvalidJson => "(non-JSON or no response was received).",
            Preset::Unknown => "Check the logs and if the issue persists please contact support.",
            Preset::Base64Encode | Preset::Base64Decode => {
                "This is likely a programming error, if the issue persists please contact support."
            }
            Preset::Timeout => {
                "This is likely a network error. Verify the network activity. If the issue persists, please contact support."
            }
            Preset::BadRequest => {
                "Verify your plugin input is correct and not malformed and try again. If the issue persists, please contact support."
            }
            Preset::InvalidCredentials => "Please verify the credentials for your account and try again.",
            Preset::MethodNotAllowed => "Please try a supported method for this resource.",
            Preset::Conflict => "Please check your request, and try again.",
            Preset::ConnectionError => "Please check your network connection and try again.",
            Preset::RedirectError => "Please check your request and try again.",
        }
    }
}

/// Which kind of failure this is; decides the HTTP status and the message wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The caller sent something wrong: malformed message, unknown step, invalid input (400).
    Client,
    /// A plugin exception raised while running a step (500, or 400 with the BadRequest preset).
    Plugin,
    /// A connection test failed (400).
    ConnectionTest,
    /// A bug in the plugin, e.g. output that breaks its own spec (500).
    Internal,
    /// The requested operation is not implemented (501).
    NotImplemented,
}

/// Every error a step can end with.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError {
    pub class: ErrorClass,
    pub preset: Option<Preset>,
    pub cause: String,
    pub assistance: String,
    pub data: String,
}

impl PluginError {
    pub fn new(class: ErrorClass, cause: impl Into<String>, assistance: impl Into<String>) -> Self {
        PluginError { class, preset: None, cause: cause.into(), assistance: assistance.into(), data: String::new() }
    }

    /// A caller error (HTTP 400).
    pub fn client(cause: impl Into<String>, assistance: impl Into<String>) -> Self {
        Self::new(ErrorClass::Client, cause, assistance)
    }

    /// A plugin exception with a preset's wording.
    pub fn preset(preset: Preset) -> Self {
        PluginError {
            class: ErrorClass::Plugin,
            preset: Some(preset),
            cause: preset.cause().into(),
            assistance: preset.assistance().into(),
            data: String::new(),
        }
    }

    /// A plugin exception with a preset's classification but a precise cause and assistance.
    pub fn plugin(preset: Preset, cause: impl Into<String>, assistance: impl Into<String>) -> Self {
        PluginError {
            class: ErrorClass::Plugin,
            preset: Some(preset),
            cause: cause.into(),
            assistance: assistance.into(),
            data: String::new(),
        }
    }

    /// A bug in the plugin (HTTP 500).
    pub fn internal(cause: impl Into<String>) -> Self {
        Self::new(ErrorClass::Internal, cause, "This is a defect in the plugin, not in your input. Report it with the step log.")
    }

    pub fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = data.into();
        self
    }

    /// The same error, reported as a failed connection test.
    pub fn into_connection_test(mut self) -> Self {
        if self.class != ErrorClass::NotImplemented {
            self.class = ErrorClass::ConnectionTest;
        }
        self
    }

    /// The HTTP status the REST API answers with (PROTOCOL.md's table).
    pub fn http_status(&self) -> StatusCode {
        match self.class {
            ErrorClass::Client | ErrorClass::ConnectionTest => StatusCode::BAD_REQUEST,
            ErrorClass::Plugin if self.preset == Some(Preset::BadRequest) => StatusCode::BAD_REQUEST,
            ErrorClass::Plugin | ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorClass::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        }
    }

    /// The `exception` block of an output message.
    pub fn exception_block(&self) -> Value {
        json!({"cause": self.cause, "assistance": self.assistance, "data": self.data})
    }
}

impl fmt::Display for PluginError {
    /// The `error` string of an output message, worded like the Python runtime's exceptions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            ErrorClass::ConnectionTest => {
                write!(f, "Connection test failed! {} {}", self.cause, self.assistance)?;
                if !self.data.is_empty() {
                    write!(f, " Response was: {}", self.data)?;
                }
                Ok(())
            }
            ErrorClass::Plugin => {
                write!(f, "An error occurred during plugin execution! {} {}", self.cause, self.assistance)?;
                if !self.data.is_empty() {
                    write!(f, " Response was {}", self.data)?;
                }
                Ok(())
            }
            _ => f.write_str(&self.cause),
        }
    }
}

impl std::error::Error for PluginError {}
