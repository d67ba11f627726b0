//! `GET /console/api/holds/{id}/preview`: the masked body of a held request, so an
//! approver sees what they are asked to let through.
//!
//! The approval names the held request (`request_id`); its exchange is looked up in
//! the recorded sessions ([`crate::store::ApprovalStore::exchange_by_request_id`]).
//! Only that masked capture is ever read: Warden keeps no unmasked body, so there is
//! nothing else this could leak. The audit writer records the exchange a few
//! milliseconds after the hold reply, so a fresh hold may answer "not recorded yet";
//! the console asks again.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;

use super::super::{caller, get_visible, AdminError, AdminState};
use crate::audit::BodyCapture;

/// Bytes of the masked body text a preview shows at most.
pub const PREVIEW_BYTES: usize = 2048;

/// What a preview holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewState {
    /// The masked body text (or its first [`PREVIEW_BYTES`]) is in `text`.
    Captured,
    /// The request had no body.
    NoBody,
    /// The body was not kept (binary, masking off, …); `note` says why.
    NotCaptured,
    /// The exchange is not in the session store (yet): ask again shortly.
    NotRecorded,
    /// Sessions are not recorded (`audit.sessions.record` or `audit.enabled` off).
    RecordingOff,
}

/// What `GET /console/api/holds/{id}/preview` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// The approval.
    pub approval_id: String,
    /// The held request.
    pub request_id: String,
    /// What the preview holds.
    pub state: PreviewState,
    /// The masked request's media type, when known.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub content_type: String,
    /// The first [`PREVIEW_BYTES`] of the masked body, when it is text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Masked body bytes in all.
    pub bytes: u64,
    /// True when the body is longer than what `text` shows.
    pub truncated: bool,
    /// A sentence for the approver when there is no text to show.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// The first `max` bytes of `text`, cut at a character boundary; and whether it was cut.
fn head(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

impl Preview {
    fn without_body(approval_id: &str, request_id: &str, state: PreviewState, note: &str) -> Self {
        Preview {
            approval_id: approval_id.to_string(),
            request_id: request_id.to_string(),
            state,
            content_type: String::new(),
            text: None,
            bytes: 0,
            truncated: false,
            note: note.to_string(),
        }
    }

    /// The preview of a recorded (masked) request body.
    fn of_body(approval_id: &str, request_id: &str, body: &BodyCapture) -> Self {
        let mut preview = Preview::without_body(
            approval_id,
            request_id,
            PreviewState::NotCaptured,
            &body.note,
        );
        preview.content_type = body.content_type.clone();
        preview.bytes = body.bytes;
        if !body.captured {
            if preview.note.is_empty() {
                preview.note = "not captured".into();
            }
            return preview;
        }
        match &body.text {
            Some(text) => {
                let (shown, cut) = head(text, PREVIEW_BYTES);
                preview.state = PreviewState::Captured;
                preview.text = Some(shown.to_string());
                preview.truncated = cut || body.truncated;
                preview.note.clear();
            }
            None if body.base64.is_some() => {
                preview.note = format!("binary body ({} bytes), not shown", body.bytes);
            }
            None => {
                preview.state = PreviewState::NoBody;
                preview.note = "no body".into();
            }
        }
        preview
    }
}

/// `GET /console/api/holds/{id}/preview`, for a caller who may see the approval.
pub(crate) async fn preview(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Preview>, AdminError> {
    let identity = caller(&state, &headers, "/console/api/holds/{id}/preview").await?;
    // Not visible → 404, as for `/v1/approvals/{id}`: no hint that it exists.
    let approval = get_visible(&state, &identity, id).await?;
    let (approval_id, request_id) = (approval.id.0.as_str(), approval.request_id.as_str());
    let recording = state
        .audit_status
        .as_ref()
        .is_some_and(|s| s.sessions_recorded());
    let preview = match state.store.exchange_by_request_id(request_id).await? {
        Some(exchange) => match &exchange.capture {
            Some(capture) => Preview::of_body(approval_id, request_id, &capture.request_body),
            None => Preview::without_body(
                approval_id,
                request_id,
                PreviewState::NotCaptured,
                "not captured: the exchange was recorded without its headers and bodies",
            ),
        },
        None if recording => Preview::without_body(
            approval_id,
            request_id,
            PreviewState::NotRecorded,
            "not recorded yet: the audit writer stores it moments after the hold",
        ),
        None => Preview::without_body(
            approval_id,
            request_id,
            PreviewState::RecordingOff,
            "sessions recording is off (audit.sessions.record), so no body is kept",
        ),
    };
    Ok(Json(preview))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn text_is_cut_at_a_character_boundary() {
        let text = format!("{}é", "a".repeat(PREVIEW_BYTES - 1));
        let (shown, cut) = head(&text, PREVIEW_BYTES);
        assert_eq!(shown.len(), PREVIEW_BYTES - 1);
        assert!(cut);
        assert_eq!(head("short", PREVIEW_BYTES), ("short", false));
    }

    #[test]
    fn bodies_become_previews() {
        let text = BodyCapture {
            captured: true,
            content_type: "application/json".into(),
            text: Some("{\"k\": \"[MASKED]\"}".into()),
            bytes: 17,
            truncated: true,
            ..BodyCapture::default()
        };
        let p = Preview::of_body("a", "r", &text);
        assert_eq!(p.state, PreviewState::Captured);
        assert_eq!(p.text.as_deref(), Some("{\"k\": \"[MASKED]\"}"));
        assert!(p.truncated, "the capture itself was truncated");
        let empty = Preview::of_body("a", "r", &BodyCapture::empty());
        assert_eq!(
            (empty.state, empty.note.as_str()),
            (PreviewState::NoBody, "no body")
        );
        let skipped = Preview::of_body("a", "r", &BodyCapture::not_captured("binary"));
        assert_eq!(skipped.state, PreviewState::NotCaptured);
        assert_eq!(skipped.note, "not captured: binary");
        assert_eq!(skipped.text, None);
        let binary = BodyCapture {
            captured: true,
            base64: Some("AAE=".into()),
            bytes: 2,
            ..BodyCapture::default()
        };
        let p = Preview::of_body("a", "r", &binary);
        assert_eq!(p.state, PreviewState::NotCaptured);
        assert!(p.note.contains("binary body (2 bytes)"), "{}", p.note);
    }
}
