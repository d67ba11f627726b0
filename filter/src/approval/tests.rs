use super::*;

fn rules(required: u32, justification: bool) -> ApprovalRules {
    ApprovalRules {
        approver_groups: vec!["sre".into(), "dba".into()],
        required,
        justification_required: justification,
        pending_seconds: 600,
        use_within_seconds: 60,
        wait_seconds: None,
        bind_headers: Vec::new(),
    }
}

fn held(scope: Scope, rules: ApprovalRules) -> Approval {
    let hold = NewHold {
        requester: Requester {
            subject: "agent-7".into(),
            issuer: "https://idp".into(),
            groups: vec!["agents".into(), "sre".into()],
            kind: "agent".into(),
            acting_for: Vec::new(),
        },
        operation: Operation {
            method: "DELETE".into(),
            host: "api".into(),
            path: "/x".into(),
            summary: "DELETE api/x".into(),
            fingerprint: Fingerprint("sha256:aa".into()),
        },
        scope,
        rule: "hold-deletes".into(),
        reason: "deletes need a human".into(),
        policy_hash: "sha256:p".into(),
        rules,
        request_id: "req-1".into(),
    };
    Approval::open(hold, ApprovalId("apr-1".into()), Timestamp(1_000_000))
}

fn approver(subject: &str, groups: &[&str]) -> Approver {
    Approver {
        subject: subject.into(),
        issuer: "https://idp".into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

const T0: Timestamp = Timestamp(1_000_000);

fn at(seconds: u64) -> Timestamp {
    T0.plus_seconds(seconds)
}

#[test]
fn one_approval_lets_the_same_operation_pass_once_within_its_window() {
    let mut a = held(Scope::Operation, rules(1, false));
    let fp = a.operation.fingerprint.clone();
    assert_eq!(a.status, Status::Pending);
    assert!(!a.covers("agent-7", &fp, at(1)), "pending covers nothing");
    a.vote(&approver("alice", &["sre"]), Verdict::Approve, None, at(10))
        .unwrap();
    assert_eq!(a.status, Status::Approved);
    assert_eq!(a.valid_until, Some(at(70)));
    assert!(!a.take("agent-8", &fp, "req-2", at(11)), "another identity");
    assert!(
        !a.take("agent-7", &Fingerprint("sha256:bb".into()), "req-2", at(11)),
        "another operation"
    );
    assert!(a.take("agent-7", &fp, "req-2", at(11)));
    assert_eq!(a.status, Status::Used);
    assert_eq!(
        a.used.as_ref().map(|u| u.request_id.as_str()),
        Some("req-2")
    );
    assert!(!a.take("agent-7", &fp, "req-3", at(12)), "second use");
}

#[test]
fn an_approval_not_used_in_time_expires() {
    let mut a = held(Scope::Operation, rules(1, false));
    let fp = a.operation.fingerprint.clone();
    a.vote(&approver("alice", &["sre"]), Verdict::Approve, None, at(10))
        .unwrap();
    assert!(
        !a.take("agent-7", &fp, "req-2", at(70)),
        "valid_until is exclusive"
    );
    assert!(a.expire(at(70)));
    assert_eq!(a.status, Status::Expired);
}

#[test]
fn pending_requests_expire_and_can_no_longer_be_decided() {
    let mut a = held(Scope::Operation, rules(1, false));
    assert!(!a.expire(at(599)));
    let err = a
        .vote(
            &approver("alice", &["sre"]),
            Verdict::Approve,
            None,
            at(600),
        )
        .unwrap_err();
    assert_eq!(err, ApprovalError::Expired(ApprovalId("apr-1".into())));
    assert_eq!(a.status, Status::Expired);
    assert!(a.votes.is_empty());
}

#[test]
fn the_requester_can_never_approve_their_own_request() {
    // agent-7 is in an approver group itself: still refused.
    let mut a = held(Scope::Operation, rules(1, false));
    let err = a
        .vote(
            &approver("agent-7", &["sre"]),
            Verdict::Approve,
            None,
            at(1),
        )
        .unwrap_err();
    assert!(matches!(err, ApprovalError::SelfApproval { .. }), "{err}");
    // Also with another issuer's token for the same subject.
    let mut other_issuer = approver("agent-7", &["sre"]);
    other_issuer.issuer = "spiffe://mesh".into();
    assert!(a
        .vote(&other_issuer, Verdict::Approve, None, at(1))
        .is_err());
    assert_eq!(a.status, Status::Pending);
    assert!(a.votes.is_empty());
}

#[test]
fn only_approver_groups_decide_and_justification_can_be_required() {
    let mut a = held(Scope::Operation, rules(1, true));
    let err = a
        .vote(
            &approver("mallory", &["dev"]),
            Verdict::Approve,
            None,
            at(1),
        )
        .unwrap_err();
    assert!(matches!(err, ApprovalError::NotAnApprover { .. }), "{err}");
    assert!(err.to_string().contains("sre, dba"), "{err}");
    let err = a
        .vote(
            &approver("alice", &["sre"]),
            Verdict::Approve,
            Some("  "),
            at(1),
        )
        .unwrap_err();
    assert_eq!(
        err,
        ApprovalError::JustificationRequired(ApprovalId("apr-1".into()))
    );
    a.vote(
        &approver("alice", &["sre"]),
        Verdict::Approve,
        Some("ticket OPS-12"),
        at(1),
    )
    .unwrap();
    assert_eq!(a.votes[0].justification.as_deref(), Some("ticket OPS-12"));
    assert_eq!(a.status, Status::Approved);
}

#[test]
fn n_of_m_needs_distinct_approvers_and_one_denial_decides() {
    let mut a = held(Scope::Operation, rules(2, false));
    a.vote(&approver("alice", &["sre"]), Verdict::Approve, None, at(1))
        .unwrap();
    assert_eq!(a.status, Status::Pending);
    let err = a
        .vote(&approver("alice", &["sre"]), Verdict::Approve, None, at(2))
        .unwrap_err();
    assert!(
        matches!(err, ApprovalError::AlreadyVoted { needed: 1, .. }),
        "{err}"
    );
    a.vote(&approver("bob", &["dba"]), Verdict::Approve, None, at(3))
        .unwrap();
    assert_eq!(a.status, Status::Approved);
    assert_eq!(a.approvals(), 2);

    let mut b = held(Scope::Operation, rules(2, false));
    b.vote(&approver("alice", &["sre"]), Verdict::Approve, None, at(1))
        .unwrap();
    b.vote(
        &approver("bob", &["dba"]),
        Verdict::Deny,
        Some("not now"),
        at(2),
    )
    .unwrap();
    assert_eq!(b.status, Status::Denied);
    assert_eq!(b.decided_at, Some(at(2)));
    let err = b
        .vote(&approver("carol", &["sre"]), Verdict::Approve, None, at(3))
        .unwrap_err();
    assert!(matches!(
        err,
        ApprovalError::NotPending {
            status: "denied",
            ..
        }
    ));
}

#[test]
fn a_grant_covers_its_scope_until_it_ends_or_is_revoked() {
    let scope = Scope::Grant {
        scope: "prod-db".into(),
        duration_seconds: 1800,
    };
    let mut a = held(scope, rules(1, false));
    assert!(!a.grants("agent-7", "prod-db", at(1)));
    a.vote(&approver("alice", &["sre"]), Verdict::Approve, None, at(10))
        .unwrap();
    assert!(a.grants("agent-7", "prod-db", at(11)));
    assert!(a.grants("agent-7", "prod-db", at(1809)));
    assert!(!a.grants("agent-7", "prod-db", at(1810)), "ended");
    assert!(!a.grants("agent-8", "prod-db", at(11)), "another identity");
    assert!(!a.grants("agent-7", "other", at(11)), "another scope");
    let fp = a.operation.fingerprint.clone();
    assert!(
        !a.take("agent-7", &fp, "r", at(11)),
        "a grant is not a single use"
    );

    let err = a
        .revoke(&approver("mallory", &["dev"]), None, at(20))
        .unwrap_err();
    assert!(matches!(err, ApprovalError::NotAnApprover { .. }));
    a.revoke(&approver("bob", &["sre"]), Some("done"), at(20))
        .unwrap();
    assert_eq!(a.status, Status::Revoked);
    assert!(!a.grants("agent-7", "prod-db", at(21)));
    assert!(matches!(
        a.revoke(&approver("bob", &["sre"]), None, at(22)),
        Err(ApprovalError::NotRevocable { .. })
    ));
}

#[test]
fn approvals_round_trip_through_json() {
    let mut a = held(Scope::Operation, rules(1, false));
    a.vote(
        &approver("alice", &["sre"]),
        Verdict::Approve,
        Some("ok"),
        at(1),
    )
    .unwrap();
    let text = serde_json::to_string(&a).unwrap();
    let back: Approval = serde_json::from_str(&text).unwrap();
    assert_eq!(back, a);
    assert!(text.contains("\"status\":\"approved\""), "{text}");
}

mod fingerprints {
    use crate::approval::fingerprint::fingerprint;
    use crate::classify::{self, SqlSettings};
    use crate::http::RequestHead;

    fn facts(
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> classify::RequestFacts {
        let mut list = vec![
            (":method", method.as_bytes()),
            (":path", path.as_bytes()),
            (":authority", b"api.example".as_slice()),
            (":scheme", b"http".as_slice()),
        ];
        list.extend(headers.iter().map(|(k, v)| (*k, v.as_bytes())));
        let head = RequestHead::from_header_list(list);
        let mut facts = classify::classify_head(&head, None, &SqlSettings::default());
        if !body.is_empty() {
            classify::classify_received_body(
                &mut facts,
                &head.headers,
                body,
                1 << 20,
                &SqlSettings::default(),
            );
        }
        facts
    }

    #[test]
    fn the_same_operation_has_the_same_fingerprint() {
        let a = facts("DELETE", "/v1/items/7", &[("x-trace", "1")], b"");
        let b = facts("DELETE", "/v1//items/./7", &[("x-trace", "2")], b"");
        assert_eq!(fingerprint(&a, None, &[]), fingerprint(&b, None, &[]));
        let c = facts("DELETE", "/v1/items/8", &[], b"");
        assert_ne!(fingerprint(&a, None, &[]), fingerprint(&c, None, &[]));
        let d = facts(
            "POST",
            "/v1/items/7",
            &[("x-http-method-override", "DELETE")],
            b"",
        );
        assert_ne!(fingerprint(&a, None, &[]), fingerprint(&d, None, &[]));
    }

    #[test]
    fn bodies_count_byte_for_byte() {
        let json = [("content-type", "application/json")];
        let a = facts("POST", "/sql", &json, br#"{"sql":"DROP TABLE a"}"#);
        let b = facts("POST", "/sql", &json, br#"{"sql":"DROP TABLE b"}"#);
        assert_ne!(
            fingerprint(&a, Some(br#"{"sql":"DROP TABLE a"}"#), &[]),
            fingerprint(&b, Some(br#"{"sql":"DROP TABLE b"}"#), &[])
        );
        assert_ne!(
            fingerprint(&a, Some(br#"{"sql":"DROP TABLE a"}"#), &[]),
            fingerprint(&a, Some(br#"{"sql":"DROP TABLE a" }"#), &[]),
            "a non-JSON-RPC body is compared byte for byte"
        );
    }

    #[test]
    fn json_rpc_retries_match_whatever_their_request_ids() {
        let json = [("content-type", "application/json")];
        let first = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","arguments":{"repo":"x"},"_meta":{"progressToken":1}}}"#;
        let retry = br#"{"jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"repo":"x"},"name":"delete_repo","_meta":{"progressToken":9}},"id":"b7"}"#;
        let other = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","arguments":{"repo":"y"}}}"#;
        let fp = |body: &[u8]| fingerprint(&facts("POST", "/mcp", &json, body), Some(body), &[]);
        assert_eq!(fp(first), fp(retry));
        assert_ne!(fp(first), fp(other));
    }

    fn at(authority: &str, scheme: &str) -> classify::RequestFacts {
        let head = RequestHead::from_header_list([
            (":method", b"DELETE".as_slice()),
            (":path", b"/v1/items/7"),
            (":authority", authority.as_bytes()),
            (":scheme", scheme.as_bytes()),
        ]);
        classify::classify_head(&head, None, &SqlSettings::default())
    }

    #[test]
    fn the_port_is_part_of_the_operation_unless_it_is_the_default() {
        let fp = |f: &classify::RequestFacts| fingerprint(f, None, &[]);
        assert_ne!(
            fp(&at("api.example:10000", "http")),
            fp(&at("api.example:10001", "http"))
        );
        assert_ne!(
            fp(&at("api.example:10000", "http")),
            fp(&at("api.example", "http"))
        );
        assert_eq!(
            fp(&at("api.example:80", "http")),
            fp(&at("API.example", "http"))
        );
        assert_eq!(
            fp(&at("api.example:443", "https")),
            fp(&at("api.example", "https"))
        );
        assert_ne!(
            fp(&at("api.example:443", "http")),
            fp(&at("api.example", "http"))
        );
        assert_ne!(fp(&at("[::1]:8080", "http")), fp(&at("[::1]:8081", "http")));
        assert_eq!(fp(&at("[::1]", "http")), fp(&at("[::1]:80", "http")));
    }

    #[test]
    fn bound_headers_are_part_of_the_operation_in_any_spelling() {
        let bound: Vec<String> = crate::approval::DEFAULT_BOUND_HEADERS
            .iter()
            .map(|h| h.to_string())
            .chain(["x-acme-*".to_string()])
            .collect();
        let fp = |headers: &[(&str, &str)]| {
            fingerprint(&facts("POST", "/query", headers, b""), None, &bound)
        };
        let staging = fp(&[("x-database", "staging")]);
        assert_eq!(
            staging,
            fp(&[("x-database", " staging "), ("x-trace", "9")])
        );
        assert_ne!(staging, fp(&[("x-database", "prod")]));
        assert_ne!(staging, fp(&[("x_database", "prod")]));
        assert_ne!(
            staging,
            fp(&[]),
            "dropping a bound header changes the operation"
        );
        assert_ne!(
            staging,
            fp(&[("x-database", "staging"), ("x-clickhouse-database", "prod")])
        );
        assert_ne!(fp(&[]), fp(&[("impersonate-user", "admin")]));
        assert_ne!(fp(&[]), fp(&[("x-tenant-id", "7")]));
        assert_ne!(
            fp(&[]),
            fp(&[("x-acme-region", "eu")]),
            "a policy's own pattern"
        );
        assert_eq!(
            fp(&[]),
            fp(&[("x-request-id", "1")]),
            "other headers do not count"
        );
    }
}
