//! The session store's contract (recorded exchanges, checkpoints, queries, retention),
//! run against SQLite (in memory and in a file) and a throwaway PostgreSQL 15 server.
//!
//! The PostgreSQL test needs the PostgreSQL 15 server binaries and fails (with how to
//! install them) when they are missing; see `warden_integration_tests::postgres`.

use std::collections::BTreeMap;

use warden::approval::Timestamp;
use warden::audit::{
    AuditRecord, BodyCapture, Chained, ChainedRecord, Checkpoint, DecisionRecord, ExchangeCapture,
    IdentityRecord, RecordSource,
};
use warden::store::{
    ApprovalStore, SessionExchange, SessionFilter, SessionRetention, SessionSummary,
};
use warden_integration_tests::postgres::Postgres;

/// 2026-11-30T00:53:20Z: the contract's clock. Nothing here reads the real one.
const T0: Timestamp = Timestamp(1_796_000_000_000);

fn at(seconds: u64) -> Timestamp {
    T0.plus_seconds(seconds)
}

/// One exchange of `subject` (anonymous when empty) in `session`, `seconds` after T0.
fn exchange(
    instance: &str,
    seq: u64,
    session: &str,
    subject: &str,
    seconds: u64,
    outcome: &str,
) -> Chained {
    let record = AuditRecord {
        request_id: format!("req-{instance}-{seq}"),
        session_id: session.into(),
        source: RecordSource::ExtProc,
        started_at: at(seconds).rfc3339(),
        duration_us: 10,
        identity: (!subject.is_empty()).then(|| IdentityRecord {
            subject: subject.into(),
            issuer: "https://idp.example".into(),
            groups: vec!["agents".into()],
            kind: "agent".into(),
            source: "jwt".into(),
        }),
        decision: DecisionRecord {
            outcome: outcome.into(),
            rule: (outcome != "allow").then(|| "prod-deletes".to_string()),
            ..DecisionRecord::default()
        },
        facts: BTreeMap::new(),
        ..AuditRecord::default()
    };
    let capture = ExchangeCapture {
        request_headers: vec![("accept".into(), "application/json".into())],
        request_body: BodyCapture::empty(),
        response_body: BodyCapture {
            captured: true,
            text: Some(format!("{{\"seq\": {seq}}}")),
            bytes: 12,
            ..BodyCapture::default()
        },
        ..ExchangeCapture::default()
    };
    Chained {
        record: ChainedRecord {
            instance: instance.into(),
            seq,
            prev_hash: format!("prev-{seq}"),
            hash: format!("hash-{seq}"),
            record,
        },
        capture: Some(capture),
    }
}

/// The size the store counts for an exchange (its record and capture as JSON).
fn size(exchange: &Chained) -> u64 {
    let record = serde_json::to_string(&exchange.record).unwrap().len();
    let capture = exchange.capture.as_ref().map_or(0, |c| c.to_json().len());
    (record + capture) as u64
}

fn seqs(exchanges: &[SessionExchange]) -> Vec<u64> {
    exchanges.iter().map(|e| e.record.seq).collect()
}

fn session_ids(sessions: &[SessionSummary]) -> Vec<&str> {
    sessions.iter().map(|s| s.session_id.as_str()).collect()
}

async fn contract(store: &ApprovalStore) {
    writes_are_idempotent_per_instance_and_seq(store).await;
    sessions_are_listed_and_shown_in_time_order(store).await;
    checkpoints_are_kept_once(store).await;
    an_exchange_is_found_by_its_request_id(store).await;
}

/// Separate store (retention deletes across the table).
async fn retention_contract(store: &ApprovalStore) {
    retention_deletes_by_age_then_by_size(store).await;
}

async fn writes_are_idempotent_per_instance_and_seq(store: &ApprovalStore) {
    let batch = vec![
        exchange("w-1", 1, "idem", "agent-i", 1, "allow"),
        exchange("w-1", 2, "idem", "agent-i", 2, "deny"),
    ];
    assert_eq!(store.record_exchanges(&batch).await.unwrap(), 2);
    // A writer retry: the same batch plus one new record.
    let mut retry = batch.clone();
    retry.push(exchange("w-1", 3, "idem", "agent-i", 3, "allow"));
    assert_eq!(store.record_exchanges(&retry).await.unwrap(), 1);
    // Another instance may use the same seq.
    let other = [exchange("w-2", 1, "idem", "agent-i", 4, "allow")];
    assert_eq!(store.record_exchanges(&other).await.unwrap(), 1);
    assert_eq!(store.record_exchanges(&[]).await.unwrap(), 0);

    let shown = store.session_exchanges("idem", None).await.unwrap();
    assert_eq!(seqs(&shown), vec![1, 2, 3, 1]);
    assert_eq!(shown[0], {
        let e = &batch[0];
        SessionExchange {
            record: e.record.clone(),
            capture: e.capture.clone(),
        }
    });
}

async fn an_exchange_is_found_by_its_request_id(store: &ApprovalStore) {
    let held = exchange("r-1", 7, "s-held", "agent-h", 700, "hold");
    let metadata_only = Chained {
        capture: None,
        ..exchange("r-1", 8, "s-held", "agent-h", 701, "allow")
    };
    store
        .record_exchanges(&[held.clone(), metadata_only.clone()])
        .await
        .unwrap();
    let found = store.exchange_by_request_id("req-r-1-7").await.unwrap();
    assert_eq!(
        found,
        Some(SessionExchange {
            record: held.record.clone(),
            capture: held.capture.clone(),
        })
    );
    let bare = store.exchange_by_request_id("req-r-1-8").await.unwrap();
    assert_eq!(bare.map(|e| (e.record.seq, e.capture)), Some((8, None)));
    assert_eq!(
        store.exchange_by_request_id("req-none").await.unwrap(),
        None
    );
}

async fn sessions_are_listed_and_shown_in_time_order(store: &ApprovalStore) {
    // Written out of time order, by two instances.
    let batch = vec![
        exchange("l-1", 10, "s-alpha", "agent-a", 100, "allow"),
        exchange("l-1", 11, "s-alpha", "agent-a", 50, "deny"),
        exchange("l-2", 10, "s-alpha", "agent-b", 75, "hold"),
        exchange("l-1", 12, "s-beta", "agent-b", 200, "allow"),
        exchange("l-1", 13, "s-anon", "", 300, "allow"),
    ];
    store.record_exchanges(&batch).await.unwrap();

    let window = SessionFilter {
        since: Some(at(50)),
        until: Some(at(301)),
        ..SessionFilter::default()
    };
    let all = store.list_sessions(&window).await.unwrap();
    assert_eq!(session_ids(&all), vec!["s-anon", "s-beta", "s-alpha"]);
    let alpha = &all[2];
    assert_eq!(alpha.first_at, at(50));
    assert_eq!(alpha.last_at, at(100));
    assert_eq!(alpha.exchanges, 3);
    assert_eq!(alpha.identities, vec!["agent-a", "agent-b"]);
    assert_eq!(
        alpha.outcomes,
        BTreeMap::from([
            ("allow".to_string(), 1),
            ("deny".to_string(), 1),
            ("hold".to_string(), 1)
        ])
    );
    assert_eq!(all[0].identities, vec!["anonymous"]);

    // By identity: only that identity's exchanges are counted.
    let of_b = store
        .list_sessions(&SessionFilter {
            subject: Some("agent-b".into()),
            ..window.clone()
        })
        .await
        .unwrap();
    assert_eq!(session_ids(&of_b), vec!["s-beta", "s-alpha"]);
    assert_eq!(of_b[1].exchanges, 1);
    assert_eq!(of_b[1].identities, vec!["agent-b"]);

    // By time: `since` inclusive, `until` exclusive; and a limit.
    let early = store
        .list_sessions(&SessionFilter {
            since: Some(at(50)),
            until: Some(at(100)),
            ..SessionFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(session_ids(&early), vec!["s-alpha"]);
    assert_eq!(early[0].exchanges, 2);
    let limited = store
        .list_sessions(&SessionFilter {
            limit: Some(1),
            ..window.clone()
        })
        .await
        .unwrap();
    assert_eq!(session_ids(&limited), vec!["s-anon"]);
    let none = store
        .list_sessions(&SessionFilter {
            subject: Some("nobody".into()),
            ..window
        })
        .await
        .unwrap();
    assert!(none.is_empty());

    // One session in time order, all of it or one identity's part.
    let alpha = store.session_exchanges("s-alpha", None).await.unwrap();
    let starts: Vec<&str> = alpha
        .iter()
        .map(|e| e.record.record.started_at.as_str())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    assert_eq!(seqs(&alpha), vec![11, 10, 10]);
    assert_eq!(alpha[1].record.instance, "l-2");
    let of_a = store
        .session_exchanges("s-alpha", Some("agent-a"))
        .await
        .unwrap();
    assert_eq!(seqs(&of_a), vec![11, 10]);
    assert!(store
        .session_exchanges("no-such-session", None)
        .await
        .unwrap()
        .is_empty());

    // Between two times, across sessions.
    let between = store.exchanges_between(at(75), at(200)).await.unwrap();
    assert_eq!(seqs(&between), vec![10, 10]);
    assert_eq!(
        between
            .iter()
            .map(|e| e.record.record.session_id.as_str())
            .collect::<Vec<_>>(),
        vec!["s-alpha", "s-alpha"]
    );
}

async fn checkpoints_are_kept_once(store: &ApprovalStore) {
    let checkpoint = |instance: &str, seq: u64, reason: &str| Checkpoint {
        instance: instance.into(),
        seq,
        hash: format!("hash-{seq}"),
        signed_at: at(seq).rfc3339(),
        reason: reason.into(),
        key_id: "ed25519:abc".into(),
        signature: "c2ln".into(),
    };
    assert!(store
        .record_checkpoint(&checkpoint("c-1", 20, "count"))
        .await
        .unwrap());
    assert!(!store
        .record_checkpoint(&checkpoint("c-1", 20, "count"))
        .await
        .unwrap());
    assert!(store
        .record_checkpoint(&checkpoint("c-1", 20, "shutdown"))
        .await
        .unwrap());
    assert!(store
        .record_checkpoint(&checkpoint("c-1", 5, "interval"))
        .await
        .unwrap());
    assert!(store
        .record_checkpoint(&checkpoint("c-2", 1, "seal"))
        .await
        .unwrap());
    let of_c1 = store.checkpoints(Some("c-1")).await.unwrap();
    assert_eq!(
        of_c1
            .iter()
            .map(|c| (c.seq, c.reason.as_str()))
            .collect::<Vec<_>>(),
        vec![(5, "interval"), (20, "count"), (20, "shutdown")]
    );
    assert_eq!(of_c1[0], checkpoint("c-1", 5, "interval"));
    assert_eq!(store.checkpoints(None).await.unwrap().len(), 4);
}

async fn retention_deletes_by_age_then_by_size(store: &ApprovalStore) {
    let day = 86_400;
    let batch: Vec<Chained> = (0..6)
        .map(|i| exchange("r-1", i + 1, "s-ret", "agent-r", i * day, "allow"))
        .collect();
    store.record_exchanges(&batch).await.unwrap();

    // By age: at day 6 with 3 days kept, days 0, 1 and 2 go (day 3 is exactly 3 days
    // old and stays).
    assert_eq!(store.delete_exchanges_before(at(3 * day)).await.unwrap(), 3);
    assert_eq!(
        seqs(&store.session_exchanges("s-ret", None).await.unwrap()),
        vec![4, 5, 6]
    );

    // By size: keep what the newest two take; the oldest goes.
    let newest_two = size(&batch[4]) + size(&batch[5]);
    assert_eq!(store.trim_exchanges_to(newest_two).await.unwrap(), 1);
    assert_eq!(
        seqs(&store.session_exchanges("s-ret", None).await.unwrap()),
        vec![5, 6]
    );
    // Already within the limit: nothing more.
    assert_eq!(store.trim_exchanges_to(newest_two).await.unwrap(), 0);
    // One byte less than the newest two: only the newest fits.
    assert_eq!(store.trim_exchanges_to(newest_two - 1).await.unwrap(), 1);

    // Both limits through one pass; zero means no limit.
    store
        .record_exchanges(&[
            exchange("r-1", 7, "s-ret", "agent-r", 7 * day, "allow"),
            exchange("r-1", 8, "s-ret", "agent-r", 8 * day, "allow"),
        ])
        .await
        .unwrap();
    let none = SessionRetention::default();
    let report = store
        .apply_session_retention(at(100 * day), &none)
        .await
        .unwrap();
    assert_eq!(report.expired + report.over_size, 0);
    let report = store
        .apply_session_retention(
            at(8 * day + 1),
            &SessionRetention {
                max_age_days: 2,
                max_bytes: size(&batch[5]) + 1,
            },
        )
        .await
        .unwrap();
    // Day 6 is older than 2 days at day 8 + 1s; of days 7 and 8 only one fits.
    assert_eq!((report.expired, report.over_size), (1, 1));
    assert_eq!(
        seqs(&store.session_exchanges("s-ret", None).await.unwrap()),
        vec![8]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_memory_session_store_meets_the_contract() {
    let store = ApprovalStore::open("sqlite::memory:").await.unwrap();
    contract(&store).await;
    let store = ApprovalStore::open("sqlite::memory:").await.unwrap();
    retention_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_session_store_meets_the_contract_and_keeps_it_over_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("warden.db").display());
    {
        let store = ApprovalStore::open(&url).await.unwrap();
        contract(&store).await;
    }
    let store = ApprovalStore::open(&url).await.unwrap();
    assert_eq!(
        seqs(&store.session_exchanges("idem", None).await.unwrap()),
        vec![1, 2, 3, 1]
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("warden.db").display());
    retention_contract(&ApprovalStore::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_session_store_meets_the_contract() {
    let pg = Postgres::start().expect("a throwaway PostgreSQL 15");
    let store = ApprovalStore::open(&pg.create_database("sessions").unwrap())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", pg.log()));
    assert_eq!(store.backend(), "postgres");
    contract(&store).await;
    let store = ApprovalStore::open(&pg.create_database("retention").unwrap())
        .await
        .unwrap();
    retention_contract(&store).await;
}
