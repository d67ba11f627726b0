use super::*;

#[test]
fn passwords_stay_out_of_messages() {
    assert_eq!(
        without_password("postgres://warden:s3cret@db:5432/warden"),
        "postgres://warden:***@db:5432/warden"
    );
    assert_eq!(
        without_password("postgres://warden@db/warden"),
        "postgres://warden@db/warden"
    );
    assert_eq!(
        without_password("sqlite:///var/lib/warden/warden.db"),
        "sqlite:///var/lib/warden/warden.db"
    );
    let error = StoreError::UnsupportedUrl(without_password("mysql://u:pw@h/db"));
    assert!(!error.to_string().contains("pw@"), "{error}");
}

#[test]
fn notifications_name_the_approval_and_status_and_skip_our_own() {
    let id = ApprovalId("apr-1".into());
    let payload = listen::payload(&id, Status::Approved, "me");
    assert_eq!(payload, "apr-1 approved me");
    assert_eq!(listen::parse(&payload, "me"), None);
    assert_eq!(
        listen::parse(&payload, "someone-else"),
        Some(Change {
            id: id.clone(),
            status: Status::Approved
        })
    );
    // Written by hand (psql NOTIFY): id and status only.
    assert_eq!(
        listen::parse("apr-1 used", "me"),
        Some(Change {
            id,
            status: Status::Used
        })
    );
    assert_eq!(listen::parse("apr-1 bogus x", "me"), None);
    assert_eq!(listen::parse("", "me"), None);
}

/// Every migration file is compiled in, in order, and both backends have the same
/// migrations.
#[test]
fn embedded_migrations_are_the_migration_files() {
    for (dir, embedded) in [
        ("sqlite", db::SQLITE_MIGRATIONS),
        ("postgres", db::POSTGRES_MIGRATIONS),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&path)
            .unwrap()
            .map(|entry| {
                let name = entry.unwrap().file_name().into_string().unwrap();
                let stem = name.strip_suffix(".sql").unwrap().to_string();
                let (version, description) = stem.split_once('_').unwrap();
                let sql = std::fs::read_to_string(path.join(&name)).unwrap();
                (version.parse().unwrap(), description.to_string(), sql)
            })
            .collect();
        files.sort();
        let embedded: Vec<(i64, String, String)> = embedded
            .iter()
            .map(|&(v, d, s)| (v, d.to_string(), s.to_string()))
            .collect();
        assert_eq!(embedded, files, "{dir}: update db.rs's migration list");
    }
    assert_eq!(
        db::SQLITE_MIGRATIONS
            .iter()
            .map(|m| m.0)
            .collect::<Vec<_>>(),
        db::POSTGRES_MIGRATIONS
            .iter()
            .map(|m| m.0)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn unsupported_urls_are_refused_with_the_supported_forms() {
    let error = ApprovalStore::open("mysql://localhost/warden")
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::UnsupportedUrl(_)), "{error}");
    assert!(error.to_string().contains("sqlite:///"), "{error}");
}

#[tokio::test]
async fn a_missing_sqlite_directory_is_reported_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/missing/warden.db", dir.path().display());
    let error = ApprovalStore::open(&url).await.unwrap_err();
    assert!(matches!(error, StoreError::Open { .. }), "{error}");
    assert!(
        error.to_string().contains("directory must exist"),
        "{error}"
    );
}

#[tokio::test]
async fn rows_that_disagree_with_their_document_are_corrupt_not_panics() {
    let store = ApprovalStore::open("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    let Db::Sqlite(pool) = &store.inner.db else {
        panic!("sqlite store without a sqlite pool");
    };
    let insert = "INSERT INTO approvals (id, status, subject, fingerprint, kind, scope, \
                  created_at, expires_at, valid_until, doc) \
                  VALUES ($1, $2, 'agent', $1, 'operation', '', 0, 0, NULL, $3)";
    let someone_else = Approval::open(
        sample_hold(),
        ApprovalId("apr-someone-else".into()),
        Timestamp(0),
    );
    let mut pending = someone_else.clone();
    pending.id = ApprovalId("apr-status".into());
    for (id, status, doc) in [
        ("apr-garbage", "pending", "{not json".to_string()),
        (
            "apr-other",
            "pending",
            serde_json::to_string(&someone_else).unwrap(),
        ),
        (
            "apr-status",
            "approved",
            serde_json::to_string(&pending).unwrap(),
        ),
    ] {
        sqlx::query(insert)
            .bind(id)
            .bind(status)
            .bind(doc)
            .execute(pool)
            .await
            .unwrap();
        let error = store.get(&ApprovalId(id.to_string())).await.unwrap_err();
        match &error {
            StoreError::Corrupt { id: got, .. } => assert_eq!(got, id),
            other => panic!("expected Corrupt for {id}, got {other}"),
        }
        assert!(error.to_string().contains(id), "{error}");
    }
    let error = store.expire_due(Timestamp(1)).await.unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
}

fn sample_hold() -> NewHold {
    use crate::approval::{ApprovalRules, Operation, Requester, Scope};
    NewHold {
        requester: Requester {
            subject: "agent".into(),
            issuer: String::new(),
            groups: Vec::new(),
            kind: "agent".into(),
            acting_for: Vec::new(),
        },
        operation: Operation {
            method: "DELETE".into(),
            host: "k8s".into(),
            path: "/api/v1/namespaces/prod/pods/web-1".into(),
            summary: "kubernetes delete pods/web-1 in prod".into(),
            fingerprint: Fingerprint("sha256:x".into()),
        },
        scope: Scope::Operation,
        rule: "prod-deletes".into(),
        reason: "deletes in prod need a human".into(),
        policy_hash: "sha256:policy".into(),
        rules: ApprovalRules::default(),
        request_id: "req-1".into(),
    }
}
