//! Policy benchmarks, printed in one run:
//!
//! * decision time for a header-only request against a 200-rule policy (classification
//!   of the head + evaluation), p50/p99/max over many single decisions
//!   (target: p99 <= 10 µs);
//! * SQL classification of a ~2 KB statement (target: <= 50 µs), with the
//!   same classification forced through sqlparser and sqlparser's bare parse
//!   for comparison;
//! * a full body decision (MCP tool call with SQL arguments) for reference.
//!
//! Run: `cargo bench -p warden --bench policy`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use warden::classify::{self, sql, IdentityFacts, SqlSettings};
use warden::http::{Headers, RequestHead};
use warden::policy::testcases::evaluate_request;
use warden::policy::Policy;

/// 200 rules of the shapes real policies have, plus the default pack's rules.
fn two_hundred_rules() -> Policy {
    let mut yaml = String::from("rules:\n");
    for i in 0..200 {
        let rule = match i % 8 {
            0 => format!("  - id: host-{i}\n    when: {{ host: \"svc-{i}.internal\", method: [DELETE, PUT] }}\n    action: hold\n"),
            1 => format!("  - id: path-{i}\n    when: {{ path: \"/tenants/{i}/admin/**\" }}\n    unless: {{ identity: {{ group: \"admins-{i}\" }} }}\n    action: deny\n"),
            2 => format!("  - id: group-{i}\n    when: {{ identity: {{ group: \"contractors-{i}\" }}, method: POST }}\n    action: hold\n"),
            3 => format!("  - id: header-{i}\n    when: {{ header: {{ x-tenant: \"t-{i}\" }}, path: \"/billing/*\" }}\n    action: deny\n"),
            4 => format!("  - id: k8s-{i}\n    when: {{ kubernetes: {{ namespace: \"team-{i}\", verb: [delete, patch] }} }}\n    action: hold\n"),
            5 => format!("  - id: sql-{i}\n    when: {{ host: \"db-{i}.internal\", sql: {{ table: \"t{i}_*\", kind: [delete, update] }} }}\n    action: hold\n"),
            6 => format!("  - id: mcp-{i}\n    when: {{ host: \"mcp-{i}.internal\", mcp: {{ tool: \"tool_{i}_*\" }} }}\n    action: hold\n"),
            _ => format!("  - id: subject-{i}\n    when: {{ identity: {{ subject: \"agent-{i}-*\" }}, path: \"/v{i}/**\" }}\n    action: allow\n"),
        };
        yaml.push_str(&rule);
    }
    Policy::from_sources(vec![
        (
            PathBuf::from("a-default.yaml"),
            warden::policy::DEFAULT_PACK.to_string(),
        ),
        (PathBuf::from("b-200.yaml"), yaml),
    ])
    .expect("bench policy loads")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn time_each(iterations: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..iterations / 10 {
        f();
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        f();
        samples.push(start.elapsed());
    }
    samples.sort();
    samples
}

fn report(name: &str, samples: &[Duration], target: Option<(f64, &str)>) {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let p50 = us(percentile(samples, 0.50));
    let p99 = us(percentile(samples, 0.99));
    let max = us(*samples.last().unwrap_or(&Duration::ZERO));
    let verdict = match target {
        Some((limit, which)) => {
            let value = if which == "p99" { p99 } else { p50 };
            format!(
                "  target {which} <= {limit} µs: {}",
                if value <= limit { "met" } else { "MISSED" }
            )
        }
        None => String::new(),
    };
    println!("{name:<58} p50 {p50:>8.2} µs  p99 {p99:>8.2} µs  max {max:>9.2} µs{verdict}");
}

fn main() {
    let policy = two_hundred_rules();
    println!("policy: {} rules ({})", policy.rule_count(), policy.hash());
    let sql_settings = SqlSettings::default();

    let mut headers = Headers::new();
    headers.push("user-agent", "agent-sdk/1.0");
    headers.push("accept", "application/json");
    headers.push("x-tenant", "t-999");
    headers.push("authorization", "Bearer redacted");
    let head = RequestHead {
        method: "GET".into(),
        scheme: "http".into(),
        authority: "api.internal:8080".into(),
        path: "/tenants/77/reports/2026/q3?format=json&page=2".into(),
        headers,
    };
    let identity = IdentityFacts {
        subject: "agent-7".into(),
        groups: vec!["agents".into(), "team-a".into()],
        kind: "agent".into(),
    };
    let samples = time_each(200_000, || {
        let facts =
            classify::classify_head(black_box(&head), Some(identity.clone()), &sql_settings);
        black_box(policy.evaluate(&facts));
    });
    report(
        "header-only decision, 200+ rules (classify head + evaluate)",
        &samples,
        Some((10.0, "p99")),
    );

    let facts = classify::classify_head(&head, Some(identity.clone()), &sql_settings);
    let samples = time_each(200_000, || {
        black_box(classify::classify_head(
            black_box(&head),
            Some(identity.clone()),
            &sql_settings,
        ));
    });
    report("  of which: classify head", &samples, None);
    let samples = time_each(200_000, || {
        black_box(policy.evaluate(black_box(&facts)));
    });
    report("  of which: evaluate 200+ rules", &samples, None);

    let mut k8s_head = head.clone();
    k8s_head.method = "DELETE".into();
    k8s_head.path = "/apis/apps/v1/namespaces/team-42/deployments/web".into();
    let samples = time_each(200_000, || {
        let facts =
            classify::classify_head(black_box(&k8s_head), Some(identity.clone()), &sql_settings);
        black_box(policy.evaluate(&facts));
    });
    report(
        "header-only decision, Kubernetes delete",
        &samples,
        Some((10.0, "p99")),
    );

    // ~2 KB of realistic SQL: a reporting query with joins, CTE and subqueries.
    let mut statement = String::from(
        "WITH recent AS (SELECT o.id, o.customer_id, o.total, o.created_at FROM orders o \
         WHERE o.created_at > now() - interval '30 days' AND o.status IN ('paid', 'shipped')), \
         ranked AS (SELECT r.customer_id, sum(r.total) AS spend, count(*) AS n FROM recent r \
         GROUP BY r.customer_id HAVING count(*) > 2) SELECT c.id, c.name, c.email, k.spend, k.n, \
         (SELECT max(p.amount) FROM payments p WHERE p.customer_id = c.id) AS biggest FROM customers c \
         JOIN ranked k ON k.customer_id = c.id LEFT JOIN regions g ON g.id = c.region_id WHERE ",
    );
    let mut i = 0;
    while statement.len() < 2000 {
        statement.push_str(&format!(
            "(c.segment = 'seg{i}' AND g.code <> 'R{i}' AND k.spend BETWEEN {i} AND {}) OR ",
            i * 1000 + 999
        ));
        i += 1;
    }
    statement.push_str("false ORDER BY k.spend DESC LIMIT 100");
    println!("SQL statement: {} bytes", statement.len());
    let dialects = sql_settings.dialects.clone();
    let samples = time_each(20_000, || {
        black_box(sql::classify_sql(black_box(&statement), &dialects));
    });
    report(
        "SQL classification, ~2 KB statement (postgres+mysql+generic)",
        &samples,
        Some((50.0, "p50")),
    );
    // The same classification forced through sqlparser (no fast path): the
    // "before" figure, measured in the same run.
    let samples = time_each(20_000, || {
        black_box(sql::classify_sql_full(black_box(&statement), &dialects));
    });
    report(
        "  sqlparser path (fast path off, postgres+mysql+generic)",
        &samples,
        None,
    );
    // The floor: sqlparser's own parse of the same text, once, generic dialect.
    let samples = time_each(20_000, || {
        black_box(sqlparser::parser::Parser::parse_sql(
            &sqlparser::dialect::GenericDialect {},
            black_box(&statement),
        ))
        .ok();
    });
    report(
        "  floor: sqlparser parse alone (generic, one dialect)",
        &samples,
        None,
    );
    let postgres = [sql::SqlDialect::Postgres];
    let samples = time_each(20_000, || {
        black_box(sql::classify_sql(black_box(&statement), &postgres));
    });
    report(
        "SQL classification, ~2 KB statement (postgres only)",
        &samples,
        Some((50.0, "p50")),
    );

    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "run_query", "arguments": {"sql": "DELETE FROM sessions WHERE expires < now()"}}
    })
    .to_string();
    let mut mcp_head = head.clone();
    mcp_head.method = "POST".into();
    mcp_head.path = "/mcp".into();
    mcp_head.headers.push("content-type", "application/json");
    mcp_head
        .headers
        .push("content-length", body.len().to_string());
    let samples = time_each(50_000, || {
        black_box(evaluate_request(
            &policy,
            &mcp_head,
            Some(body.as_bytes()),
            Some(identity.clone()),
        ));
    });
    report(
        "body decision: MCP tools/call with SQL arguments",
        &samples,
        None,
    );
}
