//! A held request, as the pipeline hands it to the approval gate.

use crate::classify::RequestFacts;
use crate::identity::Identity;
use crate::policy::{HoldSpec, PolicyDecision};

use super::{fingerprint, NewHold, Operation, Requester, Scope};

/// Header a client may send to name the approval its retry uses.
pub const APPROVAL_HEADER: &str = "x-warden-approval";

/// Everything the gate needs to decide whether a held request passes: the policy's
/// decision, the approval it would open, and what the reply must quote.
#[derive(Clone, Debug, PartialEq)]
pub struct HoldCheck {
    /// The policy decision (a `hold`).
    pub decision: PolicyDecision,
    /// How it is decided.
    pub spec: HoldSpec,
    /// The approval to open (or find) for it.
    pub hold: NewHold,
    /// The approval id the client quoted in `x-warden-approval`, if any.
    pub quoted_approval: Option<String>,
    /// The request's facts (the reply's shape depends on the protocol).
    pub facts: RequestFacts,
    /// The request body as read for the decision (JSON-RPC replies echo its ids).
    pub body: Option<Vec<u8>>,
}

impl HoldCheck {
    /// The check for a request the policy held. `body` is the request body as
    /// received when it was read (decoded), `None` when the request had none.
    pub fn new(
        decision: &PolicyDecision,
        facts: &RequestFacts,
        identity: Option<&Identity>,
        body: Option<&[u8]>,
        request_id: &str,
    ) -> HoldCheck {
        let spec = decision.hold.clone().unwrap_or_else(|| HoldSpec {
            rules: Default::default(),
            scope: decision.rule.clone().unwrap_or_else(|| "default".into()),
            grant_seconds: None,
        });
        let requester = match identity {
            Some(identity) => Requester {
                subject: identity.subject.clone(),
                issuer: identity.issuer.clone(),
                groups: identity.groups.clone(),
                kind: identity.kind.name().to_string(),
                acting_for: identity.acting_for.clone(),
            },
            None => Requester {
                subject: "anonymous".into(),
                issuer: String::new(),
                groups: Vec::new(),
                kind: String::new(),
                acting_for: Vec::new(),
            },
        };
        let scope = match spec.grant_seconds {
            Some(duration_seconds) => Scope::Grant {
                scope: spec.scope.clone(),
                duration_seconds,
            },
            None => Scope::Operation,
        };
        let operation = Operation {
            method: facts.methods().last().unwrap_or("").to_string(),
            host: facts.host.clone(),
            path: facts.path.clone(),
            summary: crate::pipeline::reply::summarize(facts),
            fingerprint: fingerprint::fingerprint(facts, body, &spec.rules.bind_headers),
        };
        let quoted_approval = facts
            .headers
            .get_str(APPROVAL_HEADER)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        HoldCheck {
            hold: NewHold {
                requester,
                operation,
                scope,
                rule: decision.rule.clone().unwrap_or_else(|| "default".into()),
                reason: decision.reason.clone(),
                policy_hash: decision.policy_hash.clone(),
                rules: spec.rules.clone(),
                request_id: request_id.to_string(),
            },
            spec,
            decision: decision.clone(),
            quoted_approval,
            facts: facts.clone(),
            body: body.map(<[u8]>::to_vec),
        }
    }
}
