//! The session endpoints and `warden sessions` end to end in one process: a dev
//! issuer for tokens, the admin API on a loopback port over an in-memory store, and
//! the CLI's command runner through the admin client.

use std::sync::Arc;
use std::time::Duration;

use super::client::{AdminClient, ClientError, SessionQuery};
use super::sessions_command::{run, SessionsCommandError};
use super::*;
use crate::audit::{
    AuditRecord, BodyCapture, Chained, ChainedRecord, DecisionRecord, ExchangeCapture,
    IdentityRecord, RecordSource,
};
use crate::cli::SessionsCommand;
use crate::identity::IdentityConfig;

/// The recorded exchanges' clock: 2026-11-30T00:53:20Z.
const T0: Timestamp = Timestamp(1_796_000_000_000);

fn exchange(seq: u64, session: &str, subject: &str, seconds: u64) -> Chained {
    let record = AuditRecord {
        request_id: format!("req-{seq}"),
        session_id: session.into(),
        source: RecordSource::ExtProc,
        started_at: T0.plus_seconds(seconds).rfc3339(),
        duration_us: 2_000,
        identity: Some(IdentityRecord {
            subject: subject.into(),
            issuer: "https://idp".into(),
            groups: vec!["agents".into()],
            kind: "agent".into(),
            source: "jwt".into(),
        }),
        decision: DecisionRecord {
            outcome: "allow".into(),
            ..DecisionRecord::default()
        },
        ..AuditRecord::default()
    };
    Chained {
        record: ChainedRecord {
            instance: "w-1".into(),
            seq,
            prev_hash: String::new(),
            hash: format!("h{seq}"),
            record,
        },
        capture: Some(ExchangeCapture {
            response_body: BodyCapture {
                captured: true,
                content_type: "application/json".into(),
                text: Some(format!("{{\"answer\":\"{subject}-{seq}\"}}")),
                bytes: 20,
                ..BodyCapture::default()
            },
            ..ExchangeCapture::default()
        }),
    }
}

struct Harness {
    issuer: String,
    key_dir: tempfile::TempDir,
    admin_url: String,
    _stop_issuer: tokio::sync::oneshot::Sender<()>,
}

impl Harness {
    async fn start() -> Harness {
        let key_dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = crate::dev::issuer::issuer_url_for(listener.local_addr().unwrap());
        let (stop_issuer, stopped) = tokio::sync::oneshot::channel::<()>();
        let dir = key_dir.path().to_path_buf();
        let served_issuer = issuer.clone();
        tokio::spawn(async move {
            let _ = crate::dev::issuer::serve_issuer(listener, &dir, served_issuer, async {
                let _ = stopped.await;
            })
            .await;
        });
        let config: IdentityConfig = serde_yaml_ng::from_str(&format!(
            "required: true\nissuers:\n  - issuer: {issuer}\n    audiences: [warden]\n    allow_http: true\n"
        ))
        .unwrap();
        let authenticator = Authenticator::new(&config).unwrap();

        let store = ApprovalStore::open("sqlite::memory:").await.unwrap();
        store
            .record_exchanges(&[
                exchange(1, "s-alpha", "agent-a", 10),
                exchange(2, "s-beta", "agent-b", 20),
                exchange(3, "s-alpha", "agent-a", 30),
                exchange(4, "s-shared", "agent-a", 40),
                exchange(5, "s-shared", "agent-b", 50),
            ])
            .await
            .unwrap();
        let state = AdminState::new(
            store,
            Arc::new(authenticator),
            Arc::new(Notifier::new(Vec::new()).unwrap()),
        )
        .with_session_readers(vec!["auditors".into()]);
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_url = format!("http://{}", admin.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(admin, router(state)).await;
        });
        Harness {
            issuer,
            key_dir,
            admin_url,
            _stop_issuer: stop_issuer,
        }
    }

    fn client(&self, subject: Option<(&str, &[&str])>) -> AdminClient {
        let token = subject.map(|(sub, groups)| {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            crate::dev::issuer::mint_token(
                self.key_dir.path(),
                &self.issuer,
                sub,
                &groups,
                Duration::from_secs(300),
                &serde_json::Map::new(),
            )
            .unwrap()
        });
        AdminClient::new(&self.admin_url, token).unwrap()
    }
}

fn ids(sessions: &[crate::store::SessionSummary]) -> Vec<&str> {
    sessions.iter().map(|s| s.session_id.as_str()).collect()
}

fn refused_code(error: ClientError) -> (u16, String) {
    match error {
        ClientError::Refused { status, code, .. } => (status, code),
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_read_their_own_sessions_and_auditors_read_all() {
    let h = Harness::start().await;
    let everything = SessionQuery::default();

    // Without a token: refused.
    let anonymous = h.client(None);
    let (status, _) = refused_code(anonymous.list_sessions(&everything).await.unwrap_err());
    assert_eq!(status, 401);

    // An agent sees its own sessions, counted over its own exchanges only.
    let agent_a = h.client(Some(("agent-a", &["agents"])));
    let own = agent_a.list_sessions(&everything).await.unwrap();
    assert_eq!(ids(&own), vec!["s-shared", "s-alpha"]);
    assert_eq!(own[0].exchanges, 1);
    assert_eq!(own[0].identities, vec!["agent-a"]);
    let (status, code) = refused_code(
        agent_a
            .list_sessions(&SessionQuery {
                identity: Some("agent-b".into()),
                ..SessionQuery::default()
            })
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (403, "not_a_session_reader"));
    let (status, _) = refused_code(agent_a.show_session("s-beta").await.unwrap_err());
    assert_eq!(status, 404, "another identity's session is not found");
    let shared = agent_a.show_session("s-shared").await.unwrap();
    assert_eq!(
        shared.exchanges.len(),
        1,
        "only its own part of a shared one"
    );

    // An auditor sees everyone's, and can filter by identity and time.
    let auditor = h.client(Some(("carol", &["auditors"])));
    let all = auditor.list_sessions(&everything).await.unwrap();
    assert_eq!(ids(&all), vec!["s-shared", "s-alpha", "s-beta"]);
    assert_eq!(all[0].identities, vec!["agent-a", "agent-b"]);
    let of_b = auditor
        .list_sessions(&SessionQuery {
            identity: Some("agent-b".into()),
            since: Some(T0.plus_seconds(25)),
            ..SessionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&of_b), vec!["s-shared"]);
    let limited = auditor
        .list_sessions(&SessionQuery {
            limit: Some(1),
            ..SessionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&limited), vec!["s-shared"]);
    let shared = auditor.show_session("s-shared").await.unwrap();
    assert_eq!(
        shared
            .exchanges
            .iter()
            .map(|e| e.record.seq)
            .collect::<Vec<_>>(),
        vec![4, 5]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_command_renders_lists_timelines_and_json() {
    let h = Harness::start().await;
    let auditor = h.client(Some(("carol", &["auditors"])));
    let now = T0.plus_seconds(3600);

    let table = run(
        &auditor,
        SessionsCommand::List {
            identity: None,
            since: Some("45m".into()),
            until: None,
            limit: None,
            json: false,
        },
        now,
    )
    .await
    .unwrap();
    // 45 minutes before T0 + 1h is T0 + 15m: after every recorded exchange.
    assert_eq!(table, "no recorded sessions\n");
    let table = run(
        &auditor,
        SessionsCommand::List {
            identity: Some("agent-a".into()),
            since: Some("2h".into()),
            until: Some("2026-11-30T00:53:35Z".into()),
            limit: None,
            json: false,
        },
        now,
    )
    .await
    .unwrap();
    assert!(table.starts_with("SESSION"), "{table}");
    assert!(
        table.contains("s-alpha") && !table.contains("s-shared"),
        "{table}"
    );

    let json = run(
        &auditor,
        SessionsCommand::List {
            identity: None,
            since: None,
            until: None,
            limit: Some(2),
            json: true,
        },
        now,
    )
    .await
    .unwrap();
    let listed: Vec<crate::store::SessionSummary> = serde_json::from_str(&json).unwrap();
    assert_eq!(ids(&listed), vec!["s-shared", "s-alpha"]);

    let timeline = run(
        &auditor,
        SessionsCommand::Show {
            id: "s-alpha".into(),
            json: false,
        },
        now,
    )
    .await
    .unwrap();
    assert!(
        timeline.starts_with("session s-alpha: 2 exchanges"),
        "{timeline}"
    );
    assert!(timeline.contains("\"answer\": \"agent-a-3\""), "{timeline}");
    let structured = run(
        &auditor,
        SessionsCommand::Show {
            id: "s-alpha".into(),
            json: true,
        },
        now,
    )
    .await
    .unwrap();
    let view: super::sessions::SessionView = serde_json::from_str(&structured).unwrap();
    assert_eq!(view.exchanges.len(), 2);

    let error = run(
        &auditor,
        SessionsCommand::List {
            identity: None,
            since: Some("last tuesday".into()),
            until: None,
            limit: None,
            json: false,
        },
        now,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        error,
        SessionsCommandError::BadTime { flag: "since", .. }
    ));
    assert!(error.to_string().contains("7d"), "{error}");
}
