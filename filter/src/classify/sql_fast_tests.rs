//! Differential tests: whenever `sql_fast` answers, its answer must equal the
//! full (`sqlparser`) path's, for every dialect set.

use super::*;
use crate::classify::sql::{classify_sql, classify_sql_full};
use proptest::prelude::*;
use SqlDialect as D;

/// Dialect sets the full path treats differently (generic-only shortcut or
/// not, MySQL's or PostgreSQL's quoting).
const DIALECT_SETS: &[&[SqlDialect]] = &[
    &[D::Postgres, D::MySql, D::Generic],
    &[D::Postgres],
    &[D::MySql],
    &[D::Generic],
    &[D::Postgres, D::Generic],
    &[D::MySql, D::Generic],
    &[D::Postgres, D::MySql],
];

/// Checks `text` on every dialect set; returns how many sets the fast path
/// answered for. Panics on any difference.
fn differential(text: &str) -> usize {
    let mut accepted = 0;
    for dialects in DIALECT_SETS {
        if let Some(fast) = classify(text, dialects) {
            accepted += 1;
            let full = classify_sql_full(text, dialects);
            assert_eq!(
                fast, full,
                "fast path differs from full path for {text:?} with {dialects:?}"
            );
        }
    }
    accepted
}

/// Read queries of every shape the recogniser knows, and some it does not.
/// Each entry: the text, and whether the fast path must accept it for all
/// dialect sets (`All`), for some (`Some`), or need not (`Any`).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    All,
    Some,
    Any,
}

const CORPUS: &[(&str, Expect)] = &[
    ("SELECT 1", Expect::All),
    ("select 1;", Expect::All),
    ("SELECT 1; SELECT 2;;", Expect::All),
    ("SELECT a FROM t", Expect::All),
    ("SELECT a, b AS c, d e FROM s.t", Expect::All),
    ("SELECT * FROM t", Expect::All),
    ("SELECT t.*, u.a FROM t, u WHERE t.id = u.id", Expect::All),
    ("SELECT DISTINCT a FROM t ORDER BY a DESC, b ASC LIMIT 10 OFFSET 5", Expect::All),
    ("SELECT ALL a FROM t", Expect::All),
    ("SELECT a FROM t JOIN u ON t.id = u.t_id", Expect::All),
    ("SELECT a FROM t INNER JOIN u ON t.id = u.t_id", Expect::All),
    ("SELECT a FROM t LEFT JOIN u ON t.id = u.t_id", Expect::All),
    ("SELECT a FROM t LEFT OUTER JOIN u ON t.id = u.t_id", Expect::All),
    ("SELECT a FROM t RIGHT JOIN u ON t.id = u.t_id", Expect::All),
    ("SELECT a FROM t RIGHT OUTER JOIN u ON t.id = u.t_id", Expect::All),
    ("SELECT a FROM t FULL JOIN u ON t.id = u.t_id", Expect::All),
    ("SELECT a FROM t FULL OUTER JOIN u ON t.id = u.t_id", Expect::All),
    ("SELECT a FROM t CROSS JOIN u", Expect::All),
    ("SELECT a FROM t NATURAL JOIN u", Expect::All),
    ("SELECT a FROM t NATURAL LEFT JOIN u", Expect::All),
    ("SELECT a FROM t JOIN u USING (id, k)", Expect::All),
    ("SELECT a FROM t JOIN u", Expect::Any),
    ("SELECT a FROM t AS x JOIN u AS y ON x.id = y.id JOIN v z ON z.id = y.id", Expect::All),
    ("SELECT a FROM (SELECT a FROM t) AS s", Expect::All),
    ("SELECT a FROM (SELECT a FROM t) s WHERE s.a > 1", Expect::All),
    ("SELECT a FROM (SELECT a FROM t)", Expect::Any),
    ("SELECT a FROM t WHERE b IN (SELECT b FROM u WHERE c = 1)", Expect::All),
    ("SELECT a FROM t WHERE b NOT IN (1, 2, 3)", Expect::All),
    ("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)", Expect::All),
    ("SELECT a FROM t WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.id = t.id)", Expect::All),
    ("SELECT (SELECT max(b) FROM u) AS m, a FROM t", Expect::All),
    ("WITH x AS (SELECT a FROM t) SELECT * FROM x", Expect::All),
    ("WITH x (a, b) AS (SELECT a, b FROM t), y AS (SELECT a FROM x) SELECT * FROM y JOIN x ON x.a = y.a", Expect::All),
    ("WITH RECURSIVE x AS (SELECT 1) SELECT * FROM x", Expect::Any),
    ("SELECT a FROM t UNION SELECT a FROM u", Expect::All),
    ("SELECT a FROM t UNION ALL SELECT a FROM u UNION DISTINCT SELECT a FROM v", Expect::All),
    ("SELECT a FROM t INTERSECT SELECT a FROM u", Expect::All),
    ("SELECT a FROM t EXCEPT SELECT a FROM u", Expect::All),
    ("(SELECT a FROM t) UNION (SELECT a FROM u) ORDER BY a LIMIT 3", Expect::All),
    ("SELECT row_number() OVER (PARTITION BY a ORDER BY b DESC) AS rn FROM t", Expect::All),
    ("SELECT sum(x) OVER (ORDER BY y), rank() OVER () FROM t", Expect::All),
    ("SELECT lag(x, 1) OVER (PARTITION BY a, b) FROM t", Expect::All),
    ("SELECT CASE WHEN a > 1 THEN 'big' WHEN a < 0 THEN 'neg' ELSE 'small' END FROM t", Expect::All),
    ("SELECT CASE a WHEN 1 THEN 'one' END AS c FROM t", Expect::All),
    ("SELECT a FROM t WHERE a IN ('x', 'y', 'it''s')", Expect::All),
    ("SELECT EXTRACT(YEAR FROM created_at) FROM t", Expect::All),
    ("SELECT SUBSTRING(name FROM 1), SUBSTRING(name, 2) FROM t", Expect::All),
    ("SELECT SUBSTRING(name FROM 1 FOR 3) FROM t", Expect::Any),
    ("SELECT substring(name, 1, 2) FROM t", Expect::All),
    ("SELECT a FROM t WHERE a IS DISTINCT FROM b AND c IS NOT DISTINCT FROM d", Expect::All),
    ("SELECT a FROM t WHERE a IS NULL OR b IS NOT NULL OR c IS TRUE OR d IS NOT FALSE", Expect::All),
    ("SELECT a FROM t WHERE a BETWEEN 1 AND 10 AND b NOT BETWEEN 2 AND 3", Expect::All),
    ("SELECT a FROM t WHERE name LIKE 'a%' AND name NOT LIKE '%b'", Expect::All),
    ("SELECT a FROM t WHERE name ILIKE 'a%'", Expect::Any),
    ("SELECT a FROM t WHERE NOT a = 1 AND NOT NOT b", Expect::All),
    ("SELECT -a, +b, - -c, a * (b + c) / 2 % 3, a || b FROM t", Expect::All),
    ("SELECT a FROM t WHERE a <> 1 AND b != 2 AND c <= 3 AND d >= 4 AND e < 5 AND f > 6", Expect::All),
    ("SELECT CAST(a AS INTEGER), CAST(b AS TEXT) FROM t", Expect::All),
    ("SELECT a::int, b::text FROM t", Expect::Some),
    ("SELECT now() - interval '30 days'", Expect::Some),
    ("SELECT now() - INTERVAL '1' DAY", Expect::All),
    ("SELECT now() - INTERVAL 1 DAY", Expect::Any),
    ("SELECT count(*), count(DISTINCT a), max(b), min(c), avg(d), sum(e) FROM t GROUP BY f HAVING count(*) > 1", Expect::All),
    ("SELECT coalesce(a, b), nullif(a, 0), lower(n), upper(n), abs(x) FROM t", Expect::All),
    ("SELECT pg_catalog.now(), myschema.myfunc(1, 'a') FROM t", Expect::All),
    ("SELECT \"A\".\"B\" FROM \"Public\".\"Users\" AS \"A\"", Expect::Some),
    ("SELECT `a` FROM `My`.`T`", Expect::Some),
    ("SELECT a -- note\nFROM t", Expect::All),
    ("SELECT a -- a comment\nFROM t", Expect::Any),
    ("SELECT a /* note */ FROM t /* another */", Expect::All),
    ("SELECT '/*!'", Expect::Any),
    ("/* leading */ SELECT 1", Expect::All),
    ("SELECT a FROM t WHERE (a = 1 OR b = 2) AND (c, d) IN ((1, 2), (3, 4))", Expect::Any),
    ("SELECT a FROM t WHERE (a, b) = (1, 2)", Expect::Any),
    ("SELECT a FROM t LEFT JOIN LATERAL (SELECT b FROM u WHERE u.id = t.id) x ON true", Expect::Any),
    ("SELECT a FROM t, LATERAL (SELECT b FROM u WHERE u.id = t.id) AS x", Expect::Any),
    ("SELECT id, name, status, type, value FROM data WHERE key = 1", Expect::All),
    ("SELECT a FROM t WHERE a = 1.5 AND b = 0.25", Expect::All),
    ("SELECT 'a' AS x, 'multi\nline' AS y", Expect::All),
    ("SELECT a FROM t ORDER BY a LIMIT 5", Expect::All),
    ("SELECT a FROM t OFFSET 5", Expect::Any),
    ("VALUES (1, 2), (3, 4)", Expect::Any),
    ("SELECT * FROM (VALUES (1), (2)) AS v(x)", Expect::Any),
    ("TABLE t", Expect::Any),
    ("SELECT a FROM t FOR UPDATE", Expect::Any),
    ("SELECT a INTO b FROM t", Expect::Any),
    ("SELECT date '2024-01-01'", Expect::Any),
    ("SELECT current_timestamp, current_date", Expect::Any),
    ("SELECT a FROM t WHERE b = ANY (SELECT b FROM u)", Expect::Any),
    ("SELECT a FROM t TABLESAMPLE SYSTEM (10)", Expect::Any),
    ("SELECT a FROM t WINDOW w AS (ORDER BY a)", Expect::Any),
    ("SELECT a FROM generate_series(1, 10) AS g(a)", Expect::Any),
    ("SELECT position('a' IN b), trim(b), overlay(b PLACING 'x' FROM 1) FROM t", Expect::Any),
    ("SELECT set_config('a', 'b', false)", Expect::Any),
    ("SELECT pg_read_file('/etc/passwd')", Expect::Any),
    ("SELECT dblink('db', 'SELECT 1')", Expect::Any),
    ("SELECT a FROM t WHERE a = $1", Expect::Any),
    ("SELECT a FROM t WHERE a = ?", Expect::Any),
    ("SELECT 'a\\'b' FROM t", Expect::Any),
    ("SELECT E'a' FROM t", Expect::Any),
    ("SELECT a FROM t # comment", Expect::Any),
    ("SELECT a FROM t --x", Expect::Any),
    ("SELECT /*! 1 */ a FROM t", Expect::Any),
    ("SELECT /* a /* nested */ */ 1", Expect::Any),
    ("WITH x AS (SELECT 1) (SELECT 2)", Expect::Any),
    ("SELECT * FROM (WITH c AS (SELECT 1) SELECT * FROM c) w", Expect::All),
    ("SELECT a FROM t WHERE a = NOT EXISTS (SELECT 1)", Expect::Any),
    ("SELECT - NOT EXISTS (SELECT 1)", Expect::Any),
    ("SELECT a FROM t CROSS JOIN u ON true", Expect::Any),
    ("SELECT a FROM t NATURAL JOIN u ON true", Expect::Any),
    ("SELECT a AS \"x y\", \"a.b\" FROM \"s.t\"", Expect::Some),
    ("SELECT \"count\"(a), a\"b\" FROM t", Expect::Any),
    ("SELECT 1 -- trailing", Expect::All),
    ("SELECT 1 --", Expect::Any),
    ("SELECT a FROM t -- DROP TABLE t", Expect::Any),
    ("SELECT 'DROP TABLE t'", Expect::Any),
    ("SELECT a FROM t LIMIT 1 + 1", Expect::Any),
    ("SELECT a FROM t ORDER BY 1 LIMIT ALL", Expect::Any),
    ("select A.B from S.T a", Expect::All),
    ("SELECT 00012, 1.50 FROM t", Expect::All),
    ("SELECT a FROM t WHERE a IN (SELECT a FROM u UNION SELECT b FROM v)", Expect::All),
    ("SELECT ((a)), (SELECT 1) + (SELECT 2)", Expect::All),
    ("SELECT a FROM t GROUP BY (a, b)", Expect::Any),
    ("SELECT NOT NOT NOT a", Expect::All),
    ("SELECT CAST(a AS numeric(10,2)), a::numeric(10, 2)", Expect::Any),
    ("SELECT a:: int, a ::int", Expect::Any),
    ("SELECT count(*) FILTER (WHERE a > 1) FROM t", Expect::Any),
    ("SELECT a FROM t WHERE x = 1\n  AND y = 2\n\tAND z = 3", Expect::All),
    ("SELECT a\r\nFROM t", Expect::Any),
    ("SELECT a FROM t WHERE a = 'caf\u{e9}'", Expect::Any),
    ("SELECT a FROM t WHERE a = 'x\u{200b}'", Expect::Any),
    ("SELECT a FROM t\u{a0}WHERE a = 1", Expect::Any),
    ("SELECT a FROM t\0", Expect::Any),
    ("SELECT a FROM t WHERE a = 'note: update later'", Expect::Any),
    ("SELECT a FROM `t` WHERE \"b\" = 1", Expect::Any),
    ("SELECT 1 UNION SELECT 2 INTERSECT SELECT 3 EXCEPT SELECT 4", Expect::All),
    ("SELECT a FROM t1, t2 AS b, s.t3 c WHERE t1.x = b.x", Expect::All),
    // Not SQL sqlparser accepts: must never be accepted.
    ("SELECT FROM FROM", Expect::Any),
    ("SELECT a FROM", Expect::Any),
    ("SELECT (a FROM t", Expect::Any),
    ("SELECT a) FROM t", Expect::Any),
    ("SELECT a FROM t WHERE", Expect::Any),
    ("SELECT a FROM t t2 t3", Expect::Any),
    ("SELECT a b c FROM t", Expect::Any),
    ("SELECT a FROM t JOIN", Expect::Any),
    ("SELECT a FROM t LEFT u ON 1", Expect::Any),
    ("SELECT a, FROM t", Expect::Any),
    ("SELECT a FROM t ORDER BY", Expect::Any),
    ("SELECT a = = b", Expect::Any),
    ("SELECT 'unterminated", Expect::Any),
    ("SELECT \"unterminated", Expect::Any),
    ("SELECT a FROM t /* unterminated", Expect::Any),
    ("SELECT 1 SELECT 2", Expect::Any),
    ("SELECT CASE WHEN a THEN b", Expect::Any),
    ("SELECT count(", Expect::Any),
    ("SELECT a FROM t WHERE a IN ()", Expect::Any),
    ("SELECT a FROM t WHERE a BETWEEN 1", Expect::Any),
    ("SELECT a FROM t UNION", Expect::Any),
    ("WITH x AS (SELECT 1)", Expect::Any),
    ("", Expect::Any),
    (";", Expect::Any),
    ("SELECT", Expect::Any),
    ("select a from t where a = 'x' and", Expect::Any),
];

#[test]
fn screen_words_are_sorted_lowercase_and_unique() {
    let mut sorted = SCREEN_WORDS.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, SCREEN_WORDS);
    assert!(SCREEN_WORDS.iter().all(|w| *w == w.to_ascii_lowercase()));
    for list in [NAME_KEYWORDS, FUNCTION_KEYWORDS, CAST_TYPES, TIME_UNITS] {
        let mut sorted = list.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, list);
        assert!(list.iter().all(|w| *w == w.to_ascii_uppercase()));
    }
}

#[test]
fn lexicon_holds_every_word() {
    let lexicon = lexicon();
    for (word, keyword) in ALL_KEYWORDS.iter().zip(ALL_KEYWORDS_INDEX) {
        let entry = lexicon.lookup(word.to_ascii_lowercase().as_bytes());
        assert_eq!(entry.map(|e| e.keyword), Some(*keyword), "{word}");
    }
    for word in SCREEN_WORDS
        .iter()
        .chain(FILE_FUNCTIONS)
        .chain(ADMIN_FUNCTIONS)
    {
        assert!(
            screened_word(word.to_ascii_uppercase().as_bytes()),
            "{word}"
        );
    }
    for word in DYNAMIC_SQL_FUNCTIONS.iter().chain(&["set_config"]) {
        assert!(screened_word(word.as_bytes()), "{word}");
    }
    for word in NAME_KEYWORDS {
        assert!(lexicon
            .lookup(word.as_bytes())
            .is_some_and(|e| e.flags & NAME_KEYWORD != 0));
    }
    for word in FUNCTION_KEYWORDS {
        assert!(lexicon
            .lookup(word.as_bytes())
            .is_some_and(|e| e.flags & FUNCTION_KEYWORD != 0));
    }
    assert!(lexicon.lookup(b"customer_id").is_none());
}

#[test]
fn corpus_is_equal_on_the_fast_path() {
    let mut accepted = 0;
    for (text, expect) in CORPUS {
        let sets = differential(text);
        accepted += sets;
        match expect {
            Expect::All => assert_eq!(sets, DIALECT_SETS.len(), "fast path declined {text:?}"),
            Expect::Some => assert!(sets > 0, "fast path declined {text:?} for every set"),
            Expect::Any => {}
        }
    }
    println!(
        "hand corpus: {} texts, {accepted} fast answers (text x dialect set)",
        CORPUS.len()
    );
    assert!(accepted > 0);
}

#[test]
fn invalid_sql_is_never_accepted() {
    for (text, _) in CORPUS {
        for dialects in DIALECT_SETS {
            let full = classify_sql_full(text, dialects);
            if !full.parsed() {
                assert_eq!(classify(text, dialects), None, "{text:?} {dialects:?}");
            }
        }
    }
}

/// Every keyword the recogniser accepts as a name or function, in every
/// position it accepts it in, must read the same in `sqlparser`.
#[test]
fn keyword_lists_agree_with_sqlparser() {
    for word in NAME_KEYWORDS {
        let lower = word.to_ascii_lowercase();
        for shape in [
            "SELECT {w} FROM t",
            "SELECT t.{w} FROM t",
            "SELECT {w}.a FROM t AS {w}",
            "SELECT a AS {w} FROM t",
            "SELECT a FROM {w}",
            "SELECT a FROM {w}.t",
            "SELECT a FROM s.{w} AS x",
            "SELECT a FROM t WHERE {w} = 1 AND {w} IS NOT NULL",
            "SELECT a FROM t ORDER BY {w} DESC",
            "SELECT {w}, count(*) FROM t GROUP BY {w} HAVING max({w}) > 1",
            "SELECT a FROM t JOIN u ON t.{w} = u.{w} AND {w} IN (1)",
            "SELECT {w} + 1, -{w}, ({w}) FROM t",
            "SELECT a FROM t WHERE a BETWEEN {w} AND {w}",
            "SELECT CASE {w} WHEN 1 THEN {w} END FROM t",
            "SELECT a FROM t JOIN u USING ({w})",
            "WITH x ({w}) AS (SELECT 1) SELECT {w} FROM x",
            "SELECT s.{w}(1) FROM t",
        ] {
            for case in [word.to_string(), lower.clone()] {
                let text = shape.replace("{w}", &case);
                assert_eq!(differential(&text), DIALECT_SETS.len(), "{text:?}");
            }
        }
    }
    for word in FUNCTION_KEYWORDS {
        for shape in [
            "SELECT {w}(a) FROM t",
            "SELECT {w}(a, b), {w}(*), {w}() FROM t",
            "SELECT {w}(DISTINCT a) FROM t",
            "SELECT a FROM t WHERE {w}(a) > 1",
            "SELECT {w}(a) OVER (PARTITION BY b ORDER BY c) FROM t",
            "SELECT a FROM t GROUP BY a HAVING {w}(b) = 2 ORDER BY {w}(b)",
        ] {
            for case in [word.to_string(), word.to_ascii_lowercase()] {
                let text = shape.replace("{w}", &case);
                assert_eq!(differential(&text), DIALECT_SETS.len(), "{text:?}");
            }
        }
    }
    for ty in CAST_TYPES {
        let text = format!("SELECT CAST(a AS {ty}), a::{ty} FROM t");
        assert!(differential(&text) > 0, "{text:?}");
    }
    for unit in TIME_UNITS {
        let text = format!("SELECT EXTRACT({unit} FROM a), INTERVAL '2' {unit} FROM t");
        assert_eq!(differential(&text), DIALECT_SETS.len(), "{text:?}");
    }
}

/// Every SQL-looking string literal in `sql.rs` (its tests are a corpus of
/// statements of every kind and evasion) and every SQL value of the evasion
/// suite.
fn external_corpus() -> Vec<String> {
    let mut texts = Vec::new();
    // Character literals of a double quote would desynchronise the scan.
    let source = include_str!("sql.rs")
        .replace("'\\\"'", "'_'")
        .replace("'\"'", "'_'");
    let mut chars = source.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut literal = String::new();
        let mut closed = false;
        while let Some((_, c)) = chars.next() {
            match c {
                '"' => {
                    closed = true;
                    break;
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => literal.push('\n'),
                    Some('t') => literal.push('\t'),
                    Some('r') => literal.push('\r'),
                    Some('0') => literal.push('\0'),
                    Some('\n') => {
                        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                            chars.next();
                        }
                    }
                    Some('u') => {
                        // `\u{...}`
                        let mut hex = String::new();
                        for (_, c) in chars.by_ref() {
                            if c == '}' {
                                break;
                            }
                            if c != '{' {
                                hex.push(c);
                            }
                        }
                        if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                        {
                            literal.push(c);
                        }
                    }
                    Some(other) => literal.push(other),
                    None => {}
                },
                other => literal.push(other),
            }
        }
        if closed && literal.contains(' ') && literal.len() < 4096 {
            texts.push(literal);
        }
    }
    let yaml = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../integration-tests/cases/evasion.yaml"
    ));
    let cases: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap_or_default();
    let mut stack = vec![cases];
    while let Some(value) = stack.pop() {
        match value {
            serde_yaml_ng::Value::Mapping(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            serde_yaml_ng::Value::Sequence(items) => stack.extend(items),
            serde_yaml_ng::Value::String(text) => {
                if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
                    let mut json_stack = vec![json];
                    while let Some(json) = json_stack.pop() {
                        match json {
                            serde_json::Value::String(s) => texts.push(s),
                            serde_json::Value::Array(a) => json_stack.extend(a),
                            serde_json::Value::Object(o) => {
                                json_stack.extend(o.into_iter().map(|(_, v)| v))
                            }
                            _ => {}
                        }
                    }
                }
                texts.push(text);
            }
            _ => {}
        }
    }
    texts.sort();
    texts.dedup();
    texts
}

#[test]
fn external_corpus_is_equal_and_every_write_is_screened() {
    let texts = external_corpus();
    assert!(texts.len() > 300, "corpus too small: {}", texts.len());
    let mut writes = 0;
    let mut accepted = 0;
    for text in &texts {
        accepted += differential(text);
        let full = classify_sql_full(text, &SqlDialect::ALL);
        let kinds = full.kinds();
        let other = kinds
            .iter()
            .any(|kind| !matches!(kind, SqlKind::Select | SqlKind::Unparsed));
        if full.parsed() && other {
            writes += 1;
            assert!(
                !screen(text),
                "screen lets through {text:?}, which the full path reads as {kinds:?}"
            );
        }
    }
    println!(
        "external corpus: {} texts, {writes} non-select statements screened, {accepted} fast answers (text x dialect set)",
        texts.len()
    );
    assert!(writes > 150, "too few non-select statements: {writes}");
    assert!(accepted > 0);
}

/// One non-select statement per kind (and spelling), each of which the
/// screen must stop.
#[test]
fn every_non_select_kind_is_screened() {
    let statements = [
        "INSERT INTO t VALUES (1)",
        "REPLACE INTO t VALUES (1)",
        "UPDATE t SET a = 1",
        "DELETE FROM t",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE",
        "CREATE TABLE t (a INT)",
        "SELECT a INTO t2 FROM t",
        "ALTER TABLE t ADD COLUMN b INT",
        "COMMENT ON TABLE t IS 'x'",
        "DROP TABLE t",
        "TRUNCATE t",
        "GRANT SELECT ON t TO u",
        "REVOKE SELECT ON t FROM u",
        "BEGIN",
        "START TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT s",
        "SET search_path = x",
        "RESET ALL",
        "USE db",
        "PRAGMA x",
        "SHOW TABLES",
        "DESCRIBE t",
        "EXPLAIN SELECT 1",
        "COPY t FROM '/tmp/x'",
        "CALL p()",
        "EXECUTE p",
        "PREPARE p AS SELECT 1",
        "DEALLOCATE p",
        "VACUUM t",
        "ANALYZE t",
        "LOCK TABLE t",
        "LISTEN c",
        "NOTIFY c",
        "DECLARE c CURSOR FOR SELECT 1",
        "FETCH NEXT FROM c",
        "CLOSE c",
        "KILL 1",
        "SELECT a FROM t FOR UPDATE",
        "SELECT set_config('a', 'b', false)",
        "SELECT pg_read_file('x')",
        "SELECT pg_terminate_backend(1)",
        "SELECT dblink('x', 'SELECT 1')",
        "SELECT * FROM t; DROP TABLE t",
        "SELECT 1 /* harmless */; delete from t",
        "SELECT 'x' AS \"delete\"",
    ];
    for text in statements {
        let full = classify_sql_full(text, &SqlDialect::ALL);
        assert!(!screen(text), "{text:?} ({:?})", full.kinds());
        for dialects in DIALECT_SETS {
            assert_eq!(classify(text, dialects), None, "{text:?}");
        }
    }
}

/// Building blocks for random statements: pieces of the recogniser's grammar
/// (`GOOD_*`, most of the draws) and dialect-sensitive, unsupported or
/// invalid pieces (`ODD_*`).
const GOOD_ATOMS: &[&str] = &[
    "a",
    "b",
    "t.a",
    "u.b",
    "s.t.c",
    "id",
    "name",
    "status",
    "_x",
    "\"Q\"",
    "\"q\".\"R\"",
    "`w`",
    "1",
    "2.5",
    "0",
    "'x'",
    "'it''s'",
    "''",
    "NULL",
    "TRUE",
    "false",
    "now()",
    "count(*)",
    "max(a)",
    "sum(DISTINCT b)",
    "f(a, 'x')",
    "s.f()",
    "lower(name)",
    "coalesce(a, b, 1)",
    "interval '1 day'",
    "INTERVAL '2' DAY",
    "CAST(a AS INT)",
    "a::text",
    "EXTRACT(YEAR FROM b)",
    "SUBSTRING(a FROM 1)",
    "substring(a, 1)",
    "rank() OVER (PARTITION BY a ORDER BY b)",
    "row_number() OVER ()",
    "CASE WHEN a THEN b ELSE c END",
    "CASE a WHEN 1 THEN 2 END",
    "EXISTS (SELECT 1 FROM v)",
    "(SELECT max(c) FROM w)",
    "value",
    "key",
    "type",
    "data",
    "mod(a, 2)",
    "abs(-1)",
];

const ODD_ATOMS: &[&str] = &[
    "INTERVAL 3 HOUR",
    "current_date",
    "date '2020-01-01'",
    "$1",
    "?",
    "@v",
    "x'0F'",
    "E'x'",
    "N'x'",
    "1e3",
    ".5",
    "1.",
    "a.1",
    "lag(a) OVER w",
    "ARRAY[1]",
    "a[1]",
    "a->'k'",
    "position('a' IN b)",
    "trim(a)",
    "user",
    "text",
    "timestamp",
    "left(a, 1)",
    "if(a, b, c)",
    "_utf8'x'",
    "_utf8 'x'",
    "'a' 'b'",
    "\"\"",
    "\"a\"\"b\"",
    "count(*) FILTER (WHERE a)",
    "string_agg(a, ',' ORDER BY a)",
    "(a, b)",
    "ROW(1, 2)",
    "a COLLATE \"C\"",
];

const GOOD_OPERATORS: &[&str] = &[
    "=",
    "<>",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    "AND",
    "OR",
    "LIKE",
    "NOT LIKE",
    "IS DISTINCT FROM",
];

const ODD_OPERATORS: &[&str] = &[
    "ILIKE",
    "<=>",
    "&&",
    "->",
    "::",
    "DIV",
    "XOR",
    "REGEXP",
    "^",
    "&",
    "|",
    "#",
    "@>",
    "~",
    "SIMILAR TO",
    "= ANY",
    "IS",
    "NOT",
];

const GOOD_TABLES: &[&str] = &[
    "t",
    "u",
    "s.t",
    "\"S\".\"T\"",
    "`x`.`y`",
    "data",
    "orders o",
    "orders AS o",
    "(SELECT a FROM t) d",
    "(SELECT a FROM t) AS d",
    "(SELECT 1)",
    "name AS n",
    "(WITH c AS (SELECT 1) SELECT * FROM c) w",
];

const ODD_TABLES: &[&str] = &[
    "name",
    "LATERAL (SELECT 1) l",
    "generate_series(1, 2) g",
    "t TABLESAMPLE SYSTEM (1)",
    "t FOR UPDATE",
    "ONLY t",
    "t x y",
    "(t JOIN u ON true)",
    "t USE INDEX (i)",
    "t PARTITION (p)",
    "t AS x (a)",
];

/// A piece: mostly good, sometimes odd.
fn pick(good: &'static [&'static str], odd: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        40 => prop::sample::select(good).prop_map(str::to_owned),
        1 => prop::sample::select(odd).prop_map(str::to_owned),
    ]
    .boxed()
}

fn atom() -> BoxedStrategy<String> {
    pick(GOOD_ATOMS, ODD_ATOMS)
}

/// A value expression: atoms under arithmetic, calls, CASE and subqueries.
fn value() -> impl Strategy<Value = String> {
    atom().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            3 => (
                inner.clone(),
                pick(&["+", "-", "*", "/", "%", "||"], ODD_OPERATORS),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            1 => inner.clone().prop_map(|a| format!("({a})")),
            1 => inner.clone().prop_map(|a| format!("-{a}")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("f({a}, {b})")),
            1 => (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("CASE WHEN {a} = {b} THEN {c} END")),
            1 => (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("(SELECT {a} FROM v WHERE {b} > 1)")),
        ]
    })
}

/// A predicate over values.
fn predicate() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (value(), pick(GOOD_OPERATORS, ODD_OPERATORS), value())
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        1 => (value(), value(), value()).prop_map(|(a, b, c)| format!("{a} BETWEEN {b} AND {c}")),
        1 => (value(), prop::collection::vec(value(), 1..4))
            .prop_map(|(a, list)| format!("{a} NOT IN ({})", list.join(", "))),
        1 => (value(), value()).prop_map(|(a, b)| format!("{a} IN (SELECT {b} FROM v)")),
        1 => value().prop_map(|a| format!("{a} IS NOT NULL")),
        1 => value().prop_map(|a| format!("EXISTS (SELECT {a} FROM w)")),
        1 => value(),
    ]
}

/// A boolean condition: predicates under AND, OR, NOT and parentheses.
fn expr() -> impl Strategy<Value = String> {
    predicate().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            2 => (inner.clone(), pick(&["AND", "OR"], &["XOR", "&&", "="]), inner.clone())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            1 => inner.clone().prop_map(|a| format!("({a})")),
            1 => inner.clone().prop_map(|a| format!("NOT {a}")),
        ]
    })
}

fn select() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec(
            (
                prop_oneof![3 => value(), 1 => expr()],
                pick(
                    &["", " AS x", " y", " AS name", " AS \"Z\""],
                    &[" name", " AS", " x y"],
                ),
            ),
            1..4,
        ),
        prop::option::weighted(
            0.9,
            prop::collection::vec(pick(GOOD_TABLES, ODD_TABLES), 1..3),
        ),
        prop::collection::vec(
            (
                pick(
                    &[
                        "JOIN",
                        "LEFT JOIN",
                        "LEFT OUTER JOIN",
                        "RIGHT JOIN",
                        "FULL JOIN",
                        "INNER JOIN",
                        "FULL OUTER JOIN",
                    ],
                    &[
                        "CROSS JOIN",
                        "NATURAL JOIN",
                        "JOIN LATERAL",
                        "LEFT",
                        "STRAIGHT_JOIN",
                        "OUTER JOIN",
                    ],
                ),
                pick(GOOD_TABLES, ODD_TABLES),
                pick(
                    &[
                        " ON a = b",
                        " USING (a)",
                        " ON true",
                        " ON t.a = u.b AND c > 1",
                    ],
                    &["", " ON"],
                ),
            ),
            0..3,
        ),
        prop::option::of(expr()),
        prop::option::of((value(), prop::option::of(expr()))),
        prop::option::of((
            value(),
            pick(
                &["", " ASC", " DESC"],
                &[" NULLS FIRST", " DESC NULLS LAST"],
            ),
        )),
        prop::option::of(pick(
            &["LIMIT 5", "LIMIT 1 OFFSET 2", "OFFSET 3"],
            &["LIMIT 1, 2", "LIMIT ALL", "OFFSET 1 ROWS"],
        )),
    )
        .prop_map(
            |(distinct, items, from, joins, filter, group, order, limit)| {
                let mut sql = String::from("SELECT ");
                if distinct {
                    sql.push_str("DISTINCT ");
                }
                let items: Vec<String> = items
                    .into_iter()
                    .map(|(e, alias)| format!("{e}{alias}"))
                    .collect();
                sql.push_str(&items.join(", "));
                if let Some(from) = from {
                    sql.push_str(" FROM ");
                    sql.push_str(&from.join(", "));
                    for (join, table, constraint) in joins {
                        sql.push_str(&format!(" {join} {table}{constraint}"));
                    }
                }
                if let Some(filter) = filter {
                    sql.push_str(&format!(" WHERE {filter}"));
                }
                if let Some((group, having)) = group {
                    sql.push_str(&format!(" GROUP BY {group}"));
                    if let Some(having) = having {
                        sql.push_str(&format!(" HAVING {having}"));
                    }
                }
                if let Some((order, direction)) = order {
                    sql.push_str(&format!(" ORDER BY {order}{direction}"));
                }
                if let Some(limit) = limit {
                    sql.push(' ');
                    sql.push_str(&limit);
                }
                sql
            },
        )
}

fn statement() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(),
        1 => (select(), prop::sample::select(&["UNION", "UNION ALL", "EXCEPT", "INTERSECT", "MINUS"][..]), select())
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        1 => (select(), select()).prop_map(|(a, b)| format!("WITH c AS ({a}) {b}")),
        1 => (select(), select()).prop_map(|(a, b)| format!("{a}; {b};")),
        1 => select().prop_map(|a| format!("({a})")),
        1 => select().prop_map(|a| format!("/* c */ {a} -- tail")),
    ]
}

/// Single tokens a mutation may insert.
const PUNCTUATION: &[&str] = &[
    "(", ")", ",", ";", "'", "\"", "--", "-- ", "/*", "*/", "SELECT", "FROM", "WHERE", "ON",
    "JOIN", "AS", "DELETE", ".", "*", "UNION", "WITH", "END", "CASE", "BY", "ORDER", "GROUP",
];

/// Token-level mutation of a statement: drop, duplicate or replace a token,
/// or glue two together.
fn mutated() -> impl Strategy<Value = String> {
    let corpus: Vec<String> = CORPUS.iter().map(|(text, _)| (*text).to_owned()).collect();
    (
        prop_oneof![statement(), prop::sample::select(corpus)],
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0..5u8,
                prop_oneof![
                    atom(),
                    pick(GOOD_OPERATORS, ODD_OPERATORS),
                    prop::sample::select(PUNCTUATION).prop_map(str::to_owned),
                ],
            ),
            1..4,
        ),
    )
        .prop_map(|(sql, edits)| {
            let mut tokens: Vec<String> = sql.split(' ').map(str::to_owned).collect();
            for (index, op, piece) in edits {
                if tokens.is_empty() {
                    break;
                }
                let at = index.index(tokens.len());
                match op {
                    0 => {
                        tokens.remove(at);
                    }
                    1 => {
                        let copy = tokens.get(at).cloned().unwrap_or_default();
                        tokens.insert(at, copy);
                    }
                    2 => {
                        if let Some(slot) = tokens.get_mut(at) {
                            *slot = piece;
                        }
                    }
                    3 => tokens.insert(at, piece),
                    _ => {
                        if at + 1 < tokens.len() {
                            let next = tokens.remove(at + 1);
                            if let Some(slot) = tokens.get_mut(at) {
                                slot.push_str(&next);
                            }
                        }
                    }
                }
            }
            tokens.join(" ")
        })
}

/// Random token soup over the whole vocabulary.
fn soup() -> impl Strategy<Value = String> {
    let vocabulary: Vec<&'static str> = GOOD_ATOMS
        .iter()
        .chain(ODD_ATOMS)
        .chain(GOOD_OPERATORS)
        .chain(ODD_OPERATORS)
        .chain(GOOD_TABLES)
        .chain(ODD_TABLES)
        .chain(PUNCTUATION)
        .copied()
        .chain([
            "SELECT", "FROM", "WHERE", "GROUP BY", "HAVING", "ORDER BY", "LIMIT", "OFFSET", "JOIN",
            "LEFT", "ON", "AS", "WITH", "UNION", "(", ")", ",", ";", "*", ".", "CASE", "WHEN",
            "THEN", "ELSE", "END", "IN", "IS", "NOT", "NULL", "DISTINCT", "ALL", "OVER",
        ])
        .collect();
    prop::collection::vec(prop::sample::select(vocabulary), 1..30).prop_map(|tokens| {
        let mut text = String::from("SELECT ");
        text.push_str(&tokens.join(" "));
        text
    })
}

/// How many cases each property runs: small by default (debug `sqlparser` is
/// slow), `WARDEN_SQL_FAST_CASES` for a long run.
fn cases(default: u32) -> u32 {
    std::env::var("WARDEN_SQL_FAST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Runs `differential` on `cases` texts from `strategy`, shrinking any
/// failure; returns (texts, fast answers).
fn run_random(strategy: impl Strategy<Value = String>, cases: u32) -> (usize, usize) {
    let texts = std::cell::Cell::new(0);
    let accepted = std::cell::Cell::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&strategy, |text| {
        texts.set(texts.get() + 1);
        accepted.set(accepted.get() + differential(&text));
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    (texts.get(), accepted.get())
}

#[test]
fn generated_statements_are_equal() {
    let (texts, accepted) = run_random(statement(), cases(600));
    println!("generated statements: {texts} texts, {accepted} fast answers (text x dialect set)");
    assert!(accepted > 0);
}

#[test]
fn mutated_statements_are_equal() {
    let (texts, accepted) = run_random(mutated(), cases(600));
    println!("mutated statements: {texts} texts, {accepted} fast answers (text x dialect set)");
}

#[test]
fn token_soups_are_equal() {
    let (texts, accepted) = run_random(soup(), cases(600));
    println!("token soups: {texts} texts, {accepted} fast answers (text x dialect set)");
}

/// Nesting around the recursion limit: the fast path must decline wherever
/// `sqlparser` gives up.
#[test]
fn deep_nesting_matches_the_recursion_limit() {
    for depth in 1..40 {
        let parens = format!("SELECT {}a{} FROM t", "(".repeat(depth), ")".repeat(depth));
        differential(&parens);
        let subqueries = format!("SELECT {}1{}", "(SELECT ".repeat(depth), ")".repeat(depth));
        differential(&subqueries);
        let chain = format!(
            "SELECT a FROM t WHERE {}a{}",
            "a OR b AND NOT c = d || e * - (".repeat(depth),
            ")".repeat(depth)
        );
        differential(&chain);
        let nots = format!("SELECT {}a", "NOT ".repeat(depth * 2));
        differential(&nots);
        let minus = format!("SELECT {}a", "- ".repeat(depth * 2));
        differential(&minus);
        let derived = format!(
            "SELECT * FROM {}t{}",
            "(SELECT * FROM ".repeat(depth),
            ") x".repeat(depth)
        );
        differential(&derived);
        let in_lists = format!(
            "SELECT a FROM t WHERE {}1{}",
            "a IN (".repeat(depth),
            ")".repeat(depth)
        );
        differential(&in_lists);
        let cases = format!(
            "SELECT {}1{}",
            "CASE WHEN a THEN ".repeat(depth),
            " END".repeat(depth)
        );
        differential(&cases);
        let calls = format!("SELECT {}1{}", "f(a, ".repeat(depth), ")".repeat(depth));
        differential(&calls);
    }
}

#[test]
fn bench_shape_statement_takes_the_fast_path() {
    // The shape of the policy bench's statement (not its text).
    let mut statement = String::from(
        "WITH recent AS (SELECT o.id, o.total FROM orders o WHERE o.created_at > now() - interval '7 days' \
         AND o.status IN ('paid')) SELECT c.id, (SELECT max(p.amount) FROM payments p WHERE p.customer_id = c.id) AS m \
         FROM customers c JOIN recent r ON r.customer_id = c.id LEFT JOIN regions g ON g.id = c.region_id WHERE ",
    );
    for i in 0..20 {
        statement.push_str(&format!(
            "(c.segment = 's{i}' AND r.total BETWEEN {i} AND 9) OR "
        ));
    }
    statement.push_str("false ORDER BY c.id DESC LIMIT 10");
    assert_eq!(differential(&statement), DIALECT_SETS.len() - 2);
    let facts = classify_sql(&statement, &SqlDialect::ALL);
    assert_eq!(facts.statements.len(), 1);
    assert!(facts.read_only());
}
