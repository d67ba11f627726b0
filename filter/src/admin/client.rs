//! A client for the admin API, used by `warden approvals` and `warden sessions`.

use std::time::Duration;

use serde::Serialize;

use super::sessions::{SessionList, SessionView};
use crate::approval::{Approval, Timestamp};
use crate::store::SessionSummary;

/// Why an admin API call failed, in words for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The admin API could not be reached.
    #[error("cannot reach Warden's admin API at {url}: {source}; check --admin-url (WARDEN_ADMIN_URL) and that approvals.admin.listen is set")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The API refused the call.
    #[error("{message} ({status} {code})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Error code (`not_an_approver`, `self_approval`, ...).
        code: String,
        /// What the API said.
        message: String,
    },
    /// The API answered something that is not what it documents.
    #[error("unexpected answer from the admin API ({status}): {body}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
}

/// What `approve`, `deny` and `revoke` do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Approve.
    Approve,
    /// Deny.
    Deny,
    /// Revoke a grant or an unused approval.
    Revoke,
}

impl Decision {
    fn path(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
            Decision::Revoke => "revoke",
        }
    }
}

/// Which sessions [`AdminClient::list_sessions`] asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only this identity's exchanges (`anonymous` for requests without one).
    pub identity: Option<String>,
    /// Only exchanges that started at or after this time.
    pub since: Option<Timestamp>,
    /// Only exchanges that started before this time.
    pub until: Option<Timestamp>,
    /// At most this many sessions.
    pub limit: Option<u32>,
}

/// The admin API at one URL, with the caller's token.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

#[derive(Serialize)]
struct DecisionBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    justification: Option<&'a str>,
}

impl AdminClient {
    /// A client for the API at `base` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base: &str, token: Option<String>) -> Result<AdminClient, ClientError> {
        crate::identity::ensure_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: base.to_string(),
                source,
            })?;
        Ok(AdminClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    /// Approvals, newest first (`status`: a status name or `all`).
    pub async fn list(
        &self,
        status: &str,
        subject: Option<&str>,
    ) -> Result<Vec<Approval>, ClientError> {
        let mut url = format!("{}/v1/approvals?status={}", self.base, encode(status));
        if let Some(subject) = subject {
            url.push_str(&format!("&subject={}", encode(subject)));
        }
        let request = self.http.get(url);
        #[derive(serde::Deserialize)]
        struct Listing {
            approvals: Vec<Approval>,
        }
        let listing: Listing = self.send(request).await?;
        Ok(listing.approvals)
    }

    /// One approval.
    pub async fn show(&self, id: &str) -> Result<Approval, ClientError> {
        let request = self
            .http
            .get(format!("{}/v1/approvals/{}", self.base, encode(id)));
        self.send(request).await
    }

    /// Recorded sessions the caller may read, most recently active first.
    pub async fn list_sessions(
        &self,
        query: &SessionQuery,
    ) -> Result<Vec<SessionSummary>, ClientError> {
        let mut params = Vec::new();
        if let Some(identity) = &query.identity {
            params.push(format!("identity={}", encode(identity)));
        }
        if let Some(since) = query.since {
            params.push(format!("since={}", encode(&since.rfc3339())));
        }
        if let Some(until) = query.until {
            params.push(format!("until={}", encode(&until.rfc3339())));
        }
        if let Some(limit) = query.limit {
            params.push(format!("limit={limit}"));
        }
        let mut url = format!("{}/v1/sessions", self.base);
        if !params.is_empty() {
            url.push('?');
            url.push_str(&params.join("&"));
        }
        let listing: SessionList = self.send(self.http.get(url)).await?;
        Ok(listing.sessions)
    }

    /// One session's exchanges (those the caller may read), in time order.
    pub async fn show_session(&self, id: &str) -> Result<SessionView, ClientError> {
        let request = self
            .http
            .get(format!("{}/v1/sessions/{}", self.base, encode(id)));
        self.send(request).await
    }

    /// Approves, denies or revokes.
    pub async fn decide(
        &self,
        id: &str,
        decision: Decision,
        justification: Option<&str>,
    ) -> Result<Approval, ClientError> {
        let request = self
            .http
            .post(format!(
                "{}/v1/approvals/{}/{}",
                self.base,
                encode(id),
                decision.path()
            ))
            .json(&DecisionBody { justification });
        self.send(request).await
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: self.base.clone(),
                source,
            })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: self.base.clone(),
                source,
            })?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|_| ClientError::Unexpected {
                status,
                body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
            });
        }
        let error: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let field = |name: &str| {
            error
                .as_ref()
                .and_then(|e| e.pointer(&format!("/error/{name}")))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        match (field("code"), field("message")) {
            (Some(code), Some(message)) => Err(ClientError::Refused {
                status,
                code,
                message,
            }),
            _ => Err(ClientError::Unexpected {
                status,
                body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
            }),
        }
    }
}

/// Percent-encodes everything but unreserved characters, so an id stays one path
/// segment and a query value one value.
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
