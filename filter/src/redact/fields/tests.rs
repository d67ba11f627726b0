use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::redact::ContentKind;

fn rule(id: &str, spec: FieldSpec) -> Arc<FieldRule> {
    Arc::new(FieldRule::compile(id, &spec).unwrap())
}

fn key(name: &str) -> FieldSpec {
    FieldSpec {
        key: Some(name.into()),
        ..FieldSpec::default()
    }
}

fn path(p: &str) -> FieldSpec {
    FieldSpec {
        path: Some(p.into()),
        ..FieldSpec::default()
    }
}

fn column(name: &str) -> FieldSpec {
    FieldSpec {
        column: Some(name.into()),
        ..FieldSpec::default()
    }
}

fn set(rules: &[Arc<FieldRule>]) -> Arc<FieldSet> {
    Arc::new(FieldSet::new(rules, Direction::Response))
}

const LIMIT: usize = 1 << 20;

/// Masks `body` whole and in chunks of every size up to 17 (and a few more); all must
/// agree. Returns the whole result.
fn masked(set: &Arc<FieldSet>, kind: ContentKind, body: &str) -> Result<String, FieldError> {
    let whole = FieldMasker::new(Arc::clone(set), kind, Direction::Response, b"k", LIMIT)
        .whole(body.as_bytes());
    for size in (1..18).chain([31, 64, 1000]) {
        let mut masker = FieldMasker::new(Arc::clone(set), kind, Direction::Response, b"k", LIMIT);
        let mut out = Vec::new();
        let mut result = Ok(());
        for chunk in body.as_bytes().chunks(size) {
            result = result.and_then(|()| masker.push(chunk, &mut out));
        }
        result = result.and_then(|()| masker.finish(&mut out));
        match (&whole, result) {
            (Ok((w, _)), Ok(())) => assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(w),
                "{size}-byte chunks"
            ),
            (Err(a), Err(b)) => assert_eq!(*a, b, "{size}-byte chunks"),
            (w, r) => panic!("{size}-byte chunks: whole {w:?}, chunked {r:?}"),
        }
    }
    whole.map(|(out, _)| String::from_utf8(out).unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn key_rules_match_any_depth_and_any_spelling() {
    let s = set(&[
        rule("pii", key("ssn")),
        rule("pii", key("social_security_number")),
    ]);
    let body = r#"{"SSN": "123-45-6789", "a": [{"s\u0073n": 987654321}, {"Social-Security-Number": {"x": 1}}],
        "socialSecurityNumber": "555-12-3456", "S_S_N": true, "ѕsn": "cyrillic", "note": "ssn is fine as text"}"#;
    let out = masked(&s, ContentKind::Json, body).unwrap();
    let v = json_of(&out);
    for secret in [
        "123-45-6789",
        "987654321",
        "555-12-3456",
        "cyrillic",
        "\"x\"",
    ] {
        assert!(!out.contains(secret), "{secret}: {out}");
    }
    assert_eq!(v["SSN"], "[REDACTED:pii]");
    assert_eq!(v["a"][1]["Social-Security-Number"], "[REDACTED:pii]");
    assert_eq!(v["note"], "ssn is fine as text");
}

#[test]
fn json_paths_select_exactly_what_they_name() {
    let s = set(&[
        rule("p", path("$.customers[*].ssn")),
        rule("p", path("$..card")),
        rule("p", path("$.rows[*][3]")),
        rule("p", path("$['odd key']")),
    ]);
    let body = r#"{"customers": [{"ssn": "1", "name": "a"}, {"ssn": "2"}], "ssn": "top stays",
        "deep": {"x": [{"card": "4111"}]}, "rows": [[0, 1, 2, "three", 4], [0, 1, 2, {"n": 3}]],
        "odd key": "gone"}"#;
    let out = masked(&s, ContentKind::Json, body).unwrap();
    let v = json_of(&out);
    assert_eq!(v["customers"][0]["ssn"], "[REDACTED:p]");
    assert_eq!(v["customers"][0]["name"], "a");
    assert_eq!(v["ssn"], "top stays");
    assert_eq!(v["deep"]["x"][0]["card"], "[REDACTED:p]");
    assert_eq!(v["rows"][0], json!([0, 1, 2, "[REDACTED:p]", 4]));
    assert_eq!(v["rows"][1][3], "[REDACTED:p]");
    assert_eq!(v["odd key"], "[REDACTED:p]");
}

#[test]
fn strategies_keep_the_document_valid() {
    let drop = FieldSpec {
        strategy: Strategy::Drop,
        ..key("ssn")
    };
    let s = set(&[
        rule("d", drop),
        rule(
            "h",
            FieldSpec {
                strategy: Strategy::Hash,
                ..key("email")
            },
        ),
        rule(
            "p",
            FieldSpec {
                strategy: Strategy::Partial,
                ..key("account")
            },
        ),
    ]);
    for body in [
        r#"{"ssn": 1, "a": 2}"#,
        r#"{"a": 2, "ssn": 1}"#,
        r#"{"ssn": 1}"#,
        r#"{"ssn": 1, "SSN": 2, "a": 3, "s_s_n": 4, "b": 5, "ssN": 6}"#,
        r#"[{"ssn":1},{"x":{"ssn":[1,2],"y":1}}]"#,
    ] {
        let out = masked(&s, ContentKind::Json, body).unwrap();
        let v = json_of(&out);
        assert!(!out.to_ascii_lowercase().contains("ssn"), "{out}");
        let _ = v;
    }
    let out = masked(
        &s,
        ContentKind::Json,
        r#"{"email": "a@b.c", "again": {"email": "a@b.c"}, "account": "GB29NWBK60161331926819"}"#,
    )
    .unwrap();
    let v = json_of(&out);
    assert!(v["email"].as_str().unwrap().starts_with("[HASH:h:"));
    assert_eq!(v["email"], v["again"]["email"], "equal values correlate");
    assert_eq!(v["account"], "[REDACTED:p:...6819]");
}

#[test]
fn sql_columns_are_found_in_the_common_result_shapes() {
    let s = set(&[rule("cols", column("salary")), rule("cols", column("ssn"))]);
    let cases = [
        // Generic / Datasette / D1.
        r#"{"columns": ["id", "salary", "name"], "rows": [[1, 90000, "a"], [2, 120000, "b"]]}"#,
        // Trino, Elasticsearch.
        r#"{"columns": [{"name": "id", "type": "integer"}, {"name": "SALARY", "type": "integer"}, {"name": "name"}],
            "data": [[1, 90000, "a"], [2, 120000, "b"]]}"#,
        // Databricks.
        r#"{"statement_id": "x", "manifest": {"schema": {"column_count": 3, "columns": [
            {"name": "id", "position": 0}, {"name": "salary", "position": 1}, {"name": "name", "position": 2}]}},
            "result": {"data_array": [["1", "90000", "a"], ["2", "120000", "b"]]}}"#,
        // Snowflake.
        r#"{"resultSetMetaData": {"numRows": 2, "rowType": [{"name": "ID"}, {"name": "SALARY"}, {"name": "NAME"}]},
            "data": [["1", "90000", "a"], ["2", "120000", "b"]]}"#,
        // ClickHouse JSONCompact.
        r#"{"meta": [{"name": "id", "type": "UInt32"}, {"name": "e.salary", "type": "UInt32"}, {"name": "name", "type": "String"}],
            "data": [[1, 90000, "a"], [2, 120000, "b"]], "rows": 2}"#,
        // BigQuery.
        r#"{"schema": {"fields": [{"name": "id"}, {"name": "salary"}, {"name": "name"}]},
            "rows": [{"f": [{"v": "1"}, {"v": "90000"}, {"v": "a"}]}, {"f": [{"v": "2"}, {"v": "120000"}, {"v": "b"}]}]}"#,
        // Turso / Hrana.
        r#"{"results": [{"type": "ok", "response": {"type": "execute", "result": {
            "cols": [{"name": "id", "decltype": "INTEGER"}, {"name": "salary"}, {"name": "name"}],
            "rows": [[{"type": "integer", "value": "1"}, {"type": "integer", "value": "90000"}, {"type": "text", "value": "a"}],
                     [{"type": "integer", "value": "2"}, {"type": "integer", "value": "120000"}, {"type": "text", "value": "b"}]]}}}]}"#,
        // Arrays of objects (PostgREST, ClickHouse JSON data, Neon).
        r#"[{"id": 1, "salary": 90000, "name": "a"}, {"id": 2, "Salary": 120000, "name": "b"}]"#,
    ];
    for body in cases {
        let out = masked(&s, ContentKind::Json, body).unwrap();
        json_of(&out);
        assert!(
            !out.contains("90000") && !out.contains("120000"),
            "{body}\n-> {out}"
        );
        assert!(out.contains("[REDACTED:cols]"), "{out}");
        // The other columns and the column names stay readable.
        assert!(out.contains("\"a\"") && out.contains("\"b\""), "{out}");
        assert!(out.to_ascii_lowercase().contains("salary"), "{out}");
    }
}

#[test]
fn rows_whose_columns_cannot_be_known_are_masked_whole() {
    let s = set(&[rule("cols", column("salary"))]);
    // A Databricks result chunk: no manifest.
    let out = masked(
        &s,
        ContentKind::Json,
        r#"{"chunk_index": 1, "data_array": [["1", "90000"], ["2", "120000"]]}"#,
    )
    .unwrap();
    assert!(!out.contains("90000") && !out.contains("120000"), "{out}");
    // More cells than named columns.
    let out = masked(
        &s,
        ContentKind::Json,
        r#"{"columns": ["id"], "rows": [[1, 90000]]}"#,
    )
    .unwrap();
    assert!(!out.contains("90000"), "{out}");
    assert!(out.contains("[[1,"), "{out}");
    // Results without flagged columns are left alone.
    let body = r#"{"columns": ["id", "name"], "rows": [[1, "a"]]}"#;
    assert_eq!(masked(&s, ContentKind::Json, body).unwrap(), body);
}

#[test]
fn ndjson_lines_with_a_header_row_are_masked_by_position() {
    let s = set(&[rule("cols", column("salary"))]);
    let body = "[\"id\",\"salary\"]\n[1,90000]\n[2,120000]\n";
    let out = masked(&s, ContentKind::Ndjson, body).unwrap();
    assert_eq!(
        out,
        "[\"id\",\"salary\"]\n[1,\"[REDACTED:cols]\"]\n[2,\"[REDACTED:cols]\"]\n"
    );
    // Without a header naming a flagged column, every cell.
    let out = masked(&s, ContentKind::Ndjson, "[1,90000]\n").unwrap();
    assert!(!out.contains("90000") && !out.contains("1,"), "{out}");
    // Objects, one per line.
    let out = masked(
        &s,
        ContentKind::Ndjson,
        "{\"id\":1,\"salary\":90000}\r\n{\"id\":2,\"salary\":120000}",
    )
    .unwrap();
    assert_eq!(
        out,
        "{\"id\":1,\"salary\":\"[REDACTED:cols]\"}\r\n{\"id\":2,\"salary\":\"[REDACTED:cols]\"}"
    );
}

#[test]
fn event_stream_data_is_masked_event_by_event() {
    let s = set(&[rule("k", key("ssn"))]);
    let body = "event: row\ndata: {\"ssn\": \"123-45-6789\",\ndata:  \"n\": 1}\nid: 7\n\n: comment\n\ndata: [DONE]\n\ndata: {\"ssn\": 5}\r\n\r\n";
    let out = masked(&s, ContentKind::EventStream, body).unwrap();
    assert!(
        !out.contains("123-45-6789") && !out.contains(": 5"),
        "{out}"
    );
    assert!(
        out.starts_with(
            "event: row\ndata: {\"ssn\": \"[REDACTED:k]\",\ndata:  \"n\": 1}\nid: 7\n\n"
        ),
        "{out}"
    );
    assert!(out.contains("data: [DONE]\n\n"), "{out}");
    assert!(
        out.ends_with("data: {\"ssn\": \"[REDACTED:k]\"}\r\n\r\n"),
        "{out}"
    );
}

#[test]
fn form_fields_are_masked_by_name() {
    let s = set(&[rule("k", key("ssn")), rule("c", column("salary"))]);
    let out = masked(
        &s,
        ContentKind::Form,
        "name=a&SSN=123-45-6789&s%73n=1;salary=90000&x=y",
    )
    .unwrap();
    assert_eq!(
        out,
        "name=a&SSN=%5BREDACTED%3Ak%5D&s%73n=%5BREDACTED%3Ak%5D;salary=%5BREDACTED%3Ac%5D&x=y"
    );
}

#[test]
fn the_bytes_decide_what_a_body_is() {
    let s = set(&[rule("k", key("ssn"))]);
    // JSON under a text label, with a BOM, an anti-XSSI prefix, or concatenated.
    for (kind, body) in [
        (ContentKind::Text, "  {\"ssn\": 1}"),
        (ContentKind::Binary, "\u{feff}{\"ssn\": 1}"),
        (ContentKind::Json, ")]}'\n{\"ssn\": 1}"),
        (
            ContentKind::Json,
            "{\"ssn\": 1}{\"ssn\": 2}\x1e[{\"ssn\": 3}] 7",
        ),
    ] {
        let out = masked(&s, kind, body).unwrap();
        assert!(
            !out.contains(": 1") && !out.contains(": 2") && !out.contains(": 3"),
            "{out}"
        );
        assert!(out.contains("[REDACTED:k]"), "{out}");
    }
    // Text that is not JSON has no fields.
    let text = "ssn: 123-45-6789 (not JSON)";
    assert_eq!(masked(&s, ContentKind::Text, text).unwrap(), text);
}

#[test]
fn what_cannot_be_read_is_an_error_not_a_pass() {
    let s = set(&[rule("k", key("ssn"))]);
    for (kind, body) in [
        (ContentKind::Json, "{\"ssn\": 1,}"),
        (ContentKind::Json, "ssn=1"),
        (ContentKind::Text, "{\"ssn\": 1"),
        (ContentKind::Json, "{\"ssn\": 1} trailing"),
    ] {
        assert!(
            matches!(masked(&s, kind, body), Err(FieldError::Malformed(_))),
            "{body}"
        );
    }
    let utf16: String = "{\"ssn\": 1}"
        .encode_utf16()
        .map(|u| char::from(u as u8))
        .collect();
    let mut bytes = vec![0xffu8, 0xfe];
    bytes.extend("{\"ssn\": 1}".encode_utf16().flat_map(u16::to_le_bytes));
    let _ = utf16;
    let r = FieldMasker::new(
        Arc::clone(&s),
        ContentKind::Json,
        Direction::Response,
        b"",
        LIMIT,
    )
    .whole(&bytes);
    assert_eq!(r.unwrap_err(), FieldError::Unreadable);
    // One document larger than the limit: refused, whatever the chunking.
    let big = format!("{{\"pad\": \"{}\", \"ssn\": 1}}", "x".repeat(100));
    let mut masker = FieldMasker::new(
        Arc::clone(&s),
        ContentKind::Json,
        Direction::Response,
        b"",
        64,
    );
    let mut out = Vec::new();
    let result = big
        .as_bytes()
        .chunks(10)
        .try_for_each(|c| masker.push(c, &mut out))
        .and_then(|()| masker.finish(&mut out));
    assert_eq!(result, Err(FieldError::TooLarge { limit: 64 }));
    assert!(!String::from_utf8_lossy(&out).contains("\"ssn\": 1"));
    // Many small documents are fine under the same limit.
    let lines = "{\"ssn\": 1}\n".repeat(100);
    let out = FieldMasker::new(
        Arc::clone(&s),
        ContentKind::Ndjson,
        Direction::Response,
        b"",
        64,
    )
    .whole(lines.as_bytes())
    .unwrap()
    .0;
    assert!(!String::from_utf8_lossy(&out).contains(": 1"));
}

#[test]
fn rules_cover_their_direction_only() {
    let both = FieldSpec {
        direction: FieldDirection::Both,
        ..key("a")
    };
    let request = FieldSpec {
        direction: FieldDirection::Request,
        ..key("b")
    };
    let rules = [rule("r", key("c")), rule("r", both), rule("r", request)];
    assert_eq!(FieldSet::new(&rules, Direction::Response).rules().len(), 2);
    assert_eq!(FieldSet::new(&rules, Direction::Request).rules().len(), 2);
}

#[test]
fn a_spec_names_exactly_one_field() {
    assert!(FieldRule::compile("r", &FieldSpec::default()).is_err());
    let two = FieldSpec {
        key: Some("a".into()),
        column: Some("b".into()),
        ..FieldSpec::default()
    };
    assert!(FieldRule::compile("r", &two).is_err());
    assert!(FieldRule::compile("r", &key("--")).is_err());
    assert!(FieldRule::compile("r", &path("$.a[?(@.b)]")).is_err());
}

#[test]
fn findings_point_at_the_masked_bytes() {
    let s = set(&[rule("k", key("ssn"))]);
    let body = b"{\"a\": 1}\n{\"ssn\": \"123\"}";
    let (_, findings) = FieldMasker::new(s, ContentKind::Ndjson, Direction::Response, b"", LIMIT)
        .whole(body)
        .unwrap();
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(&*f.rule_id, "field:k");
    assert_eq!(f.kind, FindingKind::Field);
    assert_eq!(
        &body[f.offset as usize..(f.offset + f.len) as usize],
        b"\"123\""
    );
}

#[test]
fn a_whole_path_gives_the_same_answer_as_the_cursor() {
    let s = set(&[rule("p", path("$.a[*].b")), rule("k", key("ssn"))]);
    let ix = |index| PathStep::Index { index, len: None };
    let at = |steps: &[PathStep<'_>]| {
        s.rule_at(steps.iter().copied())
            .map(|r| r.rule_id.to_string())
    };
    assert_eq!(
        at(&[PathStep::Key("a"), ix(2), PathStep::Key("b")]),
        Some("p".into())
    );
    assert_eq!(
        at(&[PathStep::Key("x"), ix(0), PathStep::Key("S-S-N")]),
        Some("k".into())
    );
    assert_eq!(at(&[PathStep::Key("a"), ix(2)]), None);
    assert_eq!(at(&[]), None);
}

#[test]
fn the_structure_layer_hook_masks_what_the_set_selects() {
    use crate::redact::{RedactOptions, Redactor, RulePack, StructureOptions};
    let s = set(&[rule("p", path("$.a[*].b")), rule("k", key("ssn"))]);
    let options = RedactOptions {
        structure: StructureOptions {
            field_rules: Some(s),
            ..StructureOptions::default()
        },
        ..RedactOptions::default()
    };
    let redactor = Redactor::new(&RulePack::default_pack().unwrap(), &options).unwrap();
    let body =
        br#"{"a": [{"b": "path-value", "c": 1}], "x": {"S\u0053N": 42}, "ssn_note": "kept"}"#;
    let out = redactor.redact(body, ContentKind::Json, Direction::Response);
    let text = String::from_utf8(out.body).unwrap();
    assert!(
        !text.contains("path-value") && !text.contains("42"),
        "{text}"
    );
    assert!(text.contains("kept") && text.contains("\"c\": 1"), "{text}");
    json_of(&text);
}
