use std::path::PathBuf;

use super::testcases::{evaluate_request, TestIdentity, TestRequest};
use super::*;

fn policy(yaml: &str) -> Policy {
    Policy::from_sources(vec![(PathBuf::from("test.yaml"), yaml.to_string())])
        .unwrap_or_else(|err| panic!("{err}"))
}

fn request(method: &str, url: &str, body: Option<&str>) -> TestRequest {
    let mut headers = std::collections::BTreeMap::new();
    if body.is_some() {
        headers.insert("content-type".to_string(), "application/json".to_string());
    }
    TestRequest {
        method: method.into(),
        url: url.into(),
        headers,
        body: body.map(str::to_string),
        ..TestRequest::default()
    }
}

fn decide(policy: &Policy, req: &TestRequest) -> PolicyDecision {
    let (head, body) = req.to_parts().unwrap();
    let identity = req
        .identity
        .as_ref()
        .map(|i| crate::classify::IdentityFacts {
            subject: i.subject.clone(),
            groups: i.groups.clone(),
            kind: i.kind.clone(),
        });
    evaluate_request(policy, &head, body.as_deref(), identity).0
}

const LAYERED: &str = r#"
settings: { default: allow }
rules:
  - id: allow-health
    when: { path: /health }
    action: allow
  - id: hold-deletes
    when: { method: DELETE }
    action: hold
    reason: deletes need approval
  - id: deny-admin
    when: { path: "/admin/**" }
    unless: { identity: { group: admins } }
    action: deny
    reason: admin is for admins
  - id: observe-posts
    when: { method: POST }
    action: deny
    observe: true
"#;

#[test]
fn most_severe_matching_rule_wins_whatever_the_order() {
    let p = policy(LAYERED);
    let d = decide(&p, &request("DELETE", "http://x/admin/users/1", None));
    assert_eq!(
        (d.decision, d.rule.as_deref()),
        (Action::Deny, Some("deny-admin"))
    );
    assert_eq!(d.reason, "admin is for admins");
    assert_eq!(d.status, 403);
    let d = decide(&p, &request("DELETE", "http://x/things/1", None));
    assert_eq!(
        (d.decision, d.rule.as_deref()),
        (Action::Hold, Some("hold-deletes"))
    );
    let d = decide(&p, &request("GET", "http://x/health", None));
    assert_eq!(
        (d.decision, d.rule.as_deref()),
        (Action::Allow, Some("allow-health"))
    );
    let d = decide(&p, &request("GET", "http://x/other", None));
    assert_eq!((d.decision, d.rule), (Action::Allow, None));
}

#[test]
fn unless_exempts_and_observe_only_reports() {
    let p = policy(LAYERED);
    let mut req = request("GET", "http://x/admin/panel", None);
    req.identity = Some(TestIdentity {
        subject: "alice".into(),
        groups: vec!["admins".into()],
        kind: "human".into(),
    });
    assert_eq!(decide(&p, &req).decision, Action::Allow);
    let d = decide(&p, &request("POST", "http://x/things", Some("{}")));
    assert_eq!(d.decision, Action::Allow);
    assert_eq!(
        d.observed,
        vec![ObservedMatch {
            rule: "observe-posts".into(),
            action: Action::Deny
        }]
    );
}

#[test]
fn global_observe_mode_enforces_nothing_but_reports_everything() {
    let p = policy(&LAYERED.replace("default: allow", "default: deny, mode: observe"));
    let d = decide(&p, &request("DELETE", "http://x/admin/x", None));
    assert_eq!(d.decision, Action::Allow);
    let rules: Vec<_> = d.observed.iter().map(|o| o.rule.as_str()).collect();
    assert_eq!(rules, ["hold-deletes", "deny-admin"]);
    let d = decide(&p, &request("GET", "http://x/none", None));
    assert_eq!(d.decision, Action::Allow);
    assert_eq!(d.observed[0].rule, "default");
}

#[test]
fn default_deny_with_allow_rules() {
    let p = policy(
        "settings: { default: deny }\nrules:\n  - id: reads\n    when: { method: [GET, HEAD] }\n    action: allow\n",
    );
    assert_eq!(
        decide(&p, &request("GET", "http://x/a", None)).decision,
        Action::Allow
    );
    let d = decide(&p, &request("PUT", "http://x/a", Some("{}")));
    assert_eq!(d.decision, Action::Deny);
    assert!(d.reason.contains("default is deny"), "{}", d.reason);
}

#[test]
fn method_override_headers_count_as_the_method() {
    let p = policy(LAYERED);
    for header in [
        "x-http-method-override",
        "X-HTTP-Method",
        "x-method-override",
    ] {
        let mut req = request("POST", "http://x/things/1", Some("{}"));
        req.headers.insert(header.into(), "delete".into());
        assert_eq!(decide(&p, &req).decision, Action::Hold, "{header}");
    }
    let req = request("POST", "http://x/things/1?_method=DELETE", Some("{}"));
    assert_eq!(decide(&p, &req).decision, Action::Hold);
}

#[test]
fn path_rules_see_the_normalised_path() {
    let p = policy(LAYERED);
    for url in [
        "http://x/admin/x",
        "http://x//admin//x",
        "http://x/%61dmin/x",
        "http://x/public/../admin/x",
        "http://x/public/%2e%2e/admin/x",
        "http://x/public%2F..%2Fadmin/x",
        "http://x/admin",
        "http://x/admin/",
    ] {
        assert_eq!(
            decide(&p, &request("GET", url, None)).decision,
            Action::Deny,
            "{url}"
        );
    }
}

#[test]
fn effects_come_from_the_first_matching_rule_that_sets_them() {
    let p = policy(
        r#"
rules:
  - id: llm-no-response-masking
    when: { path: "/v1/**" }
    action: allow
    mask: { response: false }
    record: full
  - id: everything
    action: allow
    mask: { response: true, request: true }
    record: metadata
    inject: false
"#,
    );
    let d = decide(&p, &request("GET", "http://x/v1/models", None));
    assert_eq!(
        d.effects,
        Effects {
            mask_request: Some(true),
            mask_response: Some(false),
            record: Some(RecordLevel::Full),
            inject: Some(false),
            fields: Vec::new(),
        }
    );
}

#[test]
fn errors_name_file_field_line_and_column() {
    let bad = [
        (
            "rules:\n  - id: a\n    action: hold\n    when: { metod: GET }\n",
            "metod",
            "line 4",
        ),
        (
            "rules:\n  - id: a\n    action: hold\n    when:\n      sql: { kind: [dropp] }\n",
            "dropp",
            "line 5",
        ),
        ("rules:\n  - id: a\n    action: maybe\n", "maybe", "line 3"),
        (
            "rules:\n  - id: a\n    action: deny\n    when: { path: admin }\n",
            "starts with '/'",
            "line 4",
        ),
        (
            "rules:\n  - id: a\n    action: deny\n    when: { host: \"[\" }\n",
            "bad pattern",
            "line 4",
        ),
        (
            "rules:\n  - id: a\n    action: deny\n  - id: a\n    action: allow\n",
            "duplicate rule id",
            "",
        ),
        (
            "rules:\n  - id: a\n    action: deny\n    status: 200\n",
            "not an error status",
            "",
        ),
        (
            "rules:\n  - id: a\n    action: deny\n    when: { method: [] }\n",
            "empty list",
            "line 4",
        ),
    ];
    for (yaml, want, line) in bad {
        let err = Policy::from_sources(vec![(PathBuf::from("p/bad.yaml"), yaml.to_string())])
            .expect_err(yaml)
            .to_string();
        assert!(err.starts_with("p/bad.yaml: "), "{err}");
        assert!(err.contains(want), "{yaml}\n=> {err}");
        assert!(err.contains(line), "{yaml}\n=> {err}");
    }
}

#[test]
fn hash_covers_names_and_content() {
    let a = policy("rules: []\n");
    let b = policy("rules: [] \n");
    assert_ne!(a.hash(), b.hash());
    assert!(a.hash().starts_with("sha256:") && a.hash().len() == 7 + 64);
    assert_eq!(a.hash(), policy("rules: []\n").hash());
}

#[test]
fn the_built_in_pack_is_the_shipped_file_and_loads() {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policies/default.yaml"
    ))
    .unwrap();
    assert_eq!(shipped, DEFAULT_PACK);
    let p = Policy::builtin().unwrap();
    assert!(p.rule_count() >= 10);
}

#[test]
fn default_pack_tests_pass() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies"));
    let results = testcases::run_dir(&dir).unwrap();
    assert!(
        results.len() >= 40,
        "only {} default pack tests",
        results.len()
    );
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn a_failing_case_is_reported_with_its_facts() {
    let p = Policy::builtin().unwrap();
    let case: testcases::TestCase = serde_yaml_ng::from_str(
        r#"
name: wrong on purpose
request: { method: POST, url: "http://db/q", headers: { content-type: application/json }, body: '{"sql": "DROP TABLE t"}' }
expect: { decision: allow }
"#,
    )
    .unwrap();
    let result = testcases::run_case(&p, "f.yaml", &case);
    assert!(!result.passed);
    let message = result.message.unwrap();
    assert!(message.contains("expected allow, got hold"), "{message}");
    assert!(message.contains("\"drop\""), "{message}");
}

#[test]
fn body_rules_only_ask_for_the_body_when_their_head_conditions_hold() {
    let p = policy(
        "rules:\n  - id: db\n    when: { host: db.internal, sql: { kind: drop } }\n    action: deny\n",
    );
    let sql = p.sql_settings().clone();
    let head = |host: &str| {
        let (head, _) = request("POST", &format!("http://{host}/q"), Some("{}"))
            .to_parts()
            .unwrap();
        crate::classify::classify_head(&head, None, &sql)
    };
    assert!(p.needs_body(&head("db.internal")));
    assert!(!p.needs_body(&head("api.internal")));
}

mod reload {
    use super::super::watch::PolicyStore;

    #[test]
    fn a_bad_edit_keeps_the_last_good_policy_and_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, "rules:\n  - id: a\n    action: deny\n").unwrap();
        let store = PolicyStore::open(dir.path().to_path_buf()).unwrap();
        let first = store.current().hash().to_string();
        assert!(
            !store.reload().unwrap(),
            "unchanged content is not a reload"
        );

        std::fs::write(&file, "rules:\n  - id: a\n    action: nope\n").unwrap();
        let err = store.reload().unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("line 3"), "{err}");
        assert!(store.reload().is_err());
        assert_eq!(store.reload_failures(), 1, "the same bad edit counts once");
        assert_eq!(store.current().hash(), first, "the last good policy stays");

        std::fs::write(&file, "rules:\n  - id: b\n    action: hold\n").unwrap();
        assert!(store.reload().unwrap());
        assert_ne!(store.current().hash(), first);
        assert_eq!(store.reloads(), 1);

        std::fs::remove_file(&file).unwrap();
        assert!(
            store.reload().is_err(),
            "an emptied directory is an error, not an empty policy"
        );
        assert_eq!(store.reload_failures(), 2);
        assert_eq!(store.current().rule_count(), 1);
    }
}

#[test]
fn evasion_cases_decide_as_intended_without_envoy() {
    // The same cases the end-to-end evasion suite sends through Envoy; here they run
    // through the pure classification + policy path, so a regression shows up fast.
    #[derive(serde::Deserialize)]
    struct CaseFile {
        tests: Vec<testcases::TestCase>,
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../integration-tests/cases/evasion.yaml"
    );
    let file: CaseFile = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let policy = Policy::load_dir(&PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policies"
    )))
    .unwrap();
    let failed: Vec<_> = file
        .tests
        .iter()
        .map(|case| testcases::run_case(&policy, "evasion.yaml", case))
        .filter(|r| !r.passed)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// Every field the loader accepts is in the JSON Schema editors use, at the same place,
/// and the schema allows nothing the loader would refuse as unknown.
#[test]
fn the_json_schema_describes_every_field_the_loader_accepts() {
    const EVERYTHING: &str = r#"
settings:
  mode: observe
  default: hold
  default_reason: why
  sql: { fields: [sql], dialects: [postgres, mysql, generic] }
  approvals: { approvers: [sre], required: 1, justification: false, expires: 1h, use_within: 15m, wait: 30s, grant: 30m }
rules:
  - id: all
    description: d
    when: &all
      identity: { subject: a, group: b, kind: agent, authenticated: true }
      host: h
      method: GET
      path: /p
      header: { x-a: v }
      protocol: [http, kubernetes, git, sql, mcp, graphql, llm]
      sql: { kind: drop, table: t, unbounded: true, multiple: true, unparsed: false }
      kubernetes: { verb: delete, group: apps, resource: pods, subresource: exec, namespace: n, name: x, dry_run: false, risk: [privileged, opaque] }
      git: { service: receive_pack, ref: refs/heads/main, ref_action: delete }
      mcp: { method: tools/call, tool: t, tool_word: w, resource: r, malformed: false, suspicious_tool_name: true, code_execution: true }
      graphql: { operation: mutation, field: f, field_word: w, unparsed: false, opaque: false }
      llm: { api: openai_chat_completions, model: m, tool: t, tool_results: true, tool_calls: true }
      body: { unreadable: true }
    unless: *all
    action: hold
    reason: r
    observe: true
    status: 409
    mask:
      request: true
      response: false
      fields:
        - { path: "$.rows[*][3]", strategy: redact, direction: response }
        - { key: ssn, strategy: hash, direction: both }
        - { column: salary, strategy: partial, direction: request }
        - { key: x, strategy: drop }
    record: full
    inject: false
    approval: { approvers: [dba], required: 2, justification: true, expires: 2h, use_within: 5m, wait: 60s, grant: 1h, scope: db, bind_headers: [x-acme-region] }
"#;
    Policy::from_sources(vec![(PathBuf::from("all.yaml"), EVERYTHING.into())]).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../policies/warden-policy.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let yaml: serde_json::Value = serde_yaml_ng::from_str(EVERYTHING).unwrap();

    // Walks the document and the schema together; every object key must be a
    // property, every schema object must be closed (additionalProperties: false).
    fn walk(
        doc: &serde_json::Value,
        schema: &serde_json::Value,
        root: &serde_json::Value,
        at: &str,
    ) {
        let schema = match schema.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => root
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{at}: bad $ref {r}")),
            None => schema,
        };
        match doc {
            serde_json::Value::Object(map) => {
                if let Some(props) = schema.get("properties") {
                    assert_eq!(
                        schema["additionalProperties"], false,
                        "{at}: schema object is open"
                    );
                    for (key, value) in map {
                        let sub = props
                            .get(key)
                            .unwrap_or_else(|| panic!("{at}.{key} is not in the schema"));
                        walk(value, sub, root, &format!("{at}.{key}"));
                    }
                } else if let Some(extra) =
                    schema.get("additionalProperties").filter(|v| v.is_object())
                {
                    for (key, value) in map {
                        walk(value, extra, root, &format!("{at}.{key}"));
                    }
                }
            }
            serde_json::Value::Array(items) => {
                let item_schema = schema
                    .get("items")
                    .or_else(|| schema.get("oneOf").and_then(|o| o[1].get("items")));
                if let Some(item_schema) = item_schema {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, item_schema, root, &format!("{at}[{i}]"));
                    }
                }
            }
            serde_json::Value::String(s) => {
                let enumeration = schema
                    .get("enum")
                    .or_else(|| schema.get("oneOf").and_then(|o| o[0].get("enum")));
                if let Some(values) = enumeration.and_then(|e| e.as_array()) {
                    assert!(
                        values.iter().any(|v| v == s),
                        "{at}: {s:?} is not in the schema's enum {values:?}"
                    );
                }
            }
            _ => {}
        }
    }
    walk(&yaml, &schema, &schema, "$");
}

const NEW_CONDITIONS: &str = r#"
rules:
  - id: k8s-privileged
    when: { kubernetes: { verb: [create, patch], risk: [privileged, host_path] } }
    action: hold
  - id: push-main
    when: { git: { service: receive_pack, ref: refs/heads/main } }
    action: hold
  - id: mcp-exec
    when: { mcp: { code_execution: true } }
    action: hold
  - id: gql-words
    when: { graphql: { operation: mutation, field_word: delete } }
    action: hold
  - id: gql-opaque
    when: { graphql: { opaque: true } }
    action: deny
"#;

#[test]
fn kubernetes_risks_need_the_body_and_match_per_reading() {
    let p = policy(NEW_CONDITIONS);
    let url = "http://k/api/v1/namespaces/a/pods";
    let (head, _) = request("POST", url, Some("{}")).to_parts().unwrap();
    let facts = crate::classify::classify_head(&head, None, p.sql_settings());
    assert!(p.needs_body(&facts), "a risk condition needs the body");
    let privileged =
        r#"{"kind": "Pod", "spec": {"containers": [{"securityContext": {"privileged": true}}]}}"#;
    let d = decide(&p, &request("POST", url, Some(privileged)));
    assert_eq!(d.rule.as_deref(), Some("k8s-privileged"));
    // The verb is part of the same reading: a GET with that body is not a create.
    let d = decide(&p, &request("GET", url, Some(privileged)));
    assert_eq!(d.rule, None);
    let d = decide(&p, &request("POST", url, Some(r#"{"kind": "Pod"}"#)));
    assert_eq!(d.rule, None);
}

#[test]
fn ref_api_calls_match_git_conditions_and_unknown_refs_match_any() {
    let p = policy(NEW_CONDITIONS);
    for (method, url, body) in [
        (
            "PATCH",
            "http://gh/repos/o/r/git/refs/heads/main",
            Some(r#"{"sha": "x"}"#),
        ),
        (
            "POST",
            "http://gh/repos/o/r/merges",
            Some(r#"{"base": "main", "head": "f"}"#),
        ),
        (
            "POST",
            "http://gh/repos/o/r/git/refs",
            Some(r#"{"sha": "x"}"#),
        ),
        ("PUT", "http://gh/repos/o/r/pulls/1/merge", None),
    ] {
        let d = decide(&p, &request(method, url, body));
        assert_eq!(d.rule.as_deref(), Some("push-main"), "{method} {url}");
    }
    let d = decide(
        &p,
        &request(
            "POST",
            "http://gh/repos/o/r/merges",
            Some(r#"{"base": "dev", "head": "f"}"#),
        ),
    );
    assert_eq!(d.rule, None);
}

#[test]
fn mcp_code_execution_and_graphql_words_and_opaque() {
    let p = policy(NEW_CONDITIONS);
    let call = r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "run_python", "arguments": {}}}"#;
    let d = decide(&p, &request("POST", "http://m/mcp", Some(call)));
    assert_eq!(d.rule.as_deref(), Some("mcp-exec"));
    let d = decide(
        &p,
        &request(
            "POST",
            "http://a/graphql",
            Some(r#"{"query": "mutation { productDelete(id: 1) }"}"#),
        ),
    );
    assert_eq!(d.rule.as_deref(), Some("gql-words"));
    let d = decide(
        &p,
        &request(
            "POST",
            "http://a/graphql",
            Some(r#"{"query": "mutation { productCreate(id: 1) { deletedAt } }"}"#),
        ),
    );
    assert_eq!(d.rule, None);
    // A persisted query is opaque, and could be any operation.
    let d = decide(
        &p,
        &request("POST", "http://a/graphql", Some(r#"{"documentId": "abc"}"#)),
    );
    assert_eq!(
        (d.decision, d.rule.as_deref()),
        (Action::Deny, Some("gql-opaque"))
    );
}

#[test]
fn field_rules_of_every_matching_rule_apply_and_bad_ones_are_located() {
    let p = policy(
        r#"
rules:
  - id: a
    when: { host: db.internal }
    action: allow
    mask: { fields: [ { key: ssn } ] }
  - id: b
    when: { host: db.* }
    action: allow
    mask: { response: false, fields: [ { column: salary, strategy: hash }, { path: "$.rows[*][3]", direction: request } ] }
"#,
    );
    let d = decide(&p, &request("GET", "http://db.internal/q", None));
    let named: Vec<(&str, Option<&str>)> = d
        .effects
        .fields
        .iter()
        .map(|f| {
            (
                &*f.rule_id,
                f.spec().key.as_deref().or(f.spec().column.as_deref()),
            )
        })
        .collect();
    assert_eq!(
        named,
        [("a", Some("ssn")), ("b", Some("salary")), ("b", None)]
    );
    assert!(p.flags_fields(crate::redact::Direction::Request));
    let json = serde_json::to_value(&d.effects).unwrap();
    assert_eq!(
        json["fields"][1],
        serde_json::json!({"rule": "b", "column": "salary", "strategy": "hash", "direction": "response"})
    );
    let none = decide(&p, &request("GET", "http://api.internal/q", None));
    assert!(none.effects.fields.is_empty());

    for (bad, field) in [
        (
            "mask: { fields: [ { key: a, column: b } ] }",
            "rules[0].mask.fields[0]",
        ),
        (
            "mask: { fields: [ {}, { path: \"a.b\" } ] }",
            "rules[0].mask.fields[0]",
        ),
        (
            "mask: { fields: [ { path: \"$.a\" }, { path: \"$.a[?(@.x)]\" } ] }",
            "rules[0].mask.fields[1]",
        ),
    ] {
        let text = format!("rules:\n  - id: r\n    action: allow\n    {bad}\n");
        let err = Policy::from_sources(vec![(PathBuf::from("f.yaml"), text)]).unwrap_err();
        assert!(err.to_string().contains(field), "{err}");
    }
    let err = Policy::from_sources(vec![(
        PathBuf::from("f.yaml"),
        "rules:\n  - id: r\n    action: allow\n    mask: { fields: [ { key: a, strategy: blur } ] }\n".into(),
    )])
    .unwrap_err();
    assert!(err.to_string().contains("blur"), "{err}");
}
