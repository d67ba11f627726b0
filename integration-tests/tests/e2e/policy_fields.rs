//! Policy-flagged fields through a real Envoy: a policy names JSON paths, key names and
//! SQL result columns; the agent it names gets them masked, another identity does not —
//! buffered and streamed, JSON, NDJSON and SSE, over HTTP/1.1 and HTTP/2, and the
//! request direction too. Pattern masking is off here: what is masked, the policy's
//! fields masked.

use anyhow::{ensure, Context};
use warden_integration_tests::issuer::DevIssuer;
use warden_integration_tests::stack::{http1_client, http2_client, Stack, StackOptions};

/// Rules for the `agents` group only: keys and paths on every `/reflect`; a request
/// field and result columns when a header asks (a column rule masks every cell of rows
/// whose columns are unknown, which the key/path documents here would be; a request
/// rule holds each request document whole, which the large bodies here are not meant
/// to test).
const POLICY: &str = r#"
rules:
  - id: agent-fields
    when: { path: /reflect, identity: { group: agents } }
    action: allow
    mask:
      fields:
        - key: ssn
        - path: "$.rows[*][3]"
        - path: "$..card"
  - id: agent-request-fields
    when: { path: /reflect, header: { x-check: request }, identity: { group: agents } }
    action: allow
    mask:
      fields:
        - key: pin_code
          direction: request
  - id: agent-graphql-fields
    when: { path: /graphql/reflect, identity: { group: agents } }
    action: allow
    mask:
      fields:
        - key: ssn
  - id: agent-columns
    when: { path: /reflect, header: { x-result: sql }, identity: { group: agents } }
    action: allow
    mask:
      fields:
        - column: salary
"#;

/// Values only a field rule masks (no pattern rule would, and pattern masking is off).
const SECRETS: [&str; 6] = [
    "ssn-value-one",
    "ssn-value-two",
    "path-value-three",
    "card-value-four",
    "salary-value-five",
    "salary-value-six",
];

struct Fixture {
    stack: Stack,
    agent: String,
    analyst: String,
    _issuer: DevIssuer,
    _dir: tempfile::TempDir,
}

async fn fixture(limits: &str) -> anyhow::Result<Fixture> {
    let dir = tempfile::Builder::new()
        .prefix("warden-fields-")
        .tempdir()?;
    let issuer = DevIssuer::start(dir.path()).await?;
    let policy = dir.path().join("policy");
    std::fs::create_dir(&policy)?;
    std::fs::write(policy.join("fields.yaml"), POLICY)?;
    let stack = Stack::start(StackOptions {
        warden_config: format!(
            "{}policy:\n  dir: {}\nmasking:\n  request: false\n  response: false\n{limits}",
            issuer.identity_config(),
            policy.display()
        ),
        ..StackOptions::default()
    })
    .await?;
    Ok(Fixture {
        agent: issuer.token("agent-1", &["agents"])?,
        analyst: issuer.token("analyst-1", &["analysts"])?,
        stack,
        _issuer: issuer,
        _dir: dir,
    })
}

/// POSTs `body` to `/reflect` (the upstream answers with it) as `token`; returns the
/// status and what the client read.
async fn reflect(
    f: &Fixture,
    client: &reqwest::Client,
    token: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<(u16, String)> {
    let mut request = client
        .post(f.stack.envoy.url("/reflect"))
        .bearer_auth(token)
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// [`reflect`], reading the body chunk by chunk: the status, what arrived, and whether
/// the body ended cleanly (a cut stream is not an error here).
async fn reflect_raw(
    f: &Fixture,
    client: &reqwest::Client,
    token: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<(u16, String, bool)> {
    let mut request = client
        .post(f.stack.envoy.url("/reflect"))
        .bearer_auth(token)
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send().await?;
    let status = response.status().as_u16();
    let mut received = Vec::new();
    let complete = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    Ok((
        status,
        String::from_utf8_lossy(&received).into_owned(),
        complete,
    ))
}

fn key_and_path_document() -> String {
    serde_json::json!({
        "customers": [
            {"name": "Ann", "SSN": "ssn-value-one", "contact": {"s_s_n": "ssn-value-two"}},
        ],
        "rows": [[0, "kept", 2, "path-value-three"]],
        "deep": {"billing": [{"card": "card-value-four", "kind": "visa"}]},
    })
    .to_string()
}

fn column_documents() -> Vec<(&'static str, String)> {
    vec![
        (
            "application/json",
            // Trino-shaped: column descriptors, then rows.
            r#"{"columns": [{"name": "id", "type": "integer"}, {"name": "SALARY", "type": "varchar"}], "data": [[1, "salary-value-five"], [2, "salary-value-six"]]}"#
                .to_string(),
        ),
        (
            "application/json",
            // Arrays of objects (PostgREST, ClickHouse JSON rows).
            r#"[{"id": 1, "salary": "salary-value-five"}, {"id": 2, "Salary": "salary-value-six"}]"#
                .to_string(),
        ),
        (
            "application/x-ndjson",
            // ClickHouse JSONCompactEachRowWithNames: a header row, then rows.
            "[\"id\",\"salary\"]\n[1,\"salary-value-five\"]\n[2,\"salary-value-six\"]\n".to_string(),
        ),
    ]
}

fn assert_no_secret(text: &str, context: &str) -> anyhow::Result<()> {
    for secret in SECRETS {
        ensure!(
            !text.contains(secret),
            "{context}: {secret} reached the agent:\n{text}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_paths_key_names_and_sql_columns_are_masked_for_one_identity_only(
) -> anyhow::Result<()> {
    let f = fixture("").await?;
    for (protocol, client) in [("HTTP/1.1", http1_client()), ("HTTP/2", http2_client())] {
        // Buffered (known length) and streamed (7-byte chunks, no length).
        for chunk in [None, Some("7")] {
            let mode = format!("{protocol}, {}", chunk.map_or("buffered", |_| "streamed"));
            let mut headers = vec![("x-reflect-content-type", "application/json")];
            if let Some(chunk) = chunk {
                headers.push(("x-reflect-chunk", chunk));
            }
            let body = key_and_path_document();
            let (status, text) = reflect(&f, &client, &f.agent, &body, &headers).await?;
            ensure!(status == 200, "{mode}: status {status}\n{}", f.stack.logs());
            assert_no_secret(&text, &mode)?;
            let json: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{mode}: not JSON: {text}"))?;
            ensure!(
                json["customers"][0]["SSN"] == "[REDACTED:agent-fields]"
                    && json["rows"][0][1] == "kept"
                    && json["deep"]["billing"][0]["kind"] == "visa"
                    && json["customers"][0]["name"] == "Ann",
                "{mode}: {text}"
            );
            let (status, text) = reflect(&f, &client, &f.analyst, &body, &headers).await?;
            ensure!(
                status == 200 && text == body,
                "{mode}: the analyst's body changed: {text}"
            );

            for (content_type, body) in column_documents() {
                let mut headers = vec![
                    ("x-reflect-content-type", content_type),
                    ("x-result", "sql"),
                ];
                if let Some(chunk) = chunk {
                    headers.push(("x-reflect-chunk", chunk));
                }
                let context = format!("{mode}, {content_type}: {body}");
                let (status, text) = reflect(&f, &client, &f.agent, &body, &headers).await?;
                ensure!(
                    status == 200,
                    "{context}: status {status}\n{}",
                    f.stack.logs()
                );
                assert_no_secret(&text, &context)?;
                ensure!(
                    text.contains("[REDACTED:agent-columns]")
                        && text.to_ascii_lowercase().contains("salary"),
                    "{context}: column names must stay readable: {text}"
                );
                let (_, text) = reflect(&f, &client, &f.analyst, &body, &headers).await?;
                ensure!(
                    text == body,
                    "{context}: the analyst's body changed: {text}"
                );
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_events_and_lines_are_masked_one_by_one_and_requests_too() -> anyhow::Result<()> {
    let f = fixture("").await?;
    let client = http2_client();
    // SSE: each event's JSON data is a document.
    let events = "event: row\ndata: {\"ssn\": \"ssn-value-one\", \"n\": 1}\n\ndata: [DONE]\n\n";
    let headers = [
        ("x-reflect-content-type", "text/event-stream"),
        ("x-reflect-chunk", "5"),
    ];
    let (status, text) = reflect(&f, &client, &f.agent, events, &headers).await?;
    ensure!(status == 200, "status {status}\n{}", f.stack.logs());
    assert_no_secret(&text, "SSE")?;
    ensure!(
        text == "event: row\ndata: {\"ssn\": \"[REDACTED:agent-fields]\", \"n\": 1}\n\ndata: [DONE]\n\n",
        "SSE framing changed: {text:?}"
    );
    let (_, text) = reflect(&f, &client, &f.analyst, events, &headers).await?;
    ensure!(text == events, "the analyst's events changed: {text:?}");

    // The request direction: the upstream (which echoes it) never receives the pin.
    let body = r#"{"user": "ann", "PIN-Code": "pin-value-seven"}"#;
    let (status, text) = reflect(
        &f,
        &client,
        &f.agent,
        body,
        &[
            ("content-type", "application/json"),
            ("x-reflect-content-type", "application/json"),
            ("x-check", "request"),
        ],
    )
    .await?;
    ensure!(status == 200, "status {status}\n{}", f.stack.logs());
    ensure!(
        text == r#"{"user": "ann", "PIN-Code": "[REDACTED:agent-request-fields]"}"#,
        "the request was not masked on its way: {text}"
    );
    let (_, text) = reflect(
        &f,
        &client,
        &f.analyst,
        body,
        &[
            ("content-type", "application/json"),
            ("x-reflect-content-type", "application/json"),
            ("x-check", "request"),
        ],
    )
    .await?;
    ensure!(text == body, "the analyst's request changed: {text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_document_too_large_to_hold_is_refused_not_leaked() -> anyhow::Result<()> {
    let f = fixture("limits:\n  max_buffered_body_bytes: 65536\n").await?;
    let client = http1_client();
    let big = serde_json::json!({
        // Larger than Envoy hands over in one message, so it must be held across them.
        "pad": "x".repeat(3 << 20),
        "ssn": "ssn-value-one",
    })
    .to_string();
    let headers = [
        ("x-reflect-content-type", "application/json"),
        ("x-reflect-chunk", "65536"),
    ];
    // Held across messages, it is refused: a 502 when Envoy has not sent the response
    // head yet, else the stream is cut. Only a document Envoy hands over whole in one
    // message is masked rather than refused. Either way the flagged value never arrives.
    let (status, received, complete) = reflect_raw(&f, &client, &f.agent, &big, &headers).await?;
    assert_no_secret(&received, "refused")?;
    let refused = (status == 502 && received.contains("fields_not_maskable")) || !complete;
    let masked_whole = status == 200
        && complete
        && serde_json::from_str::<serde_json::Value>(&received)
            .is_ok_and(|v| v["ssn"] == "[REDACTED:agent-fields]");
    ensure!(
        refused || masked_whole,
        "status {status}, complete {complete}: {} ... {}\n{}",
        &received[..received.len().min(200)],
        &received[received.len().saturating_sub(200)..],
        f.stack.logs()
    );
    // The same body in NDJSON lines below the limit streams through, masked.
    let lines: String = (0..50)
        .map(|i| {
            format!(
                "{{\"i\": {i}, \"ssn\": \"ssn-value-one\", \"pad\": \"{}\"}}\n",
                "y".repeat(500)
            )
        })
        .collect();
    let headers = [
        ("x-reflect-content-type", "application/x-ndjson"),
        ("x-reflect-chunk", "1000"),
    ];
    let (status, text) = reflect(&f, &client, &f.agent, &lines, &headers).await?;
    ensure!(status == 200, "status {status}\n{}", f.stack.logs());
    assert_no_secret(&text, "NDJSON")?;
    ensure!(text.lines().count() == 50, "lines lost");
    // Another identity is not masked, so nothing is held: it passes whole.
    let (status, text) = reflect(&f, &client, &f.analyst, &big, &headers).await?;
    ensure!(status == 200 && text == big, "status {status}");
    Ok(())
}

/// A query that renames a flagged column (an alias, an expression, a CTE or derived
/// table's column list, a UNION under the other side's name) gets the renamed column
/// masked too: the request's SQL is read before the response is. The upstream here
/// reflects the request, so each body is both the query (`sql`) and its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_column_renamed_by_the_query_is_still_masked() -> anyhow::Result<()> {
    let f = fixture("").await?;
    let client = http1_client();
    let cases = [
        ("SELECT id, salary AS pay FROM emp", r#"["id", "pay"]"#),
        (
            "select e.id, e.SALARY \"Take Home\" from emp e",
            r#"["id", "Take Home"]"#,
        ),
        ("SELECT id, upper(salary) FROM emp", r#"["id", "upper"]"#),
        (
            "SELECT id, upper(salary) FROM emp",
            r#"["id", "upper(salary)"]"#,
        ),
        ("SELECT id, salary || '' FROM emp", r#"["id", "?column?"]"#),
        (
            "WITH t(i, p) AS (SELECT id, salary FROM emp) SELECT i, p AS q FROM t",
            r#"["i", "q"]"#,
        ),
        (
            "SELECT s.id, s.z FROM (SELECT id, salary AS z FROM emp) AS s",
            r#"["id", "z"]"#,
        ),
        (
            "SELECT id, name AS label FROM team UNION ALL SELECT id, salary FROM emp",
            r#"["id", "label"]"#,
        ),
    ];
    for (sql, columns) in cases {
        let body = format!(
            r#"{{"sql": {}, "columns": {columns}, "rows": [[1, "salary-value-five"], [2, "salary-value-six"]]}}"#,
            serde_json::to_string(sql)?
        );
        let headers = [
            ("x-reflect-content-type", "application/json"),
            ("x-result", "sql"),
        ];
        let (status, text) = reflect(&f, &client, &f.agent, &body, &headers).await?;
        ensure!(status == 200, "{sql}: status {status}\n{}", f.stack.logs());
        assert_no_secret(&text, sql)?;
        let json: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{sql}: not JSON: {text}"))?;
        ensure!(
            json["rows"][0][0] == 1 && json["rows"][0][1] == "[REDACTED:agent-columns]",
            "{sql}: {text}"
        );
        let (_, text) = reflect(&f, &client, &f.analyst, &body, &headers).await?;
        ensure!(text == body, "{sql}: the analyst's body changed: {text}");
    }
    // A query that renames some other column leaves it readable.
    let body =
        r#"{"sql": "SELECT id AS pay FROM emp", "columns": ["pay"], "rows": [["kept-value"]]}"#;
    let headers = [
        ("x-reflect-content-type", "application/json"),
        ("x-result", "sql"),
    ];
    let (_, text) = reflect(&f, &client, &f.agent, body, &headers).await?;
    ensure!(
        text.contains("kept-value"),
        "an unrelated alias was masked: {text}"
    );
    Ok(())
}

/// A GraphQL alias renames a field in the response (`{ s: ssn }` answers `"s": …`): the
/// key rule follows the field under the alias the agent chose, at any depth and inside
/// fragments, and an alias of another field stays readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_key_renamed_by_a_graphql_alias_is_still_masked() -> anyhow::Result<()> {
    let f = fixture("").await?;
    let client = http1_client();
    let cases = [
        ("{ user { s: ssn } }", r#"{"user": {"s": "ssn-value-one"}}"#),
        (
            "query Q { u: user { ...F } } fragment F on User { tax_id: SSN }",
            r#"{"u": {"tax_id": "ssn-value-two"}}"#,
        ),
    ];
    for (query, data) in cases {
        // The upstream reflects the request: the document and the data it would answer.
        let body = format!(
            r#"{{"query": {}, "answer": {data}}}"#,
            serde_json::to_string(query)?
        );
        let (status, text) = graphql(&f, &client, &f.agent, &body).await?;
        ensure!(
            status == 200,
            "{query}: status {status}\n{}",
            f.stack.logs()
        );
        assert_no_secret(&text, query)?;
        ensure!(
            text.contains("[REDACTED:agent-graphql-fields]"),
            "{query}: {text}"
        );
        let (_, text) = graphql(&f, &client, &f.analyst, &body).await?;
        ensure!(text == body, "{query}: the analyst's body changed: {text}");
    }
    let body = r#"{"query": "{ user { ssn_note: name } }", "answer": {"user": {"ssn_note": "kept-value"}}}"#;
    let (_, text) = graphql(&f, &client, &f.agent, body).await?;
    ensure!(
        text.contains("kept-value"),
        "an alias of an unflagged field was masked: {text}"
    );
    Ok(())
}

/// POSTs a GraphQL request to `/graphql/reflect` (the upstream answers with it) as `token`.
async fn graphql(
    f: &Fixture,
    client: &reqwest::Client,
    token: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let response = client
        .post(f.stack.envoy.url("/graphql/reflect"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("x-reflect-content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}
