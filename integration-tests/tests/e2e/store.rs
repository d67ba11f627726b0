//! The approval store's contract, run against SQLite (in memory and in a file that is
//! reopened) and against a throwaway PostgreSQL 15 server, plus what only several
//! replicas can show: decisions, change notifications and single use across two
//! stores (two connection pools) on one database.
//!
//! The PostgreSQL tests need the PostgreSQL 15 server binaries and fail (with how to
//! install them) when they are missing; see `warden_integration_tests::postgres`.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::broadcast::Receiver;
use warden::approval::{
    Approval, ApprovalError, ApprovalId, ApprovalRules, Approver, Fingerprint, NewHold, Operation,
    Requester, Scope, Status, Timestamp, Verdict,
};
use warden::store::{ApprovalStore, Change, ListFilter, StoreError};
use warden_integration_tests::postgres::Postgres;

/// 2026-11-30T00:53:20Z: the contract's clock. Nothing here reads the real one.
const T0: Timestamp = Timestamp(1_796_000_000_000);

/// How long a test waits for a change another replica announced (arrival is awaited,
/// not slept for; this only bounds a failure).
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(20);

fn at(seconds: u64) -> Timestamp {
    T0.plus_seconds(seconds)
}

fn fp(name: &str) -> Fingerprint {
    Fingerprint(format!("sha256:{name}"))
}

fn rules(required: u32) -> ApprovalRules {
    ApprovalRules {
        approver_groups: vec!["approvers".into()],
        required,
        justification_required: false,
        pending_seconds: 3600,
        use_within_seconds: 900,
        wait_seconds: None,
        bind_headers: Vec::new(),
    }
}

fn hold(subject: &str, fingerprint: &str) -> NewHold {
    NewHold {
        requester: Requester {
            subject: subject.into(),
            issuer: "https://idp.example".into(),
            groups: vec!["agents".into()],
            kind: "agent".into(),
            acting_for: Vec::new(),
        },
        operation: Operation {
            method: "DELETE".into(),
            host: "kubernetes.default.svc".into(),
            path: format!("/api/v1/namespaces/prod/pods/{fingerprint}"),
            summary: format!("kubernetes delete pods/{fingerprint} in prod"),
            fingerprint: fp(fingerprint),
        },
        scope: Scope::Operation,
        rule: "prod-deletes".into(),
        reason: "deleting in prod needs a human".into(),
        policy_hash: "sha256:policy".into(),
        rules: rules(1),
        request_id: format!("req-{subject}-{fingerprint}"),
    }
}

fn grant_hold(subject: &str, scope: &str, duration_seconds: u64) -> NewHold {
    NewHold {
        scope: Scope::Grant {
            scope: scope.into(),
            duration_seconds,
        },
        ..hold(subject, &format!("grant-{scope}"))
    }
}

fn approver(subject: &str) -> Approver {
    Approver {
        subject: subject.into(),
        issuer: "https://idp.example".into(),
        groups: vec!["approvers".into()],
    }
}

/// Votes through the store; panics unless the vote was accepted.
async fn vote(
    store: &ApprovalStore,
    id: &ApprovalId,
    by: &str,
    verdict: Verdict,
    now: Timestamp,
) -> Approval {
    store
        .update(id, |a| {
            a.vote(&approver(by), verdict, None, now)
                .map(|()| a.clone())
        })
        .await
        .expect("store")
        .unwrap_or_else(|e| panic!("{by}'s vote on {id} refused: {e}"))
}

async fn open(store: &ApprovalStore, hold: NewHold, now: Timestamp) -> Approval {
    let (approval, created) = store.open_hold(hold, now).await.expect("open_hold");
    assert!(
        created,
        "expected a new approval, got the pending {}",
        approval.id
    );
    approval
}

async fn get(store: &ApprovalStore, id: &ApprovalId) -> Approval {
    store
        .get(id)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("{id} is not in the store"))
}

fn ids(approvals: &[Approval]) -> Vec<ApprovalId> {
    approvals.iter().map(|a| a.id.clone()).collect()
}

fn next_change(rx: &mut Receiver<Change>) -> Option<Change> {
    match rx.try_recv() {
        Ok(change) => Some(change),
        Err(TryRecvError::Empty) => None,
        Err(e) => panic!("change feed: {e}"),
    }
}

/// Everything an approval store promises, on any backend. Expects an empty store.
async fn contract(store: &ApprovalStore) {
    open_hold_dedupes_pending(store).await;
    votes_go_through_update(store).await;
    take_approved_is_single_use(store).await;
    take_by_id_checks_what_it_covers(store).await;
    grants_are_active_then_expired_then_revoked(store).await;
    list_filters_newest_first(store).await;
    subscribers_see_every_written_change(store).await;
    // Last: it expires whatever the sections above left due.
    expire_due_expires_what_ran_out_of_time(store).await;
}

async fn open_hold_dedupes_pending(store: &ApprovalStore) {
    let (first, created) = store.open_hold(hold("agent-1", "pod-a"), T0).await.unwrap();
    assert!(created);
    assert_eq!(first.status, Status::Pending);
    assert_eq!(first.expires_at, at(3600));
    assert_eq!(get(store, &first.id).await, first, "stored as returned");

    let (again, created) = store
        .open_hold(hold("agent-1", "pod-a"), at(10))
        .await
        .unwrap();
    assert!(!created, "same subject and operation: the pending one");
    assert_eq!(again, first);

    let other_operation = open(store, hold("agent-1", "pod-b"), at(10)).await;
    let other_subject = open(store, hold("agent-2", "pod-a"), at(10)).await;
    let as_grant = open(store, grant_hold("agent-1", "pod-a", 600), at(10)).await;
    let distinct: HashSet<ApprovalId> = ids(&[
        first.clone(),
        other_operation,
        other_subject,
        as_grant.clone(),
    ])
    .into_iter()
    .collect();
    assert_eq!(distinct.len(), 4, "each needs its own approval");
    let (grant_again, created) = store
        .open_hold(grant_hold("agent-1", "pod-a", 600), at(20))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(grant_again.id, as_grant.id);

    // Decided: the next hold of the same operation opens a new approval.
    vote(store, &first.id, "alice", Verdict::Deny, at(30)).await;
    let after_deny = open(store, hold("agent-1", "pod-a"), at(40)).await;
    assert_ne!(after_deny.id, first.id);

    // Ran out of time: marked expired, and a new one opened.
    let (renewed, created) = store
        .open_hold(hold("agent-1", "pod-a"), at(40 + 3600))
        .await
        .unwrap();
    assert!(created, "an expired pending approval is not reused");
    assert_ne!(renewed.id, after_deny.id);
    assert_eq!(get(store, &after_deny.id).await.status, Status::Expired);
}

async fn votes_go_through_update(store: &ApprovalStore) {
    let two_of_m = NewHold {
        rules: rules(2),
        ..hold("agent-v", "scale-down")
    };
    let pending = open(store, two_of_m, T0).await;
    let id = &pending.id;

    let own = store
        .update(id, |a| {
            a.vote(&approver("agent-v"), Verdict::Approve, None, at(1))
        })
        .await
        .unwrap();
    assert!(
        matches!(own, Err(ApprovalError::SelfApproval { .. })),
        "{own:?}"
    );
    assert_eq!(
        get(store, id).await,
        pending,
        "a refused vote writes nothing"
    );

    let first = vote(store, id, "alice", Verdict::Approve, at(2)).await;
    assert_eq!(first.status, Status::Pending, "1 of 2");
    assert_eq!(get(store, id).await, first);

    let twice = store
        .update(id, |a| {
            a.vote(&approver("alice"), Verdict::Approve, None, at(3))
        })
        .await
        .unwrap();
    assert!(
        matches!(twice, Err(ApprovalError::AlreadyVoted { needed: 1, .. })),
        "{twice:?}"
    );
    assert_eq!(get(store, id).await.votes.len(), 1);

    // A change that returns an error after modifying the value is not written.
    let failed: Result<(), &str> = store
        .update(id, |a| {
            a.status = Status::Revoked;
            Err("changed my mind")
        })
        .await
        .unwrap();
    assert_eq!(failed, Err("changed my mind"));
    assert_eq!(get(store, id).await, first);

    let approved = vote(store, id, "bob", Verdict::Approve, at(4)).await;
    assert_eq!(approved.status, Status::Approved, "2 of 2");
    assert_eq!(approved.valid_until, Some(at(4 + 900)));
    assert_eq!(approved.approvals(), 2);
    assert_eq!(get(store, id).await, approved);

    let late = store
        .update(id, |a| {
            a.vote(&approver("carol"), Verdict::Deny, None, at(5))
        })
        .await
        .unwrap();
    assert!(
        matches!(late, Err(ApprovalError::NotPending { .. })),
        "{late:?}"
    );

    let unknown = ApprovalId("apr-does-not-exist".into());
    let missing = store.update(&unknown, |_| Ok::<(), ()>(())).await;
    assert!(
        matches!(&missing, Err(StoreError::NotFound(i)) if *i == unknown),
        "{missing:?}"
    );
    assert!(store.get(&unknown).await.unwrap().is_none());
}

async fn take_approved_is_single_use(store: &ApprovalStore) {
    let pending = open(store, hold("agent-t", "drop-table"), T0).await;
    let fingerprint = fp("drop-table");
    assert_eq!(
        store
            .take_approved("agent-t", &fingerprint, "req-early", at(1))
            .await
            .unwrap(),
        None,
        "pending is not approved"
    );
    vote(store, &pending.id, "alice", Verdict::Approve, at(2)).await;

    for (subject, fingerprint, why) in [
        ("agent-x", fp("drop-table"), "another subject"),
        ("agent-t", fp("drop-other-table"), "another operation"),
    ] {
        assert_eq!(
            store
                .take_approved(subject, &fingerprint, "req-wrong", at(3))
                .await
                .unwrap(),
            None,
            "{why}"
        );
    }
    assert_eq!(
        store
            .take_approved("agent-t", &fingerprint, "req-late", at(2 + 900))
            .await
            .unwrap(),
        None,
        "at valid_until it is over"
    );

    let used = store
        .take_approved("agent-t", &fingerprint, "req-retry", at(5))
        .await
        .unwrap()
        .expect("the approved operation passes once");
    assert_eq!(used.id, pending.id);
    assert_eq!(used.status, Status::Used);
    assert_eq!(
        used.used.as_ref().map(|u| (u.request_id.as_str(), u.at)),
        Some(("req-retry", at(5)))
    );
    assert_eq!(get(store, &pending.id).await, used);
    assert_eq!(
        store
            .take_approved("agent-t", &fingerprint, "req-again", at(6))
            .await
            .unwrap(),
        None,
        "single use"
    );
}

async fn take_by_id_checks_what_it_covers(store: &ApprovalStore) {
    let pending = open(store, hold("agent-i", "rm-rf"), T0).await;
    let id = &pending.id;
    let fingerprint = fp("rm-rf");
    assert_eq!(
        store
            .take_by_id(id, "agent-i", &fingerprint, "req-1", at(1))
            .await
            .unwrap(),
        None,
        "pending"
    );
    vote(store, id, "bob", Verdict::Approve, at(2)).await;
    let unknown = ApprovalId("apr-unknown".into());
    assert_eq!(
        store
            .take_by_id(&unknown, "agent-i", &fingerprint, "req-1", at(3))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_by_id(id, "agent-x", &fingerprint, "req-1", at(3))
            .await
            .unwrap(),
        None,
        "another subject"
    );
    assert_eq!(
        store
            .take_by_id(id, "agent-i", &fp("other"), "req-1", at(3))
            .await
            .unwrap(),
        None,
        "another operation"
    );
    assert_eq!(
        get(store, id).await.status,
        Status::Approved,
        "still unused"
    );
    let used = store
        .take_by_id(id, "agent-i", &fingerprint, "req-2", at(4))
        .await
        .unwrap()
        .expect("covers it");
    assert_eq!(used.status, Status::Used);
    assert_eq!(
        store
            .take_by_id(id, "agent-i", &fingerprint, "req-3", at(5))
            .await
            .unwrap(),
        None,
        "single use"
    );
}

async fn grants_are_active_then_expired_then_revoked(store: &ApprovalStore) {
    let scope = "prod-deploys";
    let pending = open(store, grant_hold("agent-g", scope, 600), T0).await;
    assert_eq!(
        store.active_grant("agent-g", scope, at(1)).await.unwrap(),
        None
    );
    let approved = vote(store, &pending.id, "alice", Verdict::Approve, at(10)).await;
    assert_eq!(approved.valid_until, Some(at(610)));

    let active = store.active_grant("agent-g", scope, at(11)).await.unwrap();
    assert_eq!(active.map(|a| a.id), Some(pending.id.clone()));
    assert_eq!(
        store
            .active_grant("agent-g", "other-scope", at(11))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.active_grant("agent-x", scope, at(11)).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .take_approved("agent-g", &fp(&format!("grant-{scope}")), "req", at(12))
            .await
            .unwrap(),
        None,
        "a grant is not a single-use operation approval"
    );
    assert!(
        store
            .active_grant("agent-g", scope, at(13))
            .await
            .unwrap()
            .is_some(),
        "using a grant does not use it up"
    );
    assert_eq!(
        store.active_grant("agent-g", scope, at(610)).await.unwrap(),
        None,
        "ended"
    );

    let second = open(store, grant_hold("agent-g", scope, 600), at(700)).await;
    vote(store, &second.id, "bob", Verdict::Approve, at(701)).await;
    assert!(store
        .active_grant("agent-g", scope, at(702))
        .await
        .unwrap()
        .is_some());
    let revoked = store
        .update(&second.id, |a| {
            a.revoke(&approver("bob"), Some("done"), at(703))
        })
        .await
        .unwrap();
    assert_eq!(revoked, Ok(()));
    assert_eq!(get(store, &second.id).await.status, Status::Revoked);
    assert_eq!(
        store.active_grant("agent-g", scope, at(704)).await.unwrap(),
        None
    );
}

async fn list_filters_newest_first(store: &ApprovalStore) {
    let mut opened = Vec::new();
    for (i, name) in ["one", "two", "three"].into_iter().enumerate() {
        let now = Timestamp(T0.0 + 1 + i64::try_from(i).unwrap());
        opened.push(open(store, hold("agent-l", name), now).await);
    }
    vote(store, &opened[0].id, "alice", Verdict::Deny, at(1)).await;

    let mine = ListFilter {
        subject: Some("agent-l".into()),
        ..ListFilter::default()
    };
    let newest_first: Vec<ApprovalId> = opened.iter().rev().map(|a| a.id.clone()).collect();
    assert_eq!(ids(&store.list(&mine).await.unwrap()), newest_first);
    let two = ListFilter {
        limit: Some(2),
        ..mine.clone()
    };
    assert_eq!(ids(&store.list(&two).await.unwrap()), newest_first[..2]);
    let pending = ListFilter {
        status: Some(Status::Pending),
        ..mine.clone()
    };
    assert_eq!(ids(&store.list(&pending).await.unwrap()), newest_first[..2]);
    let denied = ListFilter {
        status: Some(Status::Denied),
        ..mine.clone()
    };
    assert_eq!(
        ids(&store.list(&denied).await.unwrap()),
        [opened[0].id.clone()]
    );

    let all = store.list(&ListFilter::default()).await.unwrap();
    assert!(all.len() > 3, "every subject's approvals");
    assert!(
        all.windows(2).all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );
    let used = ListFilter {
        status: Some(Status::Used),
        ..ListFilter::default()
    };
    let used = store.list(&used).await.unwrap();
    assert_eq!(used.len(), 2, "from the take sections: {:?}", ids(&used));
    assert!(used.iter().all(|a| a.status == Status::Used));
    assert_eq!(
        store
            .list(&ListFilter {
                subject: Some("nobody".into()),
                ..ListFilter::default()
            })
            .await
            .unwrap(),
        []
    );
}

async fn subscribers_see_every_written_change(store: &ApprovalStore) {
    let mut rx = store.subscribe();
    let pending = open(store, hold("agent-s", "restart-db"), T0).await;
    let id = pending.id.clone();
    let change = |status| {
        Some(Change {
            id: id.clone(),
            status,
        })
    };
    assert_eq!(next_change(&mut rx), change(Status::Pending));

    store
        .open_hold(hold("agent-s", "restart-db"), at(1))
        .await
        .unwrap();
    assert_eq!(next_change(&mut rx), None, "the same pending one: no write");
    let refused = store
        .update(&id, |a| {
            a.vote(&approver("agent-s"), Verdict::Approve, None, at(2))
        })
        .await
        .unwrap();
    assert!(refused.is_err());
    assert_eq!(next_change(&mut rx), None, "refused: no write");
    let unchanged = store.update(&id, |_| Ok::<_, ()>(())).await.unwrap();
    assert_eq!(unchanged, Ok(()));
    assert_eq!(next_change(&mut rx), None, "unchanged: no write");

    vote(store, &id, "alice", Verdict::Approve, at(3)).await;
    assert_eq!(next_change(&mut rx), change(Status::Approved));
    store
        .take_approved("agent-s", &fp("restart-db"), "req-s", at(4))
        .await
        .unwrap()
        .expect("approved");
    assert_eq!(next_change(&mut rx), change(Status::Used));
    assert_eq!(next_change(&mut rx), None);
}

async fn expire_due_expires_what_ran_out_of_time(store: &ApprovalStore) {
    // Far after everything above, which all falls due at the first call.
    let t1 = at(10 * 86_400);
    let later = |s: u64| t1.plus_seconds(s);
    let pending = open(store, hold("agent-e", "pending"), t1).await;
    let approved = open(store, hold("agent-e", "approved"), t1).await;
    vote(store, &approved.id, "alice", Verdict::Approve, t1).await;
    let mut rx = store.subscribe();

    let first = store.expire_due(later(899)).await.unwrap();
    assert!(!first.is_empty(), "the earlier sections' pending approvals");
    assert!(first.iter().all(|a| a.status == Status::Expired));
    for (id, expected) in first.iter().map(|a| (&a.id, Status::Expired)) {
        assert_eq!(
            next_change(&mut rx),
            Some(Change {
                id: id.clone(),
                status: expected
            })
        );
    }
    let first_ids = ids(&first);
    assert!(!first_ids.contains(&pending.id) && !first_ids.contains(&approved.id));
    let still_pending = ListFilter {
        status: Some(Status::Pending),
        ..ListFilter::default()
    };
    assert_eq!(
        ids(&store.list(&still_pending).await.unwrap()),
        std::slice::from_ref(&pending.id),
        "only this section's pending approval is left"
    );

    assert_eq!(
        ids(&store.expire_due(later(900)).await.unwrap()),
        std::slice::from_ref(&approved.id),
        "approved but not used by valid_until"
    );
    assert_eq!(
        store
            .take_approved("agent-e", &fp("approved"), "req", later(1))
            .await
            .unwrap(),
        None,
        "expired, even at a time it was valid"
    );
    assert_eq!(
        ids(&store.expire_due(later(3600)).await.unwrap()),
        std::slice::from_ref(&pending.id),
        "pending past expires_at"
    );
    assert_eq!(get(store, &pending.id).await.status, Status::Expired);
    assert_eq!(store.expire_due(later(7200)).await.unwrap(), []);
}

/// What a restart must not lose: a pending hold (the agent's retry finds the same
/// approval) and an active grant.
async fn survives_restart(url: &str) {
    let (pending_id, grant_id) = {
        let store = ApprovalStore::open(url).await.expect("open");
        let pending = open(&store, hold("agent-r", "migrate"), T0).await;
        let grant = open(&store, grant_hold("agent-r", "deploys", 3600), T0).await;
        vote(&store, &grant.id, "alice", Verdict::Approve, at(1)).await;
        (pending.id, grant.id)
    };
    let store = ApprovalStore::open(url).await.expect("reopen");
    let (again, created) = store
        .open_hold(hold("agent-r", "migrate"), at(2))
        .await
        .unwrap();
    assert!(!created, "the pending hold survived the restart");
    assert_eq!(again.id, pending_id);
    let grant = store
        .active_grant("agent-r", "deploys", at(3))
        .await
        .unwrap();
    assert_eq!(grant.map(|g| g.id), Some(grant_id));
}

/// `parallel` calls of `take_approved` for one approved operation, spread over
/// `stores`: returns how many got it.
async fn race_to_take(stores: &[ApprovalStore], parallel: usize) -> usize {
    let first = &stores[0];
    let pending = open(first, hold("agent-race", "payout"), T0).await;
    vote(first, &pending.id, "alice", Verdict::Approve, at(1)).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(parallel));
    let tasks: Vec<_> = (0..parallel)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .take_approved("agent-race", &fp("payout"), &format!("req-{i}"), at(2))
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if task.await.expect("task").expect("take_approved").is_some() {
            winners += 1;
        }
    }
    assert_eq!(get(first, &pending.id).await.status, Status::Used);
    winners
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("warden.db").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_memory_store_meets_the_contract() {
    let store = ApprovalStore::open("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_store_meets_the_contract_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let store = ApprovalStore::open(&url).await.unwrap();
    assert!(dir.path().join("warden.db").is_file(), "created the file");
    contract(&store).await;
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    survives_restart(&sqlite_url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_pools_on_one_file_take_an_approval_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let a = ApprovalStore::open(&url).await.unwrap();
    let b = ApprovalStore::open(&url).await.unwrap();
    assert_eq!(race_to_take(&[a, b], 20).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_meets_the_contract_and_survives_a_restart() {
    let pg = Postgres::start().expect("a throwaway PostgreSQL 15");
    let store = ApprovalStore::open(&pg.create_database("contract").unwrap())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", pg.log()));
    assert_eq!(store.backend(), "postgres");
    contract(&store).await;
    drop(store);

    survives_restart(&pg.create_database("restart").unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_share_decisions_changes_and_single_use() {
    let pg = Postgres::start().expect("a throwaway PostgreSQL 15");
    let url = pg.create_database("replicas").unwrap();
    let (a, b) = (
        ApprovalStore::open(&url).await.unwrap(),
        ApprovalStore::open(&url).await.unwrap(),
    );
    let mut b_changes = b.subscribe();
    let mut a_changes = a.subscribe();

    // A holds; B sees the approval and hears about it.
    let pending = open(&a, hold("agent-p", "drop-db"), T0).await;
    let expect_change = |status| Change {
        id: pending.id.clone(),
        status,
    };
    let heard = tokio::time::timeout(NOTIFY_TIMEOUT, b_changes.recv()).await;
    assert_eq!(
        heard.expect("B heard of A's hold").unwrap(),
        expect_change(Status::Pending)
    );
    assert_eq!(get(&b, &pending.id).await, pending);
    assert_eq!(
        next_change(&mut a_changes),
        Some(expect_change(Status::Pending))
    );

    // A decides; B reads the decision and hears about it.
    let approved = vote(&a, &pending.id, "alice", Verdict::Approve, at(1)).await;
    assert_eq!(get(&b, &pending.id).await, approved);
    let heard = tokio::time::timeout(NOTIFY_TIMEOUT, b_changes.recv()).await;
    assert_eq!(
        heard.expect("B heard of A's decision").unwrap(),
        expect_change(Status::Approved)
    );
    // ... and A hears of B's use, but not of its own changes twice.
    b.take_approved("agent-p", &fp("drop-db"), "req-b", at(2))
        .await
        .unwrap()
        .expect("B uses A's approval");
    assert_eq!(
        next_change(&mut a_changes),
        Some(expect_change(Status::Approved))
    );
    let heard = tokio::time::timeout(NOTIFY_TIMEOUT, a_changes.recv()).await;
    assert_eq!(
        heard.expect("A heard of B's use").unwrap(),
        expect_change(Status::Used)
    );
    assert_eq!(next_change(&mut a_changes), None);

    // The same hold at both replicas at once: one approval.
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { store.open_hold(hold("agent-p", "same"), at(3)).await })
        })
        .collect();
    let mut opened = Vec::new();
    for task in tasks {
        opened.push(task.await.unwrap().expect("open_hold"));
    }
    assert_eq!(opened.iter().filter(|(_, created)| *created).count(), 1);
    let one: HashSet<&ApprovalId> = opened.iter().map(|(a, _)| &a.id).collect();
    assert_eq!(one.len(), 1, "{one:?}");

    // Two approvers at two replicas at once: no vote is lost.
    let two = open(
        &a,
        NewHold {
            rules: rules(2),
            ..hold("agent-p", "two-of-m")
        },
        at(4),
    )
    .await;
    let (va, vb) = tokio::join!(
        vote(&a, &two.id, "alice", Verdict::Approve, at(5)),
        vote(&b, &two.id, "bob", Verdict::Approve, at(5)),
    );
    let last = if va.votes.len() == 2 { va } else { vb };
    assert_eq!(last.status, Status::Approved);
    assert_eq!(get(&a, &two.id).await.approvals(), 2);

    // Twenty retries of one approved operation across both replicas: one passes.
    assert_eq!(race_to_take(&[a, b], 20).await, 1);
}
