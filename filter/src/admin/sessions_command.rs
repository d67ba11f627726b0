//! `warden sessions list|show`: asks the admin API and renders the answer.

use super::client::{AdminClient, ClientError, SessionQuery};
use super::sessions::parse_time_bound;
use crate::approval::Timestamp;
use crate::audit::replay::{render_session, render_session_list};
use crate::cli::SessionsCommand;

/// Why `warden sessions` failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionsCommandError {
    /// `--since` or `--until` is not a time.
    #[error("--{flag}: {message}")]
    BadTime {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The admin API call failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The answer could not be printed as JSON.
    #[error("cannot print the answer as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Runs one `warden sessions` command and returns what to print on stdout. `now`
/// anchors relative times (`--since 2h`).
pub async fn run(
    client: &AdminClient,
    command: SessionsCommand,
    now: Timestamp,
) -> Result<String, SessionsCommandError> {
    let bound = |flag: &'static str, text: Option<String>| {
        text.map(|t| {
            parse_time_bound(&t, now)
                .map_err(|message| SessionsCommandError::BadTime { flag, message })
        })
        .transpose()
    };
    match command {
        SessionsCommand::List {
            identity,
            since,
            until,
            limit,
            json,
        } => {
            let query = SessionQuery {
                identity,
                since: bound("since", since)?,
                until: bound("until", until)?,
                limit,
            };
            let sessions = client.list_sessions(&query).await?;
            if json {
                Ok(format!("{}\n", serde_json::to_string_pretty(&sessions)?))
            } else {
                Ok(render_session_list(&sessions))
            }
        }
        SessionsCommand::Show { id, json } => {
            let view = client.show_session(&id).await?;
            if json {
                Ok(format!("{}\n", serde_json::to_string_pretty(&view)?))
            } else {
                Ok(render_session(&view.session_id, &view.exchanges))
            }
        }
    }
}
