//! The auditor's summary of an evidence bundle: what the records show, mapped to the
//! SOC 2 criteria they are evidence for. Pure: records, approvals, policy versions and
//! the chain's verification in, a structured summary (and its Markdown) out.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::approval::{Approval, Verdict};
use crate::audit::AuditRecord;

/// What the chain verification of the bundle found, as the summary quotes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// True when every record, link and signature checked out.
    pub intact: bool,
    /// One line: what was checked, or the first broken record.
    pub message: String,
    /// Signed checkpoints in the bundle.
    pub checkpoints: u64,
    /// Fingerprints of the keys that signed them.
    pub key_ids: Vec<String>,
}

/// One policy version seen in the period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyUse {
    /// `sha256:…`.
    pub hash: String,
    /// Exchanges it decided.
    pub decisions: u64,
    /// First and last decision it made in the period.
    pub first_used: String,
    /// Last decision.
    pub last_used: String,
    /// True when the bundle holds its content (`policies/`).
    pub content_included: bool,
}

/// One approval, as the summary lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalLine {
    /// `apr-…`.
    pub id: String,
    /// The hold rule.
    pub rule: String,
    /// Who asked.
    pub requested_by: String,
    /// Who approved.
    pub approved_by: Vec<String>,
    /// Who denied.
    pub denied_by: Vec<String>,
    /// Final status.
    pub status: String,
    /// Requests that passed under it.
    pub used_by_request: Option<String>,
}

/// The summary of one evidence bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Period start (RFC 3339).
    pub since: String,
    /// Period end.
    pub until: String,
    /// Records in the period.
    pub records: u64,
    /// Instances whose chains they come from.
    pub instances: Vec<String>,
    /// Exchanges per outcome (allow, deny, hold, error, incomplete).
    pub outcomes: BTreeMap<String, u64>,
    /// Exchanges per identity subject (`anonymous` for none).
    pub identities: BTreeMap<String, u64>,
    /// Denials per rule.
    pub denials_by_rule: BTreeMap<String, u64>,
    /// Holds per rule.
    pub holds_by_rule: BTreeMap<String, u64>,
    /// Approvals referenced in the period.
    pub approvals: Vec<ApprovalLine>,
    /// Approvals an approver decided for their own request (must be empty).
    pub self_approvals: Vec<String>,
    /// Masking findings per rule, both directions.
    pub masking_by_rule: BTreeMap<String, u64>,
    /// Exchanges whose body passed unread (binary, `pass` policy).
    pub passed_unread: u64,
    /// Policy versions that decided exchanges.
    pub policies: Vec<PolicyUse>,
    /// The chain check.
    pub chain: ChainStatus,
}

impl Summary {
    /// Summarises the period's records and approvals.
    pub fn build(
        since: &str,
        until: &str,
        records: &[AuditRecord],
        instances: &[String],
        approvals: &[Approval],
        policy_contents: &BTreeSet<String>,
        chain: ChainStatus,
    ) -> Summary {
        let mut outcomes = BTreeMap::new();
        let mut identities = BTreeMap::new();
        let mut denials_by_rule = BTreeMap::new();
        let mut holds_by_rule = BTreeMap::new();
        let mut masking_by_rule = BTreeMap::new();
        let mut passed_unread = 0;
        let mut policies: BTreeMap<String, PolicyUse> = BTreeMap::new();
        for record in records {
            *outcomes.entry(record.decision.outcome.clone()).or_insert(0) += 1;
            let who = record
                .identity
                .as_ref()
                .map_or_else(|| "anonymous".to_string(), |i| i.subject.clone());
            *identities.entry(who).or_insert(0) += 1;
            let rule = record
                .decision
                .rule
                .clone()
                .unwrap_or_else(|| "(default)".into());
            match record.decision.outcome.as_str() {
                "deny" => *denials_by_rule.entry(rule).or_insert(0) += 1,
                "hold" => *holds_by_rule.entry(rule).or_insert(0) += 1,
                _ => {}
            }
            for (rule, count) in record
                .masking
                .request
                .iter()
                .chain(record.masking.response.iter())
            {
                *masking_by_rule.entry(rule.clone()).or_insert(0) += count;
            }
            if !record.masking.passed_unread.is_empty() {
                passed_unread += 1;
            }
            if !record.decision.policy_hash.is_empty() {
                let hash = record.decision.policy_hash.clone();
                let entry = policies.entry(hash.clone()).or_insert_with(|| PolicyUse {
                    content_included: policy_contents.contains(&hash),
                    hash,
                    decisions: 0,
                    first_used: record.started_at.clone(),
                    last_used: record.started_at.clone(),
                });
                entry.decisions += 1;
                if record.started_at < entry.first_used {
                    entry.first_used = record.started_at.clone();
                }
                if record.started_at > entry.last_used {
                    entry.last_used = record.started_at.clone();
                }
            }
        }
        let mut self_approvals = Vec::new();
        let approvals = approvals
            .iter()
            .map(|a| {
                let by = |verdict: Verdict| -> Vec<String> {
                    a.votes
                        .iter()
                        .filter(|v| v.verdict == verdict)
                        .map(|v| v.by.subject.clone())
                        .collect()
                };
                let approved_by = by(Verdict::Approve);
                let denied_by = by(Verdict::Deny);
                if approved_by
                    .iter()
                    .chain(&denied_by)
                    .any(|s| *s == a.requester.subject)
                {
                    self_approvals.push(a.id.to_string());
                }
                ApprovalLine {
                    id: a.id.to_string(),
                    rule: a.rule.clone(),
                    requested_by: a.requester.subject.clone(),
                    approved_by,
                    denied_by,
                    status: a.status.name().to_string(),
                    used_by_request: a.used.as_ref().map(|u| u.request_id.clone()),
                }
            })
            .collect();
        Summary {
            since: since.to_string(),
            until: until.to_string(),
            records: records.len() as u64,
            instances: instances.to_vec(),
            outcomes,
            identities,
            denials_by_rule,
            holds_by_rule,
            approvals,
            self_approvals,
            masking_by_rule,
            passed_unread,
            policies: policies.into_values().collect(),
            chain,
        }
    }

    /// The summary as Markdown, section per SOC 2 criterion.
    pub fn to_markdown(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let count = |map: &BTreeMap<String, u64>| -> String {
            if map.is_empty() {
                return "none".into();
            }
            map.iter()
                .map(|(k, v)| format!("`{k}` {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(out, "# Warden evidence: {} to {}\n", self.since, self.until);
        let _ = writeln!(
            out,
            "{} exchanges recorded by {} ({}). Audit chain: **{}** — {}\n",
            self.records,
            if self.instances.len() == 1 {
                "one Warden instance".to_string()
            } else {
                format!("{} Warden instances", self.instances.len())
            },
            self.instances.join(", "),
            if self.chain.intact {
                "intact"
            } else {
                "BROKEN"
            },
            self.chain.message
        );
        let anonymous = self.identities.get("anonymous").copied().unwrap_or(0);
        let _ = writeln!(out, "## CC6.1 — Logical access\n");
        let _ = writeln!(
            out,
            "- Every exchange is tied to the identity that made it: {} named identities; \
             exchanges without a verified identity: {anonymous}.",
            self.identities.len() - usize::from(anonymous > 0)
        );
        let _ = writeln!(
            out,
            "- Exchanges per identity: {}.",
            count(&self.identities)
        );
        let _ = writeln!(out, "- Outcomes: {}.\n", count(&self.outcomes));
        let _ = writeln!(out, "## CC6.3 — Least privilege and approvals\n");
        let _ = writeln!(
            out,
            "- Denied by policy, per rule: {}.",
            count(&self.denials_by_rule)
        );
        let _ = writeln!(
            out,
            "- Held for a human's approval, per rule: {}.",
            count(&self.holds_by_rule)
        );
        let _ = writeln!(
            out,
            "- Approvals referenced: {}. Requesters who decided their own request: {}.",
            self.approvals.len(),
            if self.self_approvals.is_empty() {
                "none (Warden refuses it)".to_string()
            } else {
                self.self_approvals.join(", ")
            }
        );
        if !self.approvals.is_empty() {
            let _ = writeln!(
                out,
                "\n| approval | rule | requested by | approved by | denied by | status | used by request |\n|---|---|---|---|---|---|---|"
            );
            for a in &self.approvals {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    a.id,
                    a.rule,
                    a.requested_by,
                    a.approved_by.join(", "),
                    a.denied_by.join(", "),
                    a.status,
                    a.used_by_request.as_deref().unwrap_or("")
                );
            }
        }
        let _ = writeln!(out, "\n## CC7.2 — Monitoring\n");
        let _ = writeln!(
            out,
            "- Every exchange is in a hash chain with signed checkpoints ({} in the bundle, keys {}); `warden evidence verify` re-checks it offline.",
            self.chain.checkpoints,
            if self.chain.key_ids.is_empty() {
                "none".to_string()
            } else {
                self.chain.key_ids.join(", ")
            }
        );
        let _ = writeln!(
            out,
            "- Secrets and personal data masked, per rule (counts, never values): {}.",
            count(&self.masking_by_rule)
        );
        let _ = writeln!(
            out,
            "- Binary bodies passed unread under the `pass` policy: {}.",
            self.passed_unread
        );
        let _ = writeln!(
            out,
            "- Refused because Warden could not decide safely (fail closed): {}.\n",
            self.outcomes.get("error").copied().unwrap_or(0)
        );
        let _ = writeln!(out, "## CC8.1 — Change management\n");
        let _ = writeln!(
            out,
            "Policy versions that made decisions in the period (content in `policies/`, named by hash):\n"
        );
        let _ = writeln!(
            out,
            "| policy | decisions | first | last | content |\n|---|---|---|---|---|"
        );
        for p in &self.policies {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                p.hash,
                p.decisions,
                p.first_used,
                p.last_used,
                if p.content_included {
                    "included"
                } else {
                    "MISSING"
                }
            );
        }
        out
    }
}
