//! What Warden answers when it refuses or holds a request, in the shape the client
//! speaks.
//!
//! Agents are often LLMs driving real clients, and those clients only surface certain
//! replies: kubectl prints a Kubernetes `Status`'s message, an MCP client SDK hands a
//! tool result (or a JSON-RPC error) to the model but turns an HTTP error into "server
//! returned an error", and `git push` prints the server's side-band messages and
//! report-status lines but not an HTTP error body. So [`render`] picks the shape from the
//! request's facts:
//!
//! 1. **git receive-pack** (a push whose ref updates were read): HTTP 200,
//!    `application/x-git-receive-pack-result`, the message on side-band 2 (git prints
//!    it as `remote: ...`) when the client asked for `side-band-64k`/`side-band`, then
//!    a report-status (`unpack ok`, one `ng <ref> <reason>` per ref update, flush) on
//!    band 1 when it asked for `report-status`/`report-status-v2`, then a flush. git
//!    prints ` ! [remote rejected] main -> main (held for approval apr-...)` and exits
//!    non-zero.
//! 2. **MCP / JSON-RPC 2.0** (the body parses as JSON-RPC with at least one request
//!    that has an `id`): HTTP 200, `application/json`. A `tools/call` gets a tool
//!    result with `isError: true` and the message as text (the MCP spec's tool-error
//!    shape, which SDKs pass to the model); any other method gets a JSON-RPC error
//!    with code [`JSONRPC_HOLD_CODE`] (-32001) or [`JSONRPC_DENY_CODE`] (-32002) and
//!    `data` holding the generic error object. A batch gets an array with one response
//!    per request that has an id; ids are echoed as sent. A body of notifications
//!    only gets the generic shape. MCP is checked before Kubernetes: an MCP endpoint
//!    can sit at a path that looks like the Kubernetes API, but kubectl never sends
//!    JSON-RPC.
//! 3. **Kubernetes API**: a `v1` `Status` (`Failure`, `reason` from the HTTP status,
//!    e.g. `Forbidden` for 403) with the full message, the object in `details`, and a
//!    `WardenHold`/`WardenDeny` cause. kubectl prints `Error from server (Forbidden):
//!    <message>`. No `Retry-After` header here: client-go silently retries a 429 or
//!    5xx that carries one; the wait is in `details.retryAfterSeconds` instead.
//! 4. **Generic HTTP**: the rule's status and `{"error": {...}}` with `code`
//!    (`held_for_approval` / `denied_by_policy`), `decision`, `message` (the rule's
//!    reason), `rule`, `request_id`, `operation` and, for holds, `approval`.
//!
//! Every shape carries `x-warden-decision`, `x-warden-rule`, `x-warden-request-id`
//! and, for a hold with an approval, `x-warden-approval-id`. Nothing here does I/O.

use serde_json::{json, Map, Value};

use super::{LocalReply, DECISION_HEADER, REQUEST_ID_HEADER, RULE_HEADER};
use crate::classify::git::{self, GitPhase, GitService, RefAction};
use crate::classify::kubernetes::{KubernetesFacts, KubernetesVerb};
use crate::classify::RequestFacts;
use crate::policy::{Action, PolicyDecision};

/// Header naming the approval request a hold opened.
pub const APPROVAL_ID_HEADER: &str = "x-warden-approval-id";

/// JSON-RPC error code for a held request (in the spec's implementation-defined
/// server-error range, -32000 to -32099).
pub const JSONRPC_HOLD_CODE: i64 = -32001;

/// JSON-RPC error code for a request denied by policy.
pub const JSONRPC_DENY_CODE: i64 = -32002;

/// Longest reason put on a git `ng` line (the side-band message carries the rest).
const MAX_NG_REASON_CHARS: usize = 200;

/// Width the side-band message is wrapped to (git prefixes each line with `remote: `).
const SIDEBAND_LINE_WIDTH: usize = 72;

/// git's largest pkt-line with `side-band-64k` (`LARGE_PACKET_MAX`).
const SIDEBAND_64K_MAX_PACKET: usize = 65520;

/// git's largest pkt-line with the old `side-band`.
const SIDEBAND_MAX_PACKET: usize = 1000;

/// Whether the request was refused or held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    /// Stopped until a human approves it.
    Hold,
    /// Refused by policy.
    Deny,
}

impl NoticeKind {
    /// `hold` or `deny`, as in `x-warden-decision`.
    pub fn name(self) -> &'static str {
        match self {
            NoticeKind::Hold => "hold",
            NoticeKind::Deny => "deny",
        }
    }

    /// The generic body's `error.code`: `held_for_approval` or `denied_by_policy`.
    pub fn code(self) -> &'static str {
        match self {
            NoticeKind::Hold => "held_for_approval",
            NoticeKind::Deny => "denied_by_policy",
        }
    }
}

/// What Warden tells the client about a refused or held request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Hold or deny.
    pub decision: NoticeKind,
    /// HTTP status from the rule (403 by default); the generic and Kubernetes shapes
    /// use it, the git and MCP shapes answer 200 as their protocols expect.
    pub status: u16,
    /// The deciding rule (`default` when the policy's default applied).
    pub rule: String,
    /// The rule's reason.
    pub reason: String,
    /// Warden's request id.
    pub request_id: String,
    /// A one-line summary of the operation (see [`summarize`]).
    pub operation: Option<String>,
    /// The approval request a hold opened (holds only).
    pub approval: Option<ApprovalNotice>,
}

/// The approval request behind a hold, as the client is told about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalNotice {
    /// The approval id, e.g. `apr-...`.
    pub id: String,
    /// `pending`, `approved`, `denied`, `expired`, ...
    pub status: String,
    /// When the pending request expires (RFC 3339).
    pub expires_at: String,
    /// Groups whose members may approve.
    pub approver_groups: Vec<String>,
    /// Distinct approvals needed.
    pub required: u32,
    /// When to try again (seconds); also the generic shape's `Retry-After`.
    pub retry_after_seconds: u64,
    /// When an approval grants a time window rather than one operation: its length.
    pub grant_seconds: Option<u64>,
    /// How long Warden kept the request waiting for a decision, in wait mode.
    pub waited_seconds: Option<u64>,
}

impl Notice {
    /// The notice for a policy `deny` or `hold` (any action other than `hold` is a
    /// deny). No approval is attached: the caller adds one when a hold opened it.
    pub fn policy(decision: &PolicyDecision, request_id: &str, facts: &RequestFacts) -> Notice {
        Notice {
            decision: match decision.decision {
                Action::Hold => NoticeKind::Hold,
                _ => NoticeKind::Deny,
            },
            status: decision.status,
            rule: decision.rule.clone().unwrap_or_else(|| "default".into()),
            reason: decision.reason.clone(),
            request_id: request_id.to_string(),
            operation: Some(summarize(facts)),
            approval: None,
        }
    }

    /// The full plain-English message: what happened, why, and what to do next.
    pub fn message(&self) -> String {
        let what = self
            .operation
            .as_deref()
            .map(|op| format!(" ({})", one_line(op)))
            .unwrap_or_default();
        let why = format!(
            "{} [rule {}, request {}].",
            one_line(&self.reason).trim_end_matches('.'),
            one_line(&self.rule),
            one_line(&self.request_id)
        );
        match self.decision {
            NoticeKind::Hold => format!(
                "Warden held this request{what} for human approval: {why} {}",
                self.instructions()
            ),
            NoticeKind::Deny => format!(
                "Warden denied this request{what}: {why} Sending it again unchanged will \
                 be denied again."
            ),
        }
    }

    /// For a hold: what the client should do about it, in plain English.
    pub fn instructions(&self) -> String {
        let Some(approval) = &self.approval else {
            return format!(
                "A human must approve this operation before it can go ahead; ask an \
                 approver to review request {}.",
                one_line(&self.request_id)
            );
        };
        let id = one_line(&approval.id);
        let waited = approval
            .waited_seconds
            .map(|s| format!("Warden waited {s}s for a decision. "))
            .unwrap_or_default();
        match approval.status.as_str() {
            "approved" => format!(
                "{waited}Approval {id} is approved: retry the same request unchanged (same \
                 identity, same body) now; it passes once."
            ),
            "denied" => {
                format!("{waited}An approver denied approval {id}: do not retry this request.")
            }
            "expired" => format!(
                "{waited}Approval {id} expired before it was used; sending the request \
                 again opens a new approval request."
            ),
            status => {
                let groups = if approval.approver_groups.is_empty() {
                    "an approver group".to_string()
                } else {
                    approval
                        .approver_groups
                        .iter()
                        .map(|g| one_line(g))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let passes = match approval.grant_seconds {
                    Some(grant) => format!(
                        "once approved, the same operation passes for {grant}s from its \
                         first use"
                    ),
                    None => "once approved, it passes once".to_string(),
                };
                format!(
                    "{waited}Approval {id} is {} ({} approval(s) needed from {groups}; it \
                     expires at {}). An approver runs `warden approvals approve {id}`; \
                     then retry the same request unchanged (same identity, same body) \
                     within the approval's window, checking back in about {}s; {passes}.",
                    one_line(status),
                    approval.required,
                    one_line(&approval.expires_at),
                    approval.retry_after_seconds,
                )
            }
        }
    }

    /// The generic body's inner `error` object (also the JSON-RPC error's `data`).
    pub fn error_object(&self) -> Value {
        let mut error = json!({
            "code": self.decision.code(),
            "decision": self.decision.name(),
            "message": self.reason,
            "rule": self.rule,
            "request_id": self.request_id,
        });
        if let Some(fields) = error.as_object_mut() {
            if let Some(operation) = &self.operation {
                fields.insert("operation".into(), json!(operation));
            }
            if self.decision == NoticeKind::Hold && self.approval.is_none() {
                fields.insert("instructions".into(), json!(self.instructions()));
            }
            // A hold quotes its approval; so does a denial an approver made.
            {
                if let Some(approval) = &self.approval {
                    let mut block = json!({
                        "id": approval.id,
                        "status": approval.status,
                        "expires_at": approval.expires_at,
                        "approvers": approval.approver_groups,
                        "required": approval.required,
                        "retry_after_seconds": approval.retry_after_seconds,
                        "retry": self.instructions(),
                    });
                    if let Some(block) = block.as_object_mut() {
                        if let Some(grant) = approval.grant_seconds {
                            block.insert("grant_seconds".into(), json!(grant));
                        }
                        if let Some(waited) = approval.waited_seconds {
                            block.insert("waited_seconds".into(), json!(waited));
                        }
                    }
                    fields.insert("approval".into(), block);
                }
            }
        }
        error
    }

    /// The `x-warden-*` headers every shape carries.
    fn warden_headers(&self, content_type: &str) -> Vec<(String, String)> {
        let mut headers = vec![
            ("content-type".to_string(), content_type.to_string()),
            (DECISION_HEADER.into(), self.decision.name().into()),
            (RULE_HEADER.into(), header_value(&self.rule)),
            (REQUEST_ID_HEADER.into(), header_value(&self.request_id)),
        ];
        if let Some(approval) = self.approval.as_ref() {
            headers.push((APPROVAL_ID_HEADER.into(), header_value(&approval.id)));
        }
        headers
    }

    fn reply(&self, status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> LocalReply {
        LocalReply {
            status,
            headers,
            body,
            details: format!("warden_{}", self.decision.code()),
        }
    }
}

/// Renders the notice in the shape the client speaks, chosen from the request facts
/// (see the module docs). `request_body` is the request body as the upstream would
/// read it (decoded), when it was read; without it the git and MCP shapes cannot be
/// chosen and the generic one is used.
pub fn render(notice: &Notice, facts: &RequestFacts, request_body: Option<&[u8]>) -> LocalReply {
    if let Some(reply) = git_reply(notice, facts, request_body) {
        return reply;
    }
    if facts.mcp.is_some() {
        if let Some(reply) = jsonrpc_reply(notice, request_body) {
            return reply;
        }
    }
    if let Some(kubernetes) = facts.kubernetes.first() {
        return kubernetes_reply(notice, kubernetes);
    }
    generic_reply(notice)
}

/// A one-line summary of what a request does, for messages: `git push to /r.git:
/// update refs/heads/main`, `Kubernetes delete deployments.apps "web" in namespace
/// "prod"`, `MCP tools/call drop_database`, or `POST api.test/v1/things`.
pub fn summarize(facts: &RequestFacts) -> String {
    if let Some(git) = &facts.git {
        if git.request.service == GitService::ReceivePack && !git.ref_updates.is_empty() {
            let mut updates: Vec<String> = git
                .ref_updates
                .iter()
                .take(3)
                .map(|u| {
                    let action = match u.action {
                        RefAction::Create => "create",
                        RefAction::Update => "update",
                        RefAction::Delete => "delete",
                    };
                    if u.ref_name.is_empty() {
                        format!("{action} an unnamed ref")
                    } else {
                        format!("{action} {}", u.ref_name)
                    }
                })
                .collect();
            if git.ref_updates.len() > 3 {
                updates.push(format!("and {} more", git.ref_updates.len() - 3));
            }
            return one_line(&format!(
                "git push to {}: {}",
                git.request.repository,
                updates.join(", ")
            ));
        }
        let service = match git.request.service {
            GitService::ReceivePack => "push",
            GitService::UploadPack => "fetch",
        };
        return one_line(&format!("git {service} {}", git.request.repository));
    }
    if let Some(mcp) = &facts.mcp {
        let calls: Vec<String> = mcp
            .messages
            .iter()
            .take(3)
            .map(|m| {
                let target = m
                    .tool
                    .as_deref()
                    .or(m.resource_uri.as_deref())
                    .or(m.prompt.as_deref());
                match target {
                    Some(target) => format!("{} {target}", m.method),
                    None => m.method.clone(),
                }
            })
            .collect();
        if !calls.is_empty() {
            let more = mcp.messages.len().saturating_sub(3);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            return truncate(&one_line(&format!("MCP {}{more}", calls.join(", "))), 300);
        }
    }
    if let Some(k) = facts.kubernetes.first() {
        let mut text = format!("Kubernetes {}", verb_name(k.verb));
        if let Some(resource) = &k.resource {
            text.push(' ');
            text.push_str(resource);
            if !k.api_group.is_empty() {
                text.push('.');
                text.push_str(&k.api_group);
            }
            if let Some(sub) = &k.subresource {
                text.push('/');
                text.push_str(sub);
            }
        }
        if let Some(name) = &k.name {
            text.push_str(&format!(" {name:?}"));
        }
        if let Some(namespace) = &k.namespace {
            if k.resource.as_deref() != Some("namespaces") {
                text.push_str(&format!(" in namespace {namespace:?}"));
            }
        }
        return truncate(&one_line(&text), 300);
    }
    truncate(
        &one_line(&format!("{} {}{}", facts.method, facts.host, facts.path)),
        300,
    )
}

/// The generic JSON shape.
fn generic_reply(notice: &Notice) -> LocalReply {
    let mut headers = notice.warden_headers("application/json");
    if let Some(approval) = notice.approval.as_ref() {
        if notice.decision == NoticeKind::Hold {
            headers.push((
                "retry-after".into(),
                approval.retry_after_seconds.to_string(),
            ));
        }
    }
    let body = json!({ "error": notice.error_object() });
    notice.reply(notice.status, headers, body.to_string().into_bytes())
}

/// The Kubernetes `v1` `Status` shape.
fn kubernetes_reply(notice: &Notice, facts: &KubernetesFacts) -> LocalReply {
    let cause = match (&notice.approval, notice.decision) {
        (Some(approval), NoticeKind::Hold) => format!(
            "approval id {}; rule {}",
            one_line(&approval.id),
            one_line(&notice.rule)
        ),
        _ => format!(
            "rule {}; request {}",
            one_line(&notice.rule),
            one_line(&notice.request_id)
        ),
    };
    let mut details = Map::new();
    if let Some(name) = &facts.name {
        details.insert("name".into(), json!(name));
    }
    if !facts.api_group.is_empty() {
        details.insert("group".into(), json!(facts.api_group));
    }
    if let Some(resource) = &facts.resource {
        details.insert("kind".into(), json!(resource));
    }
    let cause_reason = match notice.decision {
        NoticeKind::Hold => "WardenHold",
        NoticeKind::Deny => "WardenDeny",
    };
    details.insert(
        "causes".into(),
        json!([{ "reason": cause_reason, "message": cause }]),
    );
    if let (Some(approval), NoticeKind::Hold) = (&notice.approval, notice.decision) {
        details.insert(
            "retryAfterSeconds".into(),
            json!(approval.retry_after_seconds),
        );
    }
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": notice.message(),
        "reason": kubernetes_reason(notice.status),
        "details": details,
        "code": notice.status,
    });
    notice.reply(
        notice.status,
        notice.warden_headers("application/json"),
        body.to_string().into_bytes(),
    )
}

/// The `metav1.StatusReason` for an HTTP status (`""`, "unknown", when none fits).
pub fn kubernetes_reason(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "",
    }
}

/// The JSON-RPC shape, or `None` when the body holds no JSON-RPC request with an id.
fn jsonrpc_reply(notice: &Notice, request_body: Option<&[u8]>) -> Option<LocalReply> {
    let parsed: Value = serde_json::from_slice(request_body?).ok()?;
    let body = match &parsed {
        Value::Object(_) => jsonrpc_response(notice, &parsed)?,
        Value::Array(elements) => {
            let responses: Vec<Value> = elements
                .iter()
                .filter_map(|element| jsonrpc_response(notice, element))
                .collect();
            if responses.is_empty() {
                return None;
            }
            Value::Array(responses)
        }
        _ => return None,
    };
    Some(notice.reply(
        200,
        notice.warden_headers("application/json"),
        body.to_string().into_bytes(),
    ))
}

/// The response to one JSON-RPC request; `None` for a notification, a response or
/// anything that is not a request.
fn jsonrpc_response(notice: &Notice, message: &Value) -> Option<Value> {
    let object = message.as_object()?;
    let id = object.get("id")?;
    let method = object.get("method")?;
    if method.as_str() == Some("tools/call") {
        return Some(json!({
            "jsonrpc": "2.0",
            "id": id,
            "result": {
                "content": [{ "type": "text", "text": notice.message() }],
                "isError": true,
            },
        }));
    }
    let code = match notice.decision {
        NoticeKind::Hold => JSONRPC_HOLD_CODE,
        NoticeKind::Deny => JSONRPC_DENY_CODE,
    };
    Some(json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": notice.message(), "data": notice.error_object() },
    }))
}

/// The git receive-pack shape, or `None` when the request is not a push whose ref
/// updates were read.
fn git_reply(
    notice: &Notice,
    facts: &RequestFacts,
    request_body: Option<&[u8]>,
) -> Option<LocalReply> {
    let push = facts.git.as_ref()?;
    if push.request.service != GitService::ReceivePack
        || push.request.phase != GitPhase::Rpc
        || push.ref_updates.is_empty()
    {
        return None;
    }
    let capabilities = git::receive_pack_capabilities(request_body?);
    let refs: Vec<&str> = push
        .ref_updates
        .iter()
        .map(|u| u.ref_name.as_str())
        .collect();
    let body = push_result(&notice.message(), &ng_reason(notice), &refs, &capabilities);
    let mut headers = notice.warden_headers("application/x-git-receive-pack-result");
    headers.push(("cache-control".into(), "no-cache".into()));
    Some(notice.reply(200, headers, body))
}

/// A receive-pack result refusing every ref in `refs`, in the shape the client asked
/// for in `capabilities`: `message` on side-band 2 (git prints `remote: ...`), then a
/// report-status with one `ng <ref> <ng_reason>` per ref, then a flush.
fn push_result(message: &str, ng_reason: &str, refs: &[&str], capabilities: &[String]) -> Vec<u8> {
    let asked = |name: &str| capabilities.iter().any(|c| c == name);
    let max_packet = if asked("side-band-64k") {
        Some(SIDEBAND_64K_MAX_PACKET)
    } else if asked("side-band") {
        Some(SIDEBAND_MAX_PACKET)
    } else {
        None
    };
    let report = asked("report-status") || asked("report-status-v2");

    let mut status = Vec::new();
    if report {
        let reason = truncate(ng_reason, MAX_NG_REASON_CHARS);
        pkt_line(&mut status, b"unpack ok\n");
        for name in refs {
            pkt_line(&mut status, format!("ng {name} {reason}\n").as_bytes());
        }
        status.extend_from_slice(b"0000");
    }
    match max_packet {
        Some(max) => {
            let mut out = Vec::new();
            let mut text = String::new();
            for line in wrap(message, SIDEBAND_LINE_WIDTH) {
                text.push_str(&line);
                text.push('\n');
            }
            sideband(&mut out, 2, text.as_bytes(), max);
            if report {
                sideband(&mut out, 1, &status, max);
            }
            out.extend_from_slice(b"0000");
            out
        }
        None if report => status,
        None => b"0000".to_vec(),
    }
}

/// The reply refusing a push whose pack Warden would not let through (a secret in its
/// objects, or pack data it cannot read), in git's own shape so `git push` prints
/// `message` and reports each ref as rejected. `head` is the start of the request body
/// (its command list); `None` when it cannot be read, and the caller answers with a
/// plain HTTP error instead.
pub fn git_push_refused(
    head: &[u8],
    message: &str,
    ng_reason: &str,
    code: &str,
    request_id: &str,
) -> Option<LocalReply> {
    let updates = git::parse_receive_pack_commands(head).ok()?;
    if updates.is_empty() {
        return None;
    }
    let refs: Vec<&str> = updates.iter().map(|u| u.ref_name.as_str()).collect();
    let capabilities = git::receive_pack_capabilities(head);
    let body = push_result(message, &one_line(ng_reason), &refs, &capabilities);
    Some(LocalReply {
        status: 200,
        headers: vec![
            (
                "content-type".into(),
                "application/x-git-receive-pack-result".into(),
            ),
            ("cache-control".into(), "no-cache".into()),
            (DECISION_HEADER.into(), "deny".into()),
            (REQUEST_ID_HEADER.into(), header_value(request_id)),
        ],
        body,
        details: format!("warden_{code}"),
    })
}

/// The short reason on each `ng` line.
fn ng_reason(notice: &Notice) -> String {
    match (notice.decision, &notice.approval) {
        (NoticeKind::Hold, Some(approval)) => format!(
            "held for approval {}; retry the same push once an approver runs `warden \
             approvals approve {}`",
            one_line(&approval.id),
            one_line(&approval.id)
        ),
        (NoticeKind::Hold, None) => format!(
            "held for approval: {} (rule {})",
            one_line(&notice.reason),
            one_line(&notice.rule)
        ),
        (NoticeKind::Deny, _) => format!(
            "denied by policy: {} (rule {})",
            one_line(&notice.reason),
            one_line(&notice.rule)
        ),
    }
}

/// Appends one pkt-line (`payload` must fit: at most 65516 bytes).
fn pkt_line(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
    out.extend_from_slice(payload);
}

/// Appends `data` on side-band `band`, in packets of at most `max_packet` bytes.
fn sideband(out: &mut Vec<u8>, band: u8, data: &[u8], max_packet: usize) {
    for chunk in data.chunks(max_packet - 5) {
        let mut payload = Vec::with_capacity(chunk.len() + 1);
        payload.push(band);
        payload.extend_from_slice(chunk);
        pkt_line(out, &payload);
    }
}

/// Words of `text` in lines of at most `width` characters (a longer word gets a line
/// of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `text` with control characters (newlines included) replaced by spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A header value: one line, printable.
fn header_value(text: &str) -> String {
    truncate(&one_line(text), 256)
}

/// At most `max` characters of `text`, with `...` when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(3)).collect();
    cut.push_str("...");
    cut
}

fn verb_name(verb: KubernetesVerb) -> &'static str {
    match verb {
        KubernetesVerb::Get => "get",
        KubernetesVerb::List => "list",
        KubernetesVerb::Watch => "watch",
        KubernetesVerb::Create => "create",
        KubernetesVerb::Update => "update",
        KubernetesVerb::Patch => "patch",
        KubernetesVerb::Delete => "delete",
        KubernetesVerb::Deletecollection => "deletecollection",
        KubernetesVerb::Connect => "connect",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{git as gitc, mcp, GitFacts};

    const OLD: &str = "1111111111111111111111111111111111111111";
    const NEW: &str = "2222222222222222222222222222222222222222";

    fn approval() -> ApprovalNotice {
        ApprovalNotice {
            id: "apr-7f3a".into(),
            status: "pending".into(),
            expires_at: "2026-11-30T07:00:00Z".into(),
            approver_groups: vec!["sre".into(), "dba".into()],
            required: 2,
            retry_after_seconds: 30,
            grant_seconds: None,
            waited_seconds: None,
        }
    }

    fn hold() -> Notice {
        Notice {
            decision: NoticeKind::Hold,
            status: 403,
            rule: "protect-main".into(),
            reason: "Pushes to main need a human's approval".into(),
            request_id: "req-1".into(),
            operation: Some("git push to /r.git: update refs/heads/main".into()),
            approval: Some(approval()),
        }
    }

    fn deny() -> Notice {
        Notice {
            decision: NoticeKind::Deny,
            approval: None,
            rule: "no-drop".into(),
            reason: "Dropping databases is not allowed".into(),
            ..hold()
        }
    }

    fn header<'a>(reply: &'a LocalReply, name: &str) -> Option<&'a str> {
        reply
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json_body(reply: &LocalReply) -> Value {
        serde_json::from_slice(&reply.body).expect("reply body is JSON")
    }

    // ---- generic ----

    #[test]
    fn generic_hold_carries_the_approval_and_retry_instructions() {
        let reply = render(&hold(), &RequestFacts::default(), None);
        assert_eq!(reply.status, 403);
        assert_eq!(header(&reply, "content-type"), Some("application/json"));
        assert_eq!(header(&reply, DECISION_HEADER), Some("hold"));
        assert_eq!(header(&reply, RULE_HEADER), Some("protect-main"));
        assert_eq!(header(&reply, REQUEST_ID_HEADER), Some("req-1"));
        assert_eq!(header(&reply, APPROVAL_ID_HEADER), Some("apr-7f3a"));
        assert_eq!(header(&reply, "retry-after"), Some("30"));
        assert_eq!(reply.details, "warden_held_for_approval");
        let error = &json_body(&reply)["error"];
        assert_eq!(error["code"], "held_for_approval");
        assert_eq!(error["decision"], "hold");
        assert_eq!(error["message"], "Pushes to main need a human's approval");
        assert_eq!(error["rule"], "protect-main");
        assert_eq!(error["request_id"], "req-1");
        assert_eq!(
            error["operation"],
            "git push to /r.git: update refs/heads/main"
        );
        let block = &error["approval"];
        assert_eq!(block["id"], "apr-7f3a");
        assert_eq!(block["status"], "pending");
        assert_eq!(block["expires_at"], "2026-11-30T07:00:00Z");
        assert_eq!(block["approvers"], json!(["sre", "dba"]));
        assert_eq!(block["required"], 2);
        let retry = block["retry"].as_str().unwrap();
        assert!(
            retry.contains("`warden approvals approve apr-7f3a`"),
            "{retry}"
        );
        assert!(
            retry.contains("unchanged (same identity, same body)"),
            "{retry}"
        );
        assert!(retry.contains("passes once"), "{retry}");
        assert!(block.get("grant_seconds").is_none());
    }

    #[test]
    fn generic_deny_keeps_the_existing_fields() {
        let reply = render(&deny(), &RequestFacts::default(), None);
        assert_eq!(reply.status, 403);
        assert_eq!(header(&reply, DECISION_HEADER), Some("deny"));
        assert_eq!(header(&reply, RULE_HEADER), Some("no-drop"));
        assert_eq!(header(&reply, APPROVAL_ID_HEADER), None);
        assert_eq!(header(&reply, "retry-after"), None);
        assert_eq!(reply.details, "warden_denied_by_policy");
        let error = &json_body(&reply)["error"];
        assert_eq!(error["code"], "denied_by_policy");
        assert_eq!(error["decision"], "deny");
        assert_eq!(error["message"], "Dropping databases is not allowed");
        assert_eq!(error["request_id"], "req-1");
        assert!(error.get("approval").is_none());
    }

    #[test]
    fn hold_messages_follow_the_approval_status_and_grants() {
        let mut notice = hold();
        notice.approval = Some(ApprovalNotice {
            grant_seconds: Some(600),
            waited_seconds: Some(120),
            ..approval()
        });
        let reply = render(&notice, &RequestFacts::default(), None);
        let block = &json_body(&reply)["error"]["approval"];
        assert_eq!(block["grant_seconds"], 600);
        assert_eq!(block["waited_seconds"], 120);
        let retry = block["retry"].as_str().unwrap();
        assert!(retry.contains("passes for 600s"), "{retry}");
        assert!(retry.starts_with("Warden waited 120s"), "{retry}");

        for (status, expect) in [
            ("denied", "do not retry"),
            ("expired", "opens a new approval request"),
            ("approved", "now; it passes once"),
        ] {
            notice.approval = Some(ApprovalNotice {
                status: status.into(),
                ..approval()
            });
            let text = notice.instructions();
            assert!(text.contains(expect), "{status}: {text}");
        }

        // A hold without an approval record still tells the client what happens.
        notice.approval = None;
        let reply = render(&notice, &RequestFacts::default(), None);
        assert_eq!(header(&reply, APPROVAL_ID_HEADER), None);
        let error = &json_body(&reply)["error"];
        assert!(error["instructions"]
            .as_str()
            .unwrap()
            .contains("ask an approver to review request req-1"));
    }

    #[test]
    fn control_characters_never_reach_headers_or_lines() {
        let mut notice = hold();
        notice.rule = "a\r\nx-evil: 1".into();
        notice.reason = "line one\nline two".into();
        let reply = render(&notice, &RequestFacts::default(), None);
        for (_, value) in &reply.headers {
            assert!(!value.chars().any(char::is_control), "{value:?}");
        }
        assert!(!notice.message().contains('\n'));
    }

    // ---- Kubernetes ----

    fn kubernetes_facts(resource: &str, group: &str, name: Option<&str>) -> RequestFacts {
        RequestFacts {
            method: "DELETE".into(),
            kubernetes: vec![KubernetesFacts {
                verb: KubernetesVerb::Delete,
                api_group: group.into(),
                version: Some("v1".into()),
                resource: Some(resource.into()),
                subresource: None,
                namespace: Some("prod".into()),
                name: name.map(String::from),
                dry_run: false,
                risks: Vec::new(),
            }],
            ..RequestFacts::default()
        }
    }

    #[test]
    fn kubernetes_hold_is_a_forbidden_status_kubectl_prints() {
        let facts = kubernetes_facts("deployments", "apps", Some("web"));
        let mut notice = hold();
        notice.operation = Some(summarize(&facts));
        let reply = render(&notice, &facts, None);
        assert_eq!(reply.status, 403);
        assert_eq!(header(&reply, "content-type"), Some("application/json"));
        assert_eq!(header(&reply, DECISION_HEADER), Some("hold"));
        assert_eq!(header(&reply, APPROVAL_ID_HEADER), Some("apr-7f3a"));
        // client-go retries a 429/5xx with Retry-After on its own: never sent here.
        assert_eq!(header(&reply, "retry-after"), None);
        let status = json_body(&reply);
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["apiVersion"], "v1");
        assert_eq!(status["metadata"], json!({}));
        assert_eq!(status["status"], "Failure");
        assert_eq!(status["reason"], "Forbidden");
        assert_eq!(status["code"], 403);
        assert_eq!(status["details"]["name"], "web");
        assert_eq!(status["details"]["group"], "apps");
        assert_eq!(status["details"]["kind"], "deployments");
        assert_eq!(status["details"]["retryAfterSeconds"], 30);
        assert_eq!(
            status["details"]["causes"],
            json!([{"reason": "WardenHold", "message": "approval id apr-7f3a; rule protect-main"}])
        );
        let message = status["message"].as_str().unwrap();
        assert!(
            message.contains("Kubernetes delete deployments.apps \"web\" in namespace \"prod\""),
            "{message}"
        );
        assert!(
            message.contains("`warden approvals approve apr-7f3a`"),
            "{message}"
        );
        assert!(
            message.contains("retry the same request unchanged"),
            "{message}"
        );
    }

    #[test]
    fn kubernetes_reason_follows_the_status_code() {
        let facts = kubernetes_facts("pods", "", None);
        for (code, reason) in [(409, "Conflict"), (429, "TooManyRequests"), (418, "")] {
            let notice = Notice {
                status: code,
                ..deny()
            };
            let status = json_body(&render(&notice, &facts, None));
            assert_eq!(status["code"], code);
            assert_eq!(status["reason"], reason);
            assert_eq!(status["details"]["causes"][0]["reason"], "WardenDeny");
            // The core group and a collection: no group, no name.
            assert!(status["details"].get("group").is_none());
            assert!(status["details"].get("name").is_none());
            assert!(status["details"].get("retryAfterSeconds").is_none());
        }
    }

    // ---- MCP / JSON-RPC ----

    fn mcp_facts(body: &Value) -> RequestFacts {
        RequestFacts {
            method: "POST".into(),
            mcp: mcp::classify_jsonrpc(body),
            ..RequestFacts::default()
        }
    }

    fn render_mcp(notice: &Notice, body: Value) -> LocalReply {
        let facts = mcp_facts(&body);
        assert!(facts.mcp.is_some());
        render(notice, &facts, Some(body.to_string().as_bytes()))
    }

    #[test]
    fn mcp_tools_call_gets_a_tool_error_result() {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                          "params": {"name": "drop_database", "arguments": {"db": "prod"}}});
        let mut notice = hold();
        notice.operation = Some(summarize(&mcp_facts(&body)));
        let reply = render_mcp(&notice, body);
        assert_eq!(reply.status, 200);
        assert_eq!(header(&reply, "content-type"), Some("application/json"));
        assert_eq!(header(&reply, DECISION_HEADER), Some("hold"));
        assert_eq!(header(&reply, APPROVAL_ID_HEADER), Some("apr-7f3a"));
        let response = json_body(&reply);
        assert_eq!(response["jsonrpc"], "2.0");
        assert_eq!(response["id"], json!(7));
        assert!(response["id"].is_u64(), "numbers stay numbers");
        assert_eq!(response["result"]["isError"], true);
        assert!(response.get("error").is_none());
        let content = &response["result"]["content"];
        assert_eq!(content.as_array().map(Vec::len), Some(1));
        assert_eq!(content[0]["type"], "text");
        let text = content[0]["text"].as_str().unwrap();
        assert!(text.contains("MCP tools/call drop_database"), "{text}");
        assert!(text.contains("apr-7f3a"), "{text}");
        assert!(text.contains("retry the same request unchanged"), "{text}");
    }

    #[test]
    fn mcp_other_methods_get_a_jsonrpc_error() {
        let body = json!({"jsonrpc": "2.0", "id": "r-1", "method": "resources/read",
                          "params": {"uri": "file:///etc/shadow"}});
        let response = json_body(&render_mcp(&deny(), body.clone()));
        assert_eq!(response["id"], json!("r-1"), "strings stay strings");
        assert_eq!(response["error"]["code"], JSONRPC_DENY_CODE);
        assert!(response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Dropping databases is not allowed"));
        assert_eq!(response["error"]["data"]["code"], "denied_by_policy");
        assert_eq!(response["error"]["data"]["rule"], "no-drop");
        assert!(response.get("result").is_none());

        let response = json_body(&render_mcp(&hold(), body));
        assert_eq!(response["error"]["code"], JSONRPC_HOLD_CODE);
        assert_eq!(response["error"]["data"]["approval"]["id"], "apr-7f3a");
    }

    #[test]
    fn mcp_batch_answers_each_request_with_an_id() {
        let body = json!([
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 9, "result": {}},
            {"jsonrpc": "2.0", "id": "b", "method": "tools/call", "params": {"name": "rm"}},
            {"jsonrpc": "2.0", "id": -3, "method": "tools/call", "params": {"name": "ls"}}
        ]);
        let reply = render_mcp(&hold(), body);
        assert_eq!(reply.status, 200);
        let responses = json_body(&reply);
        let responses = responses.as_array().expect("a batch gets an array");
        let ids: Vec<&Value> = responses.iter().map(|r| &r["id"]).collect();
        assert_eq!(ids, [&json!(1), &json!("b"), &json!(-3)]);
        assert_eq!(responses[0]["error"]["code"], JSONRPC_HOLD_CODE);
        assert_eq!(responses[1]["result"]["isError"], true);
        assert_eq!(responses[2]["result"]["isError"], true);
    }

    #[test]
    fn mcp_without_a_request_id_falls_back_to_generic() {
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                  "params": {"requestId": 1}});
        let batch = json!([{"jsonrpc": "2.0", "method": "notifications/initialized"}]);
        for body in [notification, batch] {
            let reply = render_mcp(&deny(), body);
            assert_eq!(reply.status, 403);
            assert_eq!(json_body(&reply)["error"]["code"], "denied_by_policy");
        }
        // No body, or one that does not parse (an encoding Warden could not undo).
        let facts = mcp_facts(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
        for body in [None, Some(&b"\x1f\x8b\x08garbage"[..])] {
            let reply = render(&deny(), &facts, body);
            assert_eq!(reply.status, 403);
            assert_eq!(json_body(&reply)["error"]["code"], "denied_by_policy");
        }
    }

    // ---- git ----

    /// One pkt-line.
    fn pkt(payload: &[u8]) -> Vec<u8> {
        let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
        out.extend_from_slice(payload);
        out
    }

    /// A receive-pack request body updating `refs` with capabilities `caps`.
    fn push_body(refs: &[&str], caps: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, name) in refs.iter().enumerate() {
            let mut line = format!("{OLD} {NEW} {name}").into_bytes();
            if i == 0 {
                line.push(0);
                line.extend_from_slice(caps.as_bytes());
            }
            line.push(b'\n');
            out.extend(pkt(&line));
        }
        out.extend_from_slice(b"0000PACK....");
        out
    }

    fn push_facts(body: &[u8]) -> RequestFacts {
        RequestFacts {
            method: "POST".into(),
            git: Some(GitFacts {
                request: gitc::classify_git_request("POST", "/r.git/git-receive-pack", "")
                    .expect("a push"),
                ref_updates: gitc::parse_receive_pack_commands(body).unwrap_or_default(),
                body_ref: None,
            }),
            ..RequestFacts::default()
        }
    }

    /// Parses pkt-lines: `None` is a flush. Panics on anything else than data or flush.
    fn parse_pkts(mut bytes: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let len = usize::from_str_radix(std::str::from_utf8(&bytes[..4]).unwrap(), 16)
                .expect("hex length");
            if len == 0 {
                out.push(None);
                bytes = &bytes[4..];
                continue;
            }
            assert!((5..=65520).contains(&len), "length {len}");
            out.push(Some(bytes[4..len].to_vec()));
            bytes = &bytes[len..];
        }
        out
    }

    /// Splits a side-band stream into (band 1 bytes, band 2 text, packet lengths);
    /// checks it ends with its one flush.
    fn demux(body: &[u8]) -> (Vec<u8>, String, Vec<usize>) {
        let packets = parse_pkts(body);
        assert_eq!(packets.last(), Some(&None), "ends with a flush");
        let mut band1 = Vec::new();
        let mut band2 = Vec::new();
        let mut lengths = Vec::new();
        for packet in &packets[..packets.len() - 1] {
            let packet = packet.as_ref().expect("only the last packet is a flush");
            lengths.push(packet.len() + 4);
            match packet[0] {
                1 => band1.extend_from_slice(&packet[1..]),
                2 => band2.extend_from_slice(&packet[1..]),
                band => panic!("band {band}"),
            }
        }
        (band1, String::from_utf8(band2).unwrap(), lengths)
    }

    /// The report-status lines (flush-terminated).
    fn report_lines(bytes: &[u8]) -> Vec<String> {
        let packets = parse_pkts(bytes);
        assert_eq!(packets.last(), Some(&None), "report ends with a flush");
        packets[..packets.len() - 1]
            .iter()
            .map(|p| String::from_utf8(p.clone().expect("data")).unwrap())
            .collect()
    }

    #[test]
    fn git_push_hold_with_side_band_64k_and_report_status() {
        let body = push_body(
            &["refs/heads/main", "refs/tags/v1"],
            " report-status side-band-64k quiet agent=git/2.47.3",
        );
        let facts = push_facts(&body);
        let mut notice = hold();
        notice.operation = Some(summarize(&facts));
        let reply = render(&notice, &facts, Some(&body));
        assert_eq!(reply.status, 200);
        assert_eq!(
            header(&reply, "content-type"),
            Some("application/x-git-receive-pack-result")
        );
        assert_eq!(header(&reply, "cache-control"), Some("no-cache"));
        assert_eq!(header(&reply, DECISION_HEADER), Some("hold"));
        assert_eq!(header(&reply, APPROVAL_ID_HEADER), Some("apr-7f3a"));
        let (band1, band2, _) = demux(&reply.body);
        assert!(band2.ends_with('\n'));
        assert!(band2
            .lines()
            .all(|l| l.chars().count() <= SIDEBAND_LINE_WIDTH));
        let flat = band2.replace('\n', " ");
        assert!(flat.contains("git push to /r.git: update refs/heads/main, update refs/tags/v1"));
        assert!(
            flat.contains("`warden approvals approve apr-7f3a`"),
            "{flat}"
        );
        let lines = report_lines(&band1);
        assert_eq!(lines[0], "unpack ok\n");
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("ng refs/heads/main held for approval apr-7f3a"));
        assert!(lines[2].starts_with("ng refs/tags/v1 held for approval apr-7f3a"));
        assert!(lines
            .iter()
            .all(|l| l.ends_with('\n') && l.matches('\n').count() == 1));
    }

    #[test]
    fn git_push_deny_without_side_band_is_a_bare_report() {
        let body = push_body(&["refs/heads/main"], " report-status-v2 agent=git/2.47.3");
        let facts = push_facts(&body);
        let reply = render(&deny(), &facts, Some(&body));
        assert_eq!(reply.status, 200);
        assert_eq!(
            report_lines(&reply.body),
            [
                "unpack ok\n",
                "ng refs/heads/main denied by policy: Dropping databases is not allowed \
                 (rule no-drop)\n"
            ]
        );
    }

    #[test]
    fn git_push_without_report_status_still_gets_the_message() {
        let body = push_body(&["refs/heads/main"], " side-band agent=git/2.47.3");
        let facts = push_facts(&body);
        let mut notice = hold();
        notice.reason = "word ".repeat(400);
        let reply = render(&notice, &facts, Some(&body));
        let (band1, band2, lengths) = demux(&reply.body);
        assert!(band1.is_empty(), "no report-status asked for");
        assert!(band2.contains("apr-7f3a"));
        // The old side-band: packets of at most 1000 bytes.
        assert!(lengths.len() > 1);
        assert!(
            lengths.iter().all(|&l| l <= SIDEBAND_MAX_PACKET),
            "{lengths:?}"
        );

        // Neither: only a flush.
        let body = push_body(&["refs/heads/main"], " agent=git/2.47.3");
        let reply = render(&hold(), &push_facts(&body), Some(&body));
        assert_eq!(reply.body, b"0000");
    }

    #[test]
    fn git_requests_without_read_ref_updates_get_the_generic_shape() {
        // The commands could not be read (no ref updates), or the body is missing.
        let unreadable = b"00ffbroken".to_vec();
        let body = push_body(&["refs/heads/main"], " report-status");
        for (facts, body) in [
            (push_facts(&unreadable), Some(&unreadable[..])),
            (push_facts(&body), None),
        ] {
            let reply = render(&deny(), &facts, body);
            assert_eq!(reply.status, 403);
            assert_eq!(json_body(&reply)["error"]["code"], "denied_by_policy");
        }
        // A fetch is not a push.
        let mut facts = push_facts(&body);
        if let Some(git) = facts.git.as_mut() {
            git.request.service = GitService::UploadPack;
        }
        assert_eq!(render(&deny(), &facts, Some(&body)).status, 403);
    }

    #[test]
    fn summaries_name_the_operation() {
        let body = push_body(
            &[
                "refs/heads/a",
                "refs/heads/b",
                "refs/heads/c",
                "refs/heads/d",
            ],
            " report-status",
        );
        assert_eq!(
            summarize(&push_facts(&body)),
            "git push to /r.git: update refs/heads/a, update refs/heads/b, update \
             refs/heads/c, and 1 more"
        );
        let facts = RequestFacts {
            method: "POST".into(),
            host: "api.test".into(),
            path: "/v1/things".into(),
            ..RequestFacts::default()
        };
        assert_eq!(summarize(&facts), "POST api.test/v1/things");
        let facts = kubernetes_facts("namespaces", "", Some("prod"));
        assert_eq!(summarize(&facts), "Kubernetes delete namespaces \"prod\"");
    }

    #[test]
    fn policy_decisions_become_notices() {
        let decision = PolicyDecision {
            decision: Action::Hold,
            rule: None,
            reason: "needs a human".into(),
            status: 409,
            observed: Vec::new(),
            effects: Default::default(),
            policy_hash: String::new(),
            hold: None,
        };
        let notice = Notice::policy(&decision, "req-9", &RequestFacts::default());
        assert_eq!(notice.decision, NoticeKind::Hold);
        assert_eq!(notice.status, 409);
        assert_eq!(notice.rule, "default");
        assert_eq!(notice.request_id, "req-9");
        assert!(notice.approval.is_none());
        let deny = PolicyDecision {
            decision: Action::Deny,
            ..decision
        };
        assert_eq!(
            Notice::policy(&deny, "r", &RequestFacts::default()).decision,
            NoticeKind::Deny
        );
    }

    // ---- real git ----

    mod real_git {
        use super::*;
        use std::io::{BufRead, BufReader, Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::path::{Path, PathBuf};
        use std::process::{Command, Stdio};
        use std::time::{Duration, Instant};

        /// `git http-backend`, when git and it are installed.
        fn http_backend() -> Option<PathBuf> {
            let out = Command::new("git").arg("--exec-path").output().ok()?;
            let dir = String::from_utf8(out.stdout).ok()?;
            let path = Path::new(dir.trim()).join("git-http-backend");
            path.exists().then_some(path)
        }

        fn git(dir: &Path, args: &[&str]) {
            let status = Command::new("git")
                .args(args)
                .current_dir(dir)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", dir)
                .stdout(Stdio::null())
                .status()
                .expect("git runs");
            assert!(status.success(), "git {args:?}");
        }

        struct Request {
            method: String,
            target: String,
            headers: Vec<(String, String)>,
            body: Vec<u8>,
        }

        fn read_request(stream: &TcpStream) -> Request {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_string();
            let target = parts.next().unwrap_or_default().to_string();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
            let get = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            };
            if get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
                (&*stream)
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                    .unwrap();
            }
            let mut body = Vec::new();
            if let Some(len) = get("content-length") {
                body.resize(len.parse().unwrap(), 0);
                reader.read_exact(&mut body).unwrap();
            } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
                loop {
                    let mut size = String::new();
                    reader.read_line(&mut size).unwrap();
                    let size = usize::from_str_radix(size.trim(), 16).unwrap();
                    let mut chunk = vec![0; size + 2];
                    reader.read_exact(&mut chunk).unwrap();
                    if size == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..size]);
                }
            }
            Request {
                method,
                target,
                headers,
                body,
            }
        }

        fn respond(mut stream: &TcpStream, status: u16, headers: &[(String, String)], body: &[u8]) {
            let mut head = format!("HTTP/1.1 {status} X\r\n");
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str(&format!(
                "content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            ));
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(body).unwrap();
        }

        /// The ref advertisement from `git http-backend`, minus the side-band
        /// capabilities when `side_band` is false.
        fn advertisement(backend: &Path, root: &Path, side_band: bool) -> Vec<u8> {
            let out = Command::new(backend)
                .env_clear()
                .env("GIT_PROJECT_ROOT", root)
                .env("GIT_HTTP_EXPORT_ALL", "1")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", root)
                .env("REQUEST_METHOD", "GET")
                .env("PATH_INFO", "/repo.git/info/refs")
                .env("QUERY_STRING", "service=git-receive-pack")
                .output()
                .expect("http-backend runs");
            let split = out
                .stdout
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("CGI headers");
            let body = out.stdout[split + 4..].to_vec();
            if side_band {
                return body;
            }
            let mut rewritten = Vec::new();
            for packet in parse_pkts(&body) {
                match packet {
                    None => rewritten.extend_from_slice(b"0000"),
                    Some(payload) => {
                        let text = String::from_utf8(payload).unwrap();
                        let text = text
                            .split(' ')
                            .filter(|w| !w.trim_end().starts_with("side-band"))
                            .collect::<Vec<_>>()
                            .join(" ");
                        rewritten.extend(pkt(text.as_bytes()));
                    }
                }
            }
            rewritten
        }

        /// Serves `GET info/refs` from http-backend and answers the push with
        /// [`render`]; returns the port and the push request body received.
        fn serve(
            backend: PathBuf,
            root: PathBuf,
            side_band: bool,
            notice: Notice,
        ) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let handle = std::thread::spawn(move || loop {
                let (stream, _) = listener.accept().unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                let request = read_request(&stream);
                if request.method == "GET" {
                    assert!(request.target.contains("service=git-receive-pack"));
                    let body = advertisement(&backend, &root, side_band);
                    let headers = [(
                        "content-type".to_string(),
                        "application/x-git-receive-pack-advertisement".to_string(),
                    )];
                    respond(&stream, 200, &headers, &body);
                    continue;
                }
                assert!(request.target.ends_with("/git-receive-pack"));
                let mut headers = crate::http::Headers::new();
                for (name, value) in &request.headers {
                    headers.push(name.clone(), value.clone().into_bytes());
                }
                let body = crate::classify::decoded_body(&headers, &request.body, 1 << 20)
                    .expect("decodable")
                    .into_owned();
                let mut facts = push_facts(&body);
                if let Some(git) = facts.git.as_mut() {
                    git.request = gitc::classify_git_request(
                        "POST",
                        request.target.split('?').next().unwrap_or_default(),
                        "",
                    )
                    .expect("a push");
                }
                let mut notice = notice.clone();
                notice.operation = Some(summarize(&facts));
                let reply = render(&notice, &facts, Some(&body));
                respond(&stream, reply.status, &reply.headers, &reply.body);
                return body;
            });
            (port, handle)
        }

        /// Runs `git push` to the server; returns (success, stderr).
        fn push(work: &Path, port: u16) -> (bool, String) {
            let mut child = Command::new("git")
                .args(["push", &format!("http://127.0.0.1:{port}/repo.git"), "main"])
                .current_dir(work)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", work)
                .env("GIT_TERMINAL_PROMPT", "0")
                .env("LC_ALL", "C")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("git push did not finish");
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            (status.success(), stderr)
        }

        /// A bare `repo.git` accepting pushes over HTTP and a work tree with one commit.
        fn repositories() -> (tempfile::TempDir, PathBuf) {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_path_buf();
            git(&root, &["init", "-q", "--bare", "repo.git"]);
            git(
                &root.join("repo.git"),
                &["config", "http.receivepack", "true"],
            );
            git(&root, &["init", "-q", "-b", "main", "work"]);
            let work = root.join("work");
            std::fs::write(work.join("a.txt"), "hello\n").unwrap();
            git(&work, &["add", "a.txt"]);
            git(
                &work,
                &[
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@example.test",
                    "commit",
                    "-q",
                    "-m",
                    "one",
                ],
            );
            (dir, work)
        }

        #[test]
        fn real_git_push_prints_the_hold_and_the_rejected_ref() {
            let backend = http_backend().expect(
                "git http-backend is needed by this test: install git (apt-get install git)",
            );
            let (dir, work) = repositories();
            let (port, server) = serve(backend, dir.path().to_path_buf(), true, hold());
            let (ok, stderr) = push(&work, port);
            let request = server.join().expect("server");
            eprintln!("--- git push stderr ---\n{stderr}");
            let caps = gitc::receive_pack_capabilities(&request);
            assert!(caps.iter().any(|c| c == "side-band-64k"), "{caps:?}");
            assert!(
                caps.iter().any(|c| c.starts_with("report-status")),
                "{caps:?}"
            );
            assert!(!ok, "the push must fail");
            assert!(
                stderr.contains("remote: Warden held this request (git push to /repo.git: create refs/heads/main)"),
                "{stderr}"
            );
            assert!(
                stderr
                    .lines()
                    .any(|l| l.starts_with("remote: ") && l.contains("apr-7f3a")),
                "{stderr}"
            );
            assert!(
                stderr.contains(" ! [remote rejected] main -> main (held for approval apr-7f3a;"),
                "{stderr}"
            );
        }

        #[test]
        fn real_git_push_without_side_band_prints_the_denial() {
            let backend = http_backend().expect(
                "git http-backend is needed by this test: install git (apt-get install git)",
            );
            let (dir, work) = repositories();
            let (port, server) = serve(backend, dir.path().to_path_buf(), false, deny());
            let (ok, stderr) = push(&work, port);
            let request = server.join().expect("server");
            eprintln!("--- git push stderr ---\n{stderr}");
            let caps = gitc::receive_pack_capabilities(&request);
            assert!(!caps.iter().any(|c| c.starts_with("side-band")), "{caps:?}");
            assert!(!ok, "the push must fail");
            assert!(!stderr.contains("remote: "), "{stderr}");
            assert!(
                stderr.contains(
                    " ! [remote rejected] main -> main (denied by policy: Dropping databases \
                     is not allowed (rule no-drop))"
                ),
                "{stderr}"
            );
        }
    }
}
