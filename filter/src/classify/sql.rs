//! SQL classifier: turns SQL text into *operation facts* for the policy engine.
//!
//! Agents reach databases through SQL-over-HTTP APIs (`{"query": "..."}`,
//! `{"sql": ...}`, query parameters). The policy engine does not want to match
//! on SQL text (there are endless spellings of `DELETE FROM users`); it wants to
//! know what the SQL *does*. [`classify_sql`] parses the text with `sqlparser`
//! and reports, per statement, a [`SqlKind`], every other kind the statement
//! contains or implies, the tables and functions it names, and whether it is an
//! unbounded `DELETE`/`UPDATE`.
//!
//! # Reading the text the riskiest way
//!
//! The same bytes can mean different things to different servers (MySQL's `#`
//! comments and backslash escapes, PostgreSQL's nested comments and `$$`
//! strings...), and an attacker picks the spelling on which a checker and the
//! server disagree. So:
//!
//! * the text is parsed with **every** dialect the caller names, and the facts
//!   of all readings that parse are **unioned**;
//! * a dialect that fails to parse still contributes a *lexical* reading (its own
//!   tokenizer, split on `;`, leading keyword of each piece), so
//!   `SELECT $$ ; DROP TABLE x; $$` reports the `DROP` MySQL would run even
//!   though only PostgreSQL's reading parses;
//! * text containing non-ASCII whitespace or invisible characters is read a
//!   second time with those replaced by spaces (removed, for zero-width ones);
//! * text that no dialect parses is one [`SqlKind::Unparsed`] statement, which
//!   matches every kind, is unbounded and counts as several statements;
//! * MySQL/MariaDB executable comments (`/*! ... */`, `/*M! ... */`) are run by
//!   MySQL, so any text containing them is unparsed (the comment's contents are
//!   still read lexically for kinds and tables);
//! * bodies that cannot be seen into add [`SqlKind::Unparsed`] to the statement:
//!   `DO` blocks, non-SQL function/procedure languages, `COPY ... PROGRAM`,
//!   `LOAD`/`INSTALL` of extensions, dynamic SQL built from non-literals.
//!
//! # Nested and implied kinds
//!
//! [`SqlStatementFacts::nested_kinds`] holds every kind a statement performs
//! besides its own: `EXPLAIN [ANALYZE] DELETE` → Delete (reported whether or not
//! `ANALYZE` is given: dialects differ on what executes), data-modifying CTEs,
//! `INSERT ... SELECT` → Select, `CREATE TABLE ... AS SELECT`,
//! `PREPARE p AS DELETE`, `SELECT ... INTO t` → Create, `COPY ... FROM` → Insert,
//! `ON CONFLICT DO UPDATE` / `ON DUPLICATE KEY UPDATE` → Update, `REPLACE INTO`
//! and `INSERT OR REPLACE` → Insert + Delete (the conflicting row is deleted
//! first), `INSERT OVERWRITE` → Delete (unbounded), `MERGE` actions, SQL
//! function/procedure/rule/trigger bodies, and SQL passed as string literals to
//! `EXECUTE IMMEDIATE`, `dblink*` and `query_to_xml*` (classified recursively,
//! plus Execute). `ALTER TABLE ... DROP COLUMN/CONSTRAINT/PARTITION/...` (and
//! `DETACH PARTITION`) is Alter + Drop: it destroys data or integrity. Role and
//! user alterations are Alter + Grant.
//!
//! Some built-in functions have side effects a `SELECT` hides: `set_config` →
//! Set; server file access (`pg_read_file`, `lo_export`, `load_file`, ...) →
//! Copy; backend control (`pg_terminate_backend`, `pg_reload_conf`, ...) →
//! Other. Every called function is listed in
//! [`SqlStatementFacts::functions`] so policies can match user-defined ones.
//!
//! # Tables
//!
//! Names are lowercased with quotes removed and the qualified (dotted) name
//! kept: `"Public"."Users"` → `public.users`, `` `My`.`T` `` → `my.t`. They are
//! collected from FROM/JOIN, INSERT INTO, UPDATE, DELETE FROM/USING, MERGE,
//! DROP, TRUNCATE, ALTER, CREATE, GRANT/REVOKE ON, COPY, LOCK, RENAME and more.
//! Schemas and databases that a DROP/GRANT/REVOKE covers as a whole are
//! reported as `name.*` ("every relation in it"). CTE names are kept (a CTE can
//! shadow a real table; reporting more names is the safe side).
//!
//! # Unbounded
//!
//! A DELETE/UPDATE (top-level or nested) is unbounded when it has no WHERE or
//! when its WHERE may hold for every row (see [`rows`]): it folds to true
//! (literals and their truthiness in either dialect, `WHERE 'A'='a '` as MySQL
//! compares, arithmetic, `LIKE`, `IN`, `BETWEEN`, `CASE`, `COALESCE`/`NULLIF`/
//! `CONCAT`... of constants); it names no column of the changed rows, so it is
//! the same for every row (`(SELECT true)`, `EXISTS (SELECT 1 FROM other)`,
//! `now() > '2000-01-01'`) — when unsure, unbounded; or its shape holds for
//! every row with values (`id = id`, `id + 0 = id`, `col IS NOT NULL`, `x IS
//! DISTINCT FROM NULL`, `p OR NOT p`, comparisons covering every number,
//! `abs(x) >= 0`, `x REGEXP '.*'`, `id IN (SELECT id FROM <same table>)`), also
//! through OR/AND/NOT (`WHERE id = 5 OR 1=1`). A statement that writes rows and
//! contains `||` gets another MySQL reading with `||` as OR (what MySQL runs).
//! A MERGE whose ON may hold for every row and that updates or
//! deletes is unbounded too, and so is a column type change (`ALTER COLUMN ...
//! TYPE ... USING`, MySQL `MODIFY`/`CHANGE COLUMN`), which rewrites every row
//! (reported as a nested Update). Anything else that names a column (`WHERE id
//! > 0`) is taken as bounded.
//!
//! # Replacing DDL and dynamic SQL
//!
//! `CREATE OR REPLACE` / `CREATE OR ALTER` of anything is also a Drop: what was
//! there is destroyed. Text that `EXEC('...')`, `EXECUTE IMMEDIATE` or
//! `EXEC sp_executesql` run is classified whatever it looks like (a bare
//! procedure name is a batch too), when it is a literal or folds from literals
//! (`'DROP ' || 'TABLE t'`); text computed at run time is opaque.

//! # Limits (by design)
//!
//! Functions can do anything: `SELECT my_func()` is a Select even if
//! `my_func` deletes rows (see `functions`). `EXECUTE p` / `CALL p()` run code
//! prepared or stored elsewhere; they report only Execute / Call (which the
//! default pack holds). Statements
//! `sqlparser` 0.64 does not know (`TABLE t`, `DO`, `LOAD DATA`,
//! `SELECT ... INTO OUTFILE`) are unparsed, with lexically seen kinds and
//! tables attached. Texts over [`MAX_SQL_BYTES`], or with more than
//! [`MAX_CHAIN_OPERATORS`] operators (long operator chains become deep trees
//! that could exhaust the stack while parsing or dropping), are unparsed;
//! embedded SQL is followed at most 4 strings deep and 32 distinct texts per
//! call, beyond which it is opaque. Constant folding skips deep operands, so
//! `WHERE id + <huge expr> = id + <same huge expr>` counts as bounded.
//!
//! # Cost
//!
//! `sqlparser` tokenizing and parsing is nearly all of the time (~0.1-0.4 ms
//! per dialect for a 2 KB statement, depending on the machine), and it is paid
//! once per dialect: pass only the backend's dialect when it is known.
//! Plain read-only queries (no statement word other than `SELECT`/`WITH`
//! anywhere, a common grammar subset) skip it: `sql_fast` recognises them by
//! hand in ~15 µs per 2 KB and returns exactly the facts of the full path
//! (differentially tested against [`classify_sql_full`]); anything else, or
//! anything it is unsure of, takes the full path.
//!
//! [`looks_like_sql`] is a cheap word check for fields that may or may not hold
//! SQL (a `query` field may be a search string or GraphQL).

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sqlparser::ast::{
    AccessExpr, AlterColumnOperation, AlterTableOperation, CommentObject,
    ConditionalStatementBlock, ConditionalStatements, ConnectByKind, CopySource, CopyTarget,
    CreateFunctionBody, CreateProcedureBody, CreateRuleAction, Expr, FromTable, Function,
    FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArguments, GrantObjects,
    GroupByExpr, InTarget, JsonPathElem, LimitClause, MacroDefinition, MergeAction,
    MergeInsertKind, ObjectName, ObjectNamePart, ObjectType, OnConflictAction, OnInsert,
    OrderByKind, PipeOperator, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr,
    SqliteOnConflict, Statement, Subscript, TableFactor, TableObject, TableWithJoins,
    UnaryOperator, UpdateTableFromKind, Value, WindowType,
};
use sqlparser::dialect::{Dialect, GenericDialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

mod columns;
mod rows;

pub use columns::renamed_columns;

use rows::{const_value, matches_every_row, Const, RowScope};

/// Longest SQL text that is parsed; longer text is [`SqlKind::Unparsed`].
pub const MAX_SQL_BYTES: usize = 1 << 20;

/// Most operator tokens (tokens that can extend an expression or set-operation
/// chain) a text may hold before it is [`SqlKind::Unparsed`].
///
/// `sqlparser` builds `a + b + c ...` and `x UNION y UNION ...` as left-deep
/// trees without a recursion limit, and dropping such a tree recurses once per
/// level (~64 bytes of stack each in release builds): 35 000 levels overflow a
/// 2 MiB tokio worker stack. Every level needs one operator token, so this cap
/// bounds the depth at a few hundred KiB of stack.
pub const MAX_CHAIN_OPERATORS: usize = 8192;

/// How deep SQL embedded in strings (function bodies, `dblink`, `DO`) is
/// followed before it is treated as unreadable.
const MAX_EMBEDDED_DEPTH: usize = 4;

/// How many distinct embedded SQL texts one [`classify_sql`] call
/// classifies in all. Each may hold more, so without a shared budget crafted
/// input would cost exponential work.
const MAX_EMBEDDED_TEXTS: usize = 32;

/// Recursion bound for constant folding in WHERE clauses. The parser's own
/// recursion limit (50) keeps real nesting below this; AND/OR chains are
/// flattened iteratively and do not count.
const MAX_CONST_DEPTH: usize = 64;

/// A SQL dialect to read the text as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlDialect {
    /// PostgreSQL (and wire-compatible servers).
    Postgres,
    /// MySQL / MariaDB.
    #[serde(rename = "mysql", alias = "my_sql")]
    MySql,
    /// `sqlparser`'s permissive generic dialect (SQLite, ANSI-ish servers).
    Generic,
}

impl SqlDialect {
    /// Every dialect, in the order the caller should normally pass them.
    pub const ALL: [SqlDialect; 3] = [SqlDialect::Postgres, SqlDialect::MySql, SqlDialect::Generic];

    /// The `sqlparser` dialect that reads this one.
    fn parser_dialect(self) -> &'static dyn Dialect {
        static POSTGRES: PostgreSqlDialect = PostgreSqlDialect {};
        static MYSQL: MySqlDialect = MySqlDialect {};
        static GENERIC: GenericDialect = GenericDialect {};
        match self {
            SqlDialect::Postgres => &POSTGRES,
            SqlDialect::MySql => &MYSQL,
            SqlDialect::Generic => &GENERIC,
        }
    }
}

/// What a SQL statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlKind {
    /// Reads rows: SELECT, VALUES, TABLE.
    Select,
    /// Adds rows: INSERT, REPLACE.
    Insert,
    /// Changes rows: UPDATE.
    Update,
    /// Removes rows: DELETE.
    Delete,
    /// MERGE / upsert by join.
    Merge,
    /// Creates a schema object (table, view, function, role, ...).
    Create,
    /// Changes a schema object (ALTER, RENAME, COMMENT ON).
    Alter,
    /// Removes a schema object (DROP ...).
    Drop,
    /// Empties tables: TRUNCATE.
    Truncate,
    /// Gives privileges or roles.
    Grant,
    /// Takes privileges or roles away (REVOKE, DENY).
    Revoke,
    /// Transaction control: BEGIN, COMMIT, ROLLBACK, SAVEPOINT.
    Transaction,
    /// Session state: SET, RESET, USE, PRAGMA.
    Set,
    /// Metadata reads: SHOW, DESCRIBE.
    Show,
    /// EXPLAIN (the explained statement is reported as nested).
    Explain,
    /// Bulk data transfer and server file access: COPY, UNLOAD, LOAD DATA.
    Copy,
    /// Calls a stored procedure: CALL.
    Call,
    /// Runs a prepared or dynamic statement: EXECUTE, EXECUTE IMMEDIATE.
    Execute,
    /// Prepares a statement: PREPARE.
    Prepare,
    /// Anything else (VACUUM, LOCK, KILL, LISTEN, DO, cursors, ...).
    Other,
    /// Text that could not be read; matches every kind.
    Unparsed,
}

impl SqlKind {
    /// Every kind.
    pub const ALL: [SqlKind; 21] = [
        SqlKind::Select,
        SqlKind::Insert,
        SqlKind::Update,
        SqlKind::Delete,
        SqlKind::Merge,
        SqlKind::Create,
        SqlKind::Alter,
        SqlKind::Drop,
        SqlKind::Truncate,
        SqlKind::Grant,
        SqlKind::Revoke,
        SqlKind::Transaction,
        SqlKind::Set,
        SqlKind::Show,
        SqlKind::Explain,
        SqlKind::Copy,
        SqlKind::Call,
        SqlKind::Execute,
        SqlKind::Prepare,
        SqlKind::Other,
        SqlKind::Unparsed,
    ];

    /// The snake_case name used in policies and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SqlKind::Select => "select",
            SqlKind::Insert => "insert",
            SqlKind::Update => "update",
            SqlKind::Delete => "delete",
            SqlKind::Merge => "merge",
            SqlKind::Create => "create",
            SqlKind::Alter => "alter",
            SqlKind::Drop => "drop",
            SqlKind::Truncate => "truncate",
            SqlKind::Grant => "grant",
            SqlKind::Revoke => "revoke",
            SqlKind::Transaction => "transaction",
            SqlKind::Set => "set",
            SqlKind::Show => "show",
            SqlKind::Explain => "explain",
            SqlKind::Copy => "copy",
            SqlKind::Call => "call",
            SqlKind::Execute => "execute",
            SqlKind::Prepare => "prepare",
            SqlKind::Other => "other",
            SqlKind::Unparsed => "unparsed",
        }
    }
}

/// Facts about one top-level statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqlStatementFacts {
    /// What the statement is.
    pub kind: SqlKind,
    /// Tables (and `schema.*` wildcards) the statement names, lowercased,
    /// unquoted, dotted; sorted and unique.
    pub tables: Vec<String>,
    /// A DELETE/UPDATE in it has no WHERE or a trivially true one (always true
    /// when part of the statement could not be read).
    pub unbounded: bool,
    /// Every other kind the statement performs or may perform: nested
    /// statements, implied effects, other dialects' readings, and
    /// [`SqlKind::Unparsed`] for bodies that cannot be seen into. Sorted,
    /// unique, never contains `kind`.
    pub nested_kinds: Vec<SqlKind>,
    /// Functions the statement calls, lowercased and dotted; sorted and unique.
    pub functions: Vec<String>,
}

/// Facts about a SQL text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqlFacts {
    /// One entry per statement (one [`SqlKind::Unparsed`] entry when unreadable).
    pub statements: Vec<SqlStatementFacts>,
    /// Why the text could not be read, when no dialect parsed it.
    pub parse_error: Option<String>,
}

impl SqlFacts {
    /// Whether some dialect parsed the text (false when `parse_error` is set).
    pub fn parsed(&self) -> bool {
        self.parse_error.is_none()
    }

    /// Every kind present, nested ones included; contains
    /// [`SqlKind::Unparsed`] when the text or part of it could not be read.
    pub fn kinds(&self) -> BTreeSet<SqlKind> {
        let mut kinds = BTreeSet::new();
        for statement in &self.statements {
            kinds.insert(statement.kind);
            kinds.extend(statement.nested_kinds.iter().copied());
        }
        if !self.parsed() {
            kinds.insert(SqlKind::Unparsed);
        }
        kinds
    }

    /// Whether the SQL does `kind`; true for every kind when anything could
    /// not be read (unreadable SQL is the riskiest SQL).
    pub fn matches_kind(&self, kind: SqlKind) -> bool {
        let kinds = self.kinds();
        kinds.contains(&kind) || kinds.contains(&SqlKind::Unparsed)
    }

    /// Whether any DELETE/UPDATE lacks a real WHERE; true when anything could
    /// not be read.
    pub fn unbounded(&self) -> bool {
        !self.parsed()
            || self.statements.iter().any(|statement| {
                statement.unbounded
                    || statement.kind == SqlKind::Unparsed
                    || statement.nested_kinds.contains(&SqlKind::Unparsed)
            })
    }

    /// Whether the text holds more than one statement; true when unparsed
    /// (the statement boundaries are unknown).
    pub fn multiple(&self) -> bool {
        self.statements.len() > 1 || !self.parsed()
    }

    /// Every table named by any statement.
    pub fn tables(&self) -> BTreeSet<String> {
        self.statements
            .iter()
            .flat_map(|statement| statement.tables.iter().cloned())
            .collect()
    }

    /// Every function called by any statement.
    pub fn functions(&self) -> BTreeSet<String> {
        self.statements
            .iter()
            .flat_map(|statement| statement.functions.iter().cloned())
            .collect()
    }

    /// Whether the SQL only reads, as far as statement kinds show (Select,
    /// Show, Explain of a read). Called functions may still have side
    /// effects; see [`SqlFacts::functions`].
    pub fn read_only(&self) -> bool {
        self.parsed()
            && self
                .kinds()
                .iter()
                .all(|kind| matches!(kind, SqlKind::Select | SqlKind::Show | SqlKind::Explain))
    }
}

/// Why a text could not be read; its message becomes [`SqlFacts::parse_error`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum UnreadableSql {
    /// MySQL runs the contents of `/*! ... */` comments.
    #[error("MySQL executable comment (/*! ... */ or /*M! ... */): its contents run on MySQL")]
    ExecutableComment,
    /// Over [`MAX_SQL_BYTES`].
    #[error("SQL text is {len} bytes; at most {max} are parsed")]
    TooLong { len: usize, max: usize },
    /// Over [`MAX_CHAIN_OPERATORS`].
    #[error("SQL has {count} operator tokens; at most {max} are parsed")]
    TooComplex { count: usize, max: usize },
    /// Embedded SQL nested deeper than [`MAX_EMBEDDED_DEPTH`].
    #[error("SQL embedded in strings more than {0} levels deep")]
    TooDeep(usize),
    /// More than [`MAX_EMBEDDED_TEXTS`] embedded texts.
    #[error("more than {0} embedded SQL texts")]
    TooManyEmbedded(usize),
    /// The tokenizer or parser rejected the text.
    #[error("{0}")]
    Syntax(String),
}

/// Classifies SQL `text`, reading it with every dialect in `dialects` (an
/// empty slice means [`SqlDialect::ALL`]) and uniting the facts of every
/// reading; see the module docs.
pub fn classify_sql(text: &str, dialects: &[SqlDialect]) -> SqlFacts {
    classify_with(text, dialects, true)
}

/// [`classify_sql`] without its fast path for plain read-only queries: every
/// text goes through `sqlparser`. This is the reference the fast path is
/// differentially tested against, and the "before" line of the policy
/// benchmark; production code calls [`classify_sql`].
pub fn classify_sql_full(text: &str, dialects: &[SqlDialect]) -> SqlFacts {
    classify_with(text, dialects, false)
}

fn classify_with(text: &str, dialects: &[SqlDialect], fast: bool) -> SqlFacts {
    let dialects = if dialects.is_empty() {
        &SqlDialect::ALL[..]
    } else {
        dialects
    };
    let embedded = RefCell::new(Vec::new());
    let context = Context {
        dialects,
        depth: 0,
        embedded: &embedded,
        fast,
    };
    classify_in(text, context)
}

/// What classifying a text needs besides the text.
#[derive(Clone, Copy)]
struct Context<'c> {
    /// Dialects to read with (never empty).
    dialects: &'c [SqlDialect],
    /// How many string levels deep this text was found.
    depth: usize,
    /// Embedded texts classified so far in this [`classify_sql`] call: every
    /// dialect's reading meets the same strings, so each is classified once.
    embedded: &'c RefCell<Vec<(String, SqlFacts)>>,
    /// Whether `sql_fast` may answer (false only in its differential tests).
    fast: bool,
}

impl Context<'_> {
    /// Classifies SQL found inside a string of the current text.
    fn classify_embedded(self, text: &str) -> SqlFacts {
        let known = {
            let embedded = self.embedded.borrow();
            if let Some((_, facts)) = embedded.iter().find(|(seen, _)| seen == text) {
                return facts.clone();
            }
            embedded.len()
        };
        if known >= MAX_EMBEDDED_TEXTS {
            return unreadable(
                UnreadableSql::TooManyEmbedded(MAX_EMBEDDED_TEXTS),
                Vec::new(),
            );
        }
        // The borrow is released: classifying may meet further embedded SQL.
        let facts = classify_in(
            text,
            Context {
                depth: self.depth + 1,
                ..self
            },
        );
        self.embedded
            .borrow_mut()
            .push((text.to_owned(), facts.clone()));
        facts
    }
}

/// [`classify_sql`] with its context.
fn classify_in(text: &str, context: Context<'_>) -> SqlFacts {
    let Context {
        dialects,
        depth,
        fast,
        ..
    } = context;
    if depth > MAX_EMBEDDED_DEPTH {
        return unreadable(UnreadableSql::TooDeep(MAX_EMBEDDED_DEPTH), Vec::new());
    }
    if text.len() > MAX_SQL_BYTES {
        return unreadable(
            UnreadableSql::TooLong {
                len: text.len(),
                max: MAX_SQL_BYTES,
            },
            Vec::new(),
        );
    }
    if has_executable_comment(text) {
        // Read what MySQL would run, for kinds and tables; the verdict is
        // unparsed regardless.
        let exposed = expose_executable_comments(text);
        let lexical = lexical_reading(&exposed, SqlDialect::MySql, context).unwrap_or_default();
        return unreadable(UnreadableSql::ExecutableComment, lexical);
    }

    // Read-only queries of a common subset are recognised without sqlparser,
    // with exactly the facts the parse below would give (see sql_fast.rs).
    if fast {
        if let Some(facts) = super::sql_fast::classify(text, dialects) {
            return facts;
        }
    }

    // Fast path: text with none of the characters where dialects tokenize
    // differently (quotes, backslashes, `$`, `#`, block comments, non-ASCII) reads
    // the same in every dialect up to grammar; the permissive generic grammar's
    // reading is then taken when it parses, which saves two full parses. Anything
    // else, or text generic cannot parse, gets every dialect's reading.
    let pipes_as_or = if dialects.contains(&SqlDialect::MySql) {
        mysql_pipes_as_or(text)
    } else {
        None
    };
    if dialects.len() > 1
        && dialects.contains(&SqlDialect::Generic)
        && is_plain(text)
        && pipes_as_or.is_none()
    {
        if let Ok(reading) = parse_reading(text, SqlDialect::Generic, context) {
            return SqlFacts {
                statements: reading.into_iter().map(StatementAcc::finish).collect(),
                parse_error: None,
            };
        }
    }

    let respaced = respace_unicode(text);
    let variants = std::iter::once(text).chain(respaced.as_deref());
    let mut readings: Vec<Vec<StatementAcc>> = Vec::new();
    let mut failed: Vec<(&str, SqlDialect)> = Vec::new();
    let mut first_error: Option<UnreadableSql> = None;
    for variant in variants {
        for (index, &dialect) in dialects.iter().enumerate() {
            if dialects
                .iter()
                .take(index)
                .any(|earlier| *earlier == dialect)
            {
                continue;
            }
            match parse_reading(variant, dialect, context) {
                Ok(reading) => readings.push(reading),
                Err(error) => {
                    first_error.get_or_insert(error);
                    failed.push((variant, dialect));
                }
            }
        }
    }
    let lexical = failed
        .iter()
        .filter_map(|&(variant, dialect)| lexical_reading(variant, dialect, context));
    if readings.is_empty() {
        let error = first_error
            .unwrap_or_else(|| UnreadableSql::Syntax("no dialect to read SQL with".to_owned()));
        return unreadable(error, lexical.flatten().collect());
    }
    let lexical: Vec<Vec<StatementAcc>> = lexical.collect();
    if let Some(variant) = &pipes_as_or {
        if let Ok(reading) = parse_reading(variant, SqlDialect::MySql, context) {
            readings.push(reading);
        }
    }
    let mut merged: Vec<StatementAcc> = Vec::new();
    for reading in readings.into_iter().chain(lexical) {
        for (index, statement) in reading.into_iter().enumerate() {
            match merged.get_mut(index) {
                Some(slot) => slot.absorb(statement),
                None => merged.push(statement),
            }
        }
    }
    SqlFacts {
        statements: merged.into_iter().map(StatementAcc::finish).collect(),
        parse_error: None,
    }
}

/// MySQL reads `||` as OR (unless the server runs with `PIPES_AS_CONCAT`), with OR's
/// precedence: `WHERE id = 5 || 1` is every row. `sqlparser` reads it as string
/// concatenation in every dialect, so a statement that writes rows and contains `||`
/// gets another MySQL reading with `||` spelled `OR`. `None` when there is nothing
/// to re-read.
fn mysql_pipes_as_or(text: &str) -> Option<String> {
    if !text.contains("||") {
        return None;
    }
    let tokens = Tokenizer::new(&MySqlDialect {}, text).tokenize().ok()?;
    let has_pipes = tokens.iter().any(|t| matches!(t, Token::StringConcat));
    let writes = tokens.iter().any(|t| {
        matches!(t, Token::Word(word) if matches!(
            word.keyword,
            Keyword::DELETE | Keyword::UPDATE | Keyword::MERGE | Keyword::REPLACE
        ))
    });
    if !has_pipes || !writes {
        return None;
    }
    Some(
        tokens
            .iter()
            .map(|token| match token {
                Token::StringConcat => " OR ".to_owned(),
                other => other.to_string(),
            })
            .collect(),
    )
}

/// True when `text` has nothing dialects tokenize differently: printable ASCII with
/// spaces, tabs and newlines only (no `\r`, form feeds or other controls), and no
/// double quote, backtick, backslash (so `'...'` strings read alike), `$`, `#`, `--`
/// or `/*`.
pub(super) fn is_plain(text: &str) -> bool {
    text.bytes().all(|b| {
        matches!(b, b' '..=b'~' | b'\n' | b'\t') && !matches!(b, b'"' | b'`' | b'\\' | b'$' | b'#')
    }) && !text.contains("/*")
        && !text.contains("--")
}

/// One [`SqlKind::Unparsed`] statement carrying whatever lexical readings saw.
fn unreadable(error: UnreadableSql, seen: Vec<StatementAcc>) -> SqlFacts {
    let mut statement = StatementAcc::new(SqlKind::Unparsed);
    for other in seen {
        statement.absorb(other);
    }
    statement.unbounded = true;
    SqlFacts {
        statements: vec![statement.finish()],
        parse_error: Some(error.to_string()),
    }
}

/// Tokenizes and parses `text` as `dialect` and collects each statement's facts.
fn parse_reading(
    text: &str,
    dialect: SqlDialect,
    context: Context<'_>,
) -> Result<Vec<StatementAcc>, UnreadableSql> {
    let parser_dialect = dialect.parser_dialect();
    // Tokenize here (rather than `Parser::parse_sql`) to count operators
    // before the parser builds a tree from them, without tokenizing twice.
    let tokens = Tokenizer::new(parser_dialect, text)
        .tokenize_with_location()
        .map_err(|error| UnreadableSql::Syntax(error.to_string()))?;
    let count = chain_operator_count(&tokens);
    if count > MAX_CHAIN_OPERATORS {
        return Err(UnreadableSql::TooComplex {
            count,
            max: MAX_CHAIN_OPERATORS,
        });
    }
    let statements = Parser::new(parser_dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|error| UnreadableSql::Syntax(error.to_string()))?;
    Ok(statements
        .iter()
        .map(|statement| statement_facts(statement, context))
        .collect())
}

/// Upper bound on the depth of left-deep chains the parser can build from
/// `tokens`: tokens in infix/postfix position (after an operand) that are not
/// identifiers, literals or list punctuation. Prefix operators are excluded:
/// the parser recurses for them and its recursion limit applies.
fn chain_operator_count(tokens: &[TokenWithSpan]) -> usize {
    let mut count = 0;
    let mut after_operand = false;
    for token in tokens {
        match &token.token {
            Token::Whitespace(_) => {}
            Token::Word(word) => {
                if after_operand && word.quote_style.is_none() && word.keyword != Keyword::NoKeyword
                {
                    count += 1;
                }
                after_operand = true;
            }
            Token::Comma | Token::LParen | Token::SemiColon | Token::EOF => after_operand = false,
            Token::RParen
            | Token::RBracket
            | Token::RBrace
            | Token::Number(..)
            | Token::Placeholder(_) => after_operand = true,
            token if token_string(token).is_some() => after_operand = true,
            _ => {
                if after_operand {
                    count += 1;
                }
                after_operand = false;
            }
        }
    }
    count
}

/// The contents of a string-literal token.
fn token_string(token: &Token) -> Option<&str> {
    match token {
        Token::SingleQuotedString(s)
        | Token::DoubleQuotedString(s)
        | Token::TripleSingleQuotedString(s)
        | Token::TripleDoubleQuotedString(s)
        | Token::NationalStringLiteral(s)
        | Token::EscapedStringLiteral(s)
        | Token::UnicodeStringLiteral(s)
        | Token::SingleQuotedByteStringLiteral(s)
        | Token::DoubleQuotedByteStringLiteral(s)
        | Token::TripleSingleQuotedByteStringLiteral(s)
        | Token::TripleDoubleQuotedByteStringLiteral(s)
        | Token::SingleQuotedRawStringLiteral(s)
        | Token::DoubleQuotedRawStringLiteral(s)
        | Token::TripleSingleQuotedRawStringLiteral(s)
        | Token::TripleDoubleQuotedRawStringLiteral(s)
        | Token::HexStringLiteral(s) => Some(s),
        Token::DollarQuotedString(dollar) => Some(&dollar.value),
        _ => None,
    }
}

/// Whether `text` holds a MySQL (`/*!`) or MariaDB (`/*M!`) executable comment.
pub(super) fn has_executable_comment(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memmem::find_iter(bytes, b"/*").any(|at| {
        let rest = bytes.get(at + 2..).unwrap_or_default();
        rest.first() == Some(&b'!')
            || (matches!(rest.first(), Some(b'M' | b'm')) && rest.get(1) == Some(&b'!'))
    })
}

/// `text` with executable-comment markers removed, i.e. what MySQL runs.
fn expose_executable_comments(text: &str) -> String {
    let mut exposed = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((before, body)) = rest.split_once("/*") {
        exposed.push_str(before);
        let executable = body
            .strip_prefix('!')
            .or_else(|| body.strip_prefix("M!"))
            .or_else(|| body.strip_prefix("m!"));
        let (body, keep) = match executable {
            // The optional version number is not SQL.
            Some(body) => (body.trim_start_matches(|c: char| c.is_ascii_digit()), true),
            None => (body, false),
        };
        let (inside, after) = body.split_once("*/").unwrap_or((body, ""));
        exposed.push(' ');
        if keep {
            exposed.push_str(inside);
            exposed.push(' ');
        }
        rest = after;
    }
    exposed.push_str(rest);
    exposed
}

/// Zero-width and other invisible characters an attacker can put inside a
/// keyword (`DEL\u{200B}ETE`).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}'
    )
}

/// `text` with non-ASCII whitespace replaced by spaces and invisible
/// characters removed, or `None` when it has neither.
fn respace_unicode(text: &str) -> Option<String> {
    if text.is_ascii() {
        return None;
    }
    let unusual = |c: char| is_invisible(c) || (!c.is_ascii() && c.is_whitespace());
    if !text.chars().any(unusual) {
        return None;
    }
    Some(
        text.chars()
            .filter(|&c| !is_invisible(c))
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect(),
    )
}

/// Facts of one statement while they are collected.
#[derive(Debug, Clone)]
struct StatementAcc {
    kind: SqlKind,
    nested: BTreeSet<SqlKind>,
    tables: BTreeSet<String>,
    functions: BTreeSet<String>,
    unbounded: bool,
}

impl StatementAcc {
    fn new(kind: SqlKind) -> Self {
        StatementAcc {
            kind,
            nested: BTreeSet::new(),
            tables: BTreeSet::new(),
            functions: BTreeSet::new(),
            unbounded: false,
        }
    }

    /// Unites `other` (another reading of the same statement, or something
    /// it contains) into this statement.
    fn absorb(&mut self, other: StatementAcc) {
        self.nested.insert(other.kind);
        self.nested.extend(other.nested);
        self.tables.extend(other.tables);
        self.functions.extend(other.functions);
        self.unbounded |= other.unbounded;
    }

    fn absorb_facts(&mut self, facts: SqlFacts) {
        for statement in facts.statements {
            self.nested.insert(statement.kind);
            self.nested.extend(statement.nested_kinds);
            self.tables.extend(statement.tables);
            self.functions.extend(statement.functions);
            self.unbounded |= statement.unbounded;
        }
    }

    fn finish(mut self) -> SqlStatementFacts {
        self.nested.remove(&self.kind);
        let unreadable = self.kind == SqlKind::Unparsed || self.nested.contains(&SqlKind::Unparsed);
        SqlStatementFacts {
            kind: self.kind,
            tables: self.tables.into_iter().collect(),
            unbounded: self.unbounded || unreadable,
            nested_kinds: self.nested.into_iter().collect(),
            functions: self.functions.into_iter().collect(),
        }
    }
}

/// Lowercased, unquoted, dotted form of a name.
fn object_name(name: &ObjectName) -> String {
    let mut out = String::new();
    for (index, part) in name.0.iter().enumerate() {
        if index > 0 {
            out.push('.');
        }
        let ident = match part {
            ObjectNamePart::Identifier(ident) => ident,
            ObjectNamePart::Function(function) => &function.name,
        };
        out.push_str(&ident.value.to_lowercase());
    }
    out
}

/// The last part of a name, lowercased (`pg_catalog.set_config` → `set_config`).
fn base_name(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => ident.value.to_lowercase(),
        Some(ObjectNamePart::Function(function)) => function.name.value.to_lowercase(),
        None => String::new(),
    }
}

/// Whether `name` is a built-in that executes SQL given as an argument.
fn is_dynamic_sql_function(name: &ObjectName) -> bool {
    DYNAMIC_SQL_FUNCTIONS.contains(&base_name(name).as_str())
}

/// The kind of a top-level or nested statement.
fn statement_kind(statement: &Statement) -> SqlKind {
    use SqlKind as K;
    match statement {
        Statement::Query(query) => match query.body.as_ref() {
            SetExpr::Insert(_) => K::Insert,
            SetExpr::Update(_) => K::Update,
            SetExpr::Delete(_) => K::Delete,
            SetExpr::Merge(_) => K::Merge,
            SetExpr::Select(_)
            | SetExpr::Query(_)
            | SetExpr::SetOperation { .. }
            | SetExpr::Values(_)
            | SetExpr::Table(_) => K::Select,
        },
        Statement::Insert(_) => K::Insert,
        Statement::Update(_) => K::Update,
        Statement::Delete(_) => K::Delete,
        Statement::Merge(_) => K::Merge,
        Statement::Truncate(_) => K::Truncate,
        Statement::CreateView(_)
        | Statement::CreateTable(_)
        | Statement::CreateVirtualTable { .. }
        | Statement::CreateIndex(_)
        | Statement::CreateRole(_)
        | Statement::CreateSecret { .. }
        | Statement::CreateServer(_)
        | Statement::CreateForeignTable(_)
        | Statement::CreateForeignDataWrapper(_)
        | Statement::CreateUserMapping(_)
        | Statement::CreatePolicy(_)
        | Statement::CreateRule(_)
        | Statement::CreateConnector(_)
        | Statement::CreateOperator(_)
        | Statement::CreateOperatorFamily(_)
        | Statement::CreateOperatorClass(_)
        | Statement::CreateTextSearch(_)
        | Statement::CreateAggregate(_)
        | Statement::CreateExtension(_)
        | Statement::CreateCollation(_)
        | Statement::CreateSchema { .. }
        | Statement::CreateDatabase { .. }
        | Statement::CreateFunction(_)
        | Statement::CreateTrigger(_)
        | Statement::CreateProcedure { .. }
        | Statement::CreateMacro { .. }
        | Statement::CreateStage { .. }
        | Statement::CreateFileFormat { .. }
        | Statement::CreateWarehouse(_)
        | Statement::CreateSequence { .. }
        | Statement::CreateDomain(_)
        | Statement::CreateType { .. }
        | Statement::CreateUser(_) => K::Create,
        Statement::AlterTable(_)
        | Statement::AlterSchema(_)
        | Statement::AlterIndex { .. }
        | Statement::AlterView(_)
        | Statement::AlterFunction(_)
        | Statement::AlterType(_)
        | Statement::AlterCollation(_)
        | Statement::AlterOperator(_)
        | Statement::AlterOperatorFamily(_)
        | Statement::AlterOperatorClass(_)
        | Statement::AlterTextSearch(_)
        | Statement::AlterRole { .. }
        | Statement::AlterPolicy(_)
        | Statement::AlterTrigger(_)
        | Statement::AlterConnector { .. }
        | Statement::AlterUser(_)
        | Statement::Comment { .. }
        | Statement::RenameTable(_) => K::Alter,
        Statement::Drop { .. }
        | Statement::DropFunction(_)
        | Statement::DropDomain(_)
        | Statement::DropProcedure { .. }
        | Statement::DropSecret { .. }
        | Statement::DropPolicy(_)
        | Statement::DropRule(_)
        | Statement::DropConnector { .. }
        | Statement::DropExtension(_)
        | Statement::DropOperator(_)
        | Statement::DropOperatorFamily(_)
        | Statement::DropOperatorClass(_)
        | Statement::DropTrigger(_) => K::Drop,
        Statement::Grant(_) | Statement::GrantRole(_) | Statement::AlterDefaultPrivileges(_) => {
            K::Grant
        }
        Statement::Revoke(_) | Statement::RevokeRole(_) | Statement::Deny(_) => K::Revoke,
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => K::Transaction,
        Statement::Set(_)
        | Statement::AlterSession { .. }
        | Statement::Use(_)
        | Statement::Pragma { .. }
        | Statement::Reset(_) => K::Set,
        Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowProcessList { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowCharset(_)
        | Statement::ShowObjects(_)
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCollation { .. }
        | Statement::ExplainTable { .. }
        | Statement::List(_) => K::Show,
        Statement::Explain { .. } => K::Explain,
        Statement::Copy { .. }
        | Statement::CopyIntoSnowflake { .. }
        | Statement::Directory { .. }
        | Statement::Unload { .. }
        | Statement::LoadData { .. }
        | Statement::Put { .. }
        | Statement::Remove(_)
        | Statement::ExportData(_) => K::Copy,
        Statement::Call(_) => K::Call,
        Statement::Execute { .. } => K::Execute,
        Statement::Prepare { .. } => K::Prepare,
        Statement::Analyze(_)
        | Statement::Msck(_)
        | Statement::Install { .. }
        | Statement::Load { .. }
        | Statement::Case(_)
        | Statement::If(_)
        | Statement::While(_)
        | Statement::Raise(_)
        | Statement::Open(_)
        | Statement::Close { .. }
        | Statement::AttachDatabase { .. }
        | Statement::AttachDuckDBDatabase { .. }
        | Statement::DetachDuckDBDatabase { .. }
        | Statement::Declare { .. }
        | Statement::Fetch { .. }
        | Statement::Flush { .. }
        | Statement::Discard { .. }
        | Statement::Assert { .. }
        | Statement::Deallocate { .. }
        | Statement::Kill { .. }
        | Statement::Cache { .. }
        | Statement::UNCache { .. }
        | Statement::Lock(_)
        | Statement::LockTables { .. }
        | Statement::UnlockTables
        | Statement::OptimizeTable { .. }
        | Statement::LISTEN { .. }
        | Statement::UNLISTEN { .. }
        | Statement::NOTIFY { .. }
        | Statement::RaisError { .. }
        | Statement::Throw(_)
        | Statement::Print(_)
        | Statement::WaitFor(_)
        | Statement::Return(_)
        | Statement::Vacuum(_)
        | Statement::RefreshMaterializedView(_) => K::Other,
    }
}

/// Whether a CREATE statement replaces an existing object (`OR REPLACE`, `OR ALTER`).
fn replaces_existing(statement: &Statement) -> bool {
    match statement {
        Statement::CreateTable(create) => create.or_replace,
        Statement::CreateView(view) => view.or_replace || view.or_alter,
        Statement::CreateFunction(function) => function.or_replace || function.or_alter,
        Statement::CreateTrigger(trigger) => trigger.or_replace || trigger.or_alter,
        Statement::CreateRule(rule) => rule.or_replace,
        Statement::CreateAggregate(aggregate) => aggregate.or_replace,
        Statement::CreateProcedure { or_alter, .. } => *or_alter,
        Statement::CreateMacro { or_replace, .. }
        | Statement::CreateSecret { or_replace, .. }
        | Statement::CreateSchema { or_replace, .. }
        | Statement::CreateDatabase { or_replace, .. }
        | Statement::CreateStage { or_replace, .. }
        | Statement::CreateFileFormat { or_replace, .. } => *or_replace,
        _ => false,
    }
}

/// Names of procedures that run the SQL text they are given (T-SQL).
const DYNAMIC_SQL_PROCEDURES: &[&str] = &["sp_executesql", "sp_sqlexec", "exec", "execute"];

/// Built-in functions whose SQL argument is executed: their literal SQL
/// arguments are classified, anything else is opaque.
pub(super) const DYNAMIC_SQL_FUNCTIONS: &[&str] = &[
    "dblink",
    "dblink_exec",
    "dblink_open",
    "dblink_send_query",
    "query_to_xml",
    "query_to_xml_and_xmlschema",
    "query_to_xmlschema",
];

/// Built-in functions that read or write server files.
pub(super) const FILE_FUNCTIONS: &[&str] = &[
    "load_file",
    "lo_export",
    "lo_import",
    "pg_file_rename",
    "pg_file_unlink",
    "pg_file_write",
    "pg_ls_dir",
    "pg_read_binary_file",
    "pg_read_file",
    "pg_stat_file",
];

/// Built-in functions that control the server or other sessions.
pub(super) const ADMIN_FUNCTIONS: &[&str] = &[
    "pg_cancel_backend",
    "pg_create_restore_point",
    "pg_promote",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_switch_wal",
    "pg_terminate_backend",
];

/// A piece of the AST still to be walked.
enum Node<'a> {
    Statement(&'a Statement),
    Query(&'a Query),
    SetExpr(&'a SetExpr),
    TableFactor(&'a TableFactor),
    Expr(&'a Expr),
}

/// Walks one top-level statement with an explicit stack (never recursing on
/// input-shaped data, so deep trees cannot exhaust the thread's stack).
struct Walker<'a, 'c> {
    stack: Vec<Node<'a>>,
    acc: StatementAcc,
    context: Context<'c>,
    /// Set when the walk only looks for column references (see [`column_refs`]).
    columns: Option<ColumnRefs<'a, 'c>>,
}

/// What a column-reference walk looks for and found.
struct ColumnRefs<'a, 'q> {
    /// Collect subqueries instead of walking into them.
    stop_at_queries: bool,
    /// Count only names qualified with one of these (lowercase); `None`: any column.
    qualifiers: Option<&'q BTreeSet<String>>,
    /// A matching column reference was met (the walk then stops).
    found: bool,
    /// Subqueries met, when `stop_at_queries`.
    queries: Vec<&'a Query>,
}

fn statement_facts(statement: &Statement, context: Context<'_>) -> StatementAcc {
    let mut walker = Walker {
        stack: vec![Node::Statement(statement)],
        acc: StatementAcc::new(statement_kind(statement)),
        context,
        columns: None,
    };
    walker.run();
    walker.acc
}

/// Looks for column references under `start`: any column, or only names qualified
/// with one of `qualifiers`; subqueries are collected rather than entered when
/// `stop_at_queries`. Uses the statement walker, so every expression form is seen
/// and nothing recurses on input-shaped data.
fn column_refs<'a, 'q>(
    start: Node<'a>,
    stop_at_queries: bool,
    qualifiers: Option<&'q BTreeSet<String>>,
    context: Context<'q>,
) -> ColumnRefs<'a, 'q> {
    let mut walker = Walker {
        stack: vec![start],
        acc: StatementAcc::new(SqlKind::Select),
        context,
        columns: Some(ColumnRefs {
            stop_at_queries,
            qualifiers,
            found: false,
            queries: Vec::new(),
        }),
    };
    walker.run();
    walker.columns.unwrap_or(ColumnRefs {
        stop_at_queries,
        qualifiers,
        found: true,
        queries: Vec::new(),
    })
}

impl<'a> Walker<'a, '_> {
    fn run(&mut self) {
        while let Some(node) = self.stack.pop() {
            if self.columns.as_ref().is_some_and(|columns| columns.found) {
                return;
            }
            match node {
                Node::Statement(statement) => self.statement(statement),
                Node::Query(query) => self.query(query),
                Node::SetExpr(set_expr) => self.set_expr(set_expr),
                Node::TableFactor(factor) => self.table_factor(factor),
                Node::Expr(expr) => self.expr(expr),
            }
        }
    }

    fn kind(&mut self, kind: SqlKind) {
        self.acc.nested.insert(kind);
    }

    /// Part of the statement cannot be seen into.
    fn opaque(&mut self) {
        self.acc.nested.insert(SqlKind::Unparsed);
    }

    fn table(&mut self, name: &ObjectName) {
        self.acc.tables.insert(object_name(name));
    }

    /// Every relation in a schema or database.
    fn container(&mut self, name: &ObjectName) {
        self.acc.tables.insert(format!("{}.*", object_name(name)));
    }

    fn push_expr(&mut self, expr: &'a Expr) {
        self.stack.push(Node::Expr(expr));
    }

    fn push_exprs(&mut self, exprs: impl IntoIterator<Item = &'a Expr>) {
        for expr in exprs {
            self.stack.push(Node::Expr(expr));
        }
    }

    fn push_query(&mut self, query: &'a Query) {
        if let Some(columns) = self.columns.as_mut().filter(|c| c.stop_at_queries) {
            columns.queries.push(query);
            return;
        }
        self.stack.push(Node::Query(query));
    }

    fn push_statements(&mut self, statements: &'a [Statement]) {
        for statement in statements {
            self.stack.push(Node::Statement(statement));
        }
    }

    fn push_select_items(&mut self, items: &'a [SelectItem]) {
        for item in items {
            match item {
                SelectItem::UnnamedExpr(expr)
                | SelectItem::ExprWithAlias { expr, .. }
                | SelectItem::ExprWithAliases { expr, .. }
                | SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(expr), _) => {
                    self.push_expr(expr)
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(_),
                    _,
                )
                | SelectItem::Wildcard(_) => {}
            }
        }
    }

    fn push_conditional(&mut self, statements: &'a ConditionalStatements) {
        match statements {
            ConditionalStatements::Sequence { statements } => self.push_statements(statements),
            ConditionalStatements::BeginEnd(block) => self.push_statements(&block.statements),
        }
    }

    fn push_block(&mut self, block: &'a ConditionalStatementBlock) {
        if let Some(condition) = &block.condition {
            self.push_expr(condition);
        }
        self.push_conditional(&block.conditional_statements);
    }

    fn table_with_joins(&mut self, table: &'a TableWithJoins) {
        self.stack.push(Node::TableFactor(&table.relation));
        for join in &table.joins {
            self.stack.push(Node::TableFactor(&join.relation));
            use sqlparser::ast::{JoinConstraint, JoinOperator as J};
            let constraint = match &join.join_operator {
                J::Join(c)
                | J::Inner(c)
                | J::Left(c)
                | J::LeftOuter(c)
                | J::Right(c)
                | J::RightOuter(c)
                | J::FullOuter(c)
                | J::CrossJoin(c)
                | J::Semi(c)
                | J::LeftSemi(c)
                | J::RightSemi(c)
                | J::Anti(c)
                | J::LeftAnti(c)
                | J::RightAnti(c)
                | J::StraightJoin(c) => Some(c),
                J::AsOf {
                    match_condition,
                    constraint,
                } => {
                    self.push_expr(match_condition);
                    Some(constraint)
                }
                J::CrossApply
                | J::OuterApply
                | J::ArrayJoin
                | J::LeftArrayJoin
                | J::InnerArrayJoin => None,
            };
            if let Some(JoinConstraint::On(expr)) = constraint {
                self.push_expr(expr);
            }
        }
    }

    /// Records a function call, its side effects and its arguments.
    fn call(&mut self, name: &ObjectName, args: &'a [FunctionArg]) {
        self.acc.functions.insert(object_name(name));
        let base = base_name(name);
        if base == "set_config" {
            self.kind(SqlKind::Set);
        } else if FILE_FUNCTIONS.contains(&base.as_str()) {
            self.kind(SqlKind::Copy);
        } else if ADMIN_FUNCTIONS.contains(&base.as_str()) {
            self.kind(SqlKind::Other);
        } else if DYNAMIC_SQL_FUNCTIONS.contains(&base.as_str()) && self.columns.is_none() {
            self.kind(SqlKind::Execute);
            for arg in args {
                match function_arg_expr(arg) {
                    Some(expr) => self.dynamic_sql(expr),
                    None => self.opaque(),
                }
            }
        }
        self.push_args(args);
    }

    /// An argument that may be SQL to execute: literal SQL (or text folded from
    /// literals, `'DROP ' || 'TABLE t'`) is classified, other literals are
    /// harmless, anything computed is opaque.
    fn dynamic_sql(&mut self, expr: &Expr) {
        match expr {
            Expr::Value(value) if matches!(value.value, Value::Placeholder(_)) => self.opaque(),
            Expr::Nested(inner) => self.dynamic_sql(inner),
            other => match const_value(other, 0) {
                Some(Const::Str(text)) => {
                    if looks_like_sql(&text) {
                        self.embedded_sql(&text);
                    }
                }
                Some(_) => {}
                None => self.opaque(),
            },
        }
    }

    /// Text that is run as SQL whatever it looks like (`EXEC('...')`): classified
    /// when it folds to a constant, opaque otherwise.
    fn dynamic_text(&mut self, expr: &Expr) {
        match const_value(expr, 0) {
            Some(Const::Str(text)) => self.embedded_sql(&text),
            Some(Const::Null) => {}
            Some(_) | None => self.opaque(),
        }
    }

    /// Classifies SQL found in a string and adds its facts to this statement.
    fn embedded_sql(&mut self, text: &str) {
        let facts = self.context.classify_embedded(text);
        self.acc.absorb_facts(facts);
    }

    fn function(&mut self, function: &'a Function) {
        // Parameters (ClickHouse `f(params)(args)`) never carry the SQL.
        match &function.parameters {
            FunctionArguments::None => {}
            FunctionArguments::Subquery(query) => self.push_query(query),
            FunctionArguments::List(list) => self.push_args(&list.args),
        }
        match &function.args {
            FunctionArguments::None => self.call(&function.name, &[]),
            FunctionArguments::Subquery(query) => {
                self.call(&function.name, &[]);
                if is_dynamic_sql_function(&function.name) {
                    self.opaque();
                }
                self.push_query(query);
            }
            FunctionArguments::List(list) => {
                self.call(&function.name, &list.args);
                for clause in &list.clauses {
                    match clause {
                        FunctionArgumentClause::Where(expr)
                        | FunctionArgumentClause::Limit(expr) => self.push_expr(expr),
                        FunctionArgumentClause::OrderBy(order) => {
                            self.push_exprs(order.iter().map(|o| &o.expr))
                        }
                        _ => {}
                    }
                }
            }
        }
        if let Some(filter) = &function.filter {
            self.push_expr(filter);
        }
        if let Some(WindowType::WindowSpec(spec)) = &function.over {
            self.push_exprs(&spec.partition_by);
            self.push_exprs(spec.order_by.iter().map(|o| &o.expr));
        }
        self.push_exprs(function.within_group.iter().map(|o| &o.expr));
    }

    /// Pushes argument expressions.
    fn push_args(&mut self, args: &'a [FunctionArg]) {
        for arg in args {
            if let FunctionArg::ExprNamed { name, .. } = arg {
                self.push_expr(name);
            }
            if let Some(expr) = function_arg_expr(arg) {
                self.push_expr(expr);
            }
        }
    }

    fn statement(&mut self, statement: &'a Statement) {
        self.kind(statement_kind(statement));
        if replaces_existing(statement) {
            // CREATE OR REPLACE / CREATE OR ALTER drops what was there (a table's
            // rows, a view's or function's definition) and creates anew.
            self.kind(SqlKind::Drop);
        }
        match statement {
            Statement::Query(query) => self.push_query(query),
            Statement::Insert(insert) => {
                match &insert.table {
                    TableObject::TableName(name) => self.table(name),
                    TableObject::TableFunction(function) => self.function(function),
                    TableObject::TableQuery(query) => self.push_query(query),
                }
                if let Some(source) = &insert.source {
                    self.push_query(source);
                }
                self.push_exprs(insert.assignments.iter().map(|a| &a.value));
                if insert.replace_into || matches!(insert.or, Some(SqliteOnConflict::Replace)) {
                    // REPLACE deletes the conflicting row, then inserts.
                    self.kind(SqlKind::Delete);
                }
                if insert.overwrite {
                    // INSERT OVERWRITE replaces every row of the table.
                    self.kind(SqlKind::Delete);
                    self.acc.unbounded = true;
                }
                match &insert.on {
                    Some(OnInsert::DuplicateKeyUpdate(assignments)) => {
                        self.kind(SqlKind::Update);
                        self.push_exprs(assignments.iter().map(|a| &a.value));
                    }
                    Some(OnInsert::OnConflict(conflict)) => {
                        if let OnConflictAction::DoUpdate(update) = &conflict.action {
                            self.kind(SqlKind::Update);
                            self.push_exprs(update.assignments.iter().map(|a| &a.value));
                            if let Some(selection) = &update.selection {
                                self.push_expr(selection);
                            }
                        }
                    }
                    _ => {}
                }
                if let Some(returning) = &insert.returning {
                    self.push_select_items(returning);
                }
            }
            Statement::Update(update) => {
                self.table_with_joins(&update.table);
                match &update.from {
                    Some(
                        UpdateTableFromKind::BeforeSet(tables)
                        | UpdateTableFromKind::AfterSet(tables),
                    ) => {
                        for table in tables {
                            self.table_with_joins(table);
                        }
                    }
                    None => {}
                }
                self.push_exprs(update.assignments.iter().map(|a| &a.value));
                if let Some(selection) = &update.selection {
                    self.push_expr(selection);
                }
                if let Some(returning) = &update.returning {
                    self.push_select_items(returning);
                }
                let mut scope = RowScope::new(self.context);
                scope.add_tables(&update.table);
                if let Some(
                    UpdateTableFromKind::BeforeSet(tables) | UpdateTableFromKind::AfterSet(tables),
                ) = &update.from
                {
                    for table in tables {
                        scope.add_tables(table);
                    }
                }
                if matches_every_row(update.selection.as_ref(), &scope) {
                    self.acc.unbounded = true;
                }
            }
            Statement::Delete(delete) => {
                for name in &delete.tables {
                    self.table(name);
                }
                match &delete.from {
                    FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables) => {
                        for table in tables {
                            self.table_with_joins(table);
                        }
                    }
                }
                for table in delete.using.iter().flatten() {
                    self.table_with_joins(table);
                }
                if let Some(selection) = &delete.selection {
                    self.push_expr(selection);
                }
                if let Some(returning) = &delete.returning {
                    self.push_select_items(returning);
                }
                let mut scope = RowScope::new(self.context);
                for name in &delete.tables {
                    scope.add_name(name);
                }
                match &delete.from {
                    FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables) => {
                        for table in tables {
                            scope.add_tables(table);
                        }
                    }
                }
                for table in delete.using.iter().flatten() {
                    scope.add_tables(table);
                }
                if matches_every_row(delete.selection.as_ref(), &scope) {
                    self.acc.unbounded = true;
                }
            }
            Statement::Merge(merge) => {
                self.stack.push(Node::TableFactor(&merge.table));
                self.stack.push(Node::TableFactor(&merge.source));
                self.push_expr(&merge.on);
                let mut changes_matched_rows = false;
                for clause in &merge.clauses {
                    if let Some(predicate) = &clause.predicate {
                        self.push_expr(predicate);
                    }
                    match &clause.action {
                        MergeAction::Insert(insert) => {
                            self.kind(SqlKind::Insert);
                            if let MergeInsertKind::Values(values) = &insert.kind {
                                self.push_exprs(
                                    values.rows.iter().flat_map(|row| row.content.iter()),
                                );
                            }
                        }
                        MergeAction::Update(_) => {
                            self.kind(SqlKind::Update);
                            changes_matched_rows = true;
                        }
                        MergeAction::Delete { .. } => {
                            self.kind(SqlKind::Delete);
                            changes_matched_rows = true;
                        }
                        MergeAction::DoNothing { .. } => {}
                    }
                }
                let mut scope = RowScope::new(self.context);
                scope.add_factor(&merge.table);
                if changes_matched_rows && matches_every_row(Some(&merge.on), &scope) {
                    self.acc.unbounded = true;
                }
            }
            Statement::Truncate(truncate) => {
                for target in &truncate.table_names {
                    self.table(&target.name);
                }
            }
            Statement::CreateTable(create) => {
                self.table(&create.name);
                if let Some(query) = &create.query {
                    self.push_query(query);
                }
                if let Some(clone) = &create.clone {
                    self.table(clone);
                }
            }
            Statement::CreateView(view) => {
                self.table(&view.name);
                self.push_query(&view.query);
            }
            Statement::CreateVirtualTable { name, .. } => self.table(name),
            Statement::CreateIndex(index) => {
                self.table(&index.table_name);
                if let Some(predicate) = &index.predicate {
                    self.push_expr(predicate);
                }
            }
            Statement::CreateForeignTable(table) => self.table(&table.name),
            Statement::CreatePolicy(policy) => {
                self.table(&policy.table_name);
                self.push_exprs(policy.using.iter().chain(policy.with_check.iter()));
            }
            Statement::CreateRule(rule) => {
                self.table(&rule.table_name);
                if let Some(condition) = &rule.condition {
                    self.push_expr(condition);
                }
                match &rule.action {
                    CreateRuleAction::Nothing => {}
                    CreateRuleAction::Statement(statement) => {
                        self.stack.push(Node::Statement(statement))
                    }
                    CreateRuleAction::Statements(statements) => self.push_statements(statements),
                }
            }
            Statement::CreateTrigger(trigger) => {
                self.table(&trigger.table_name);
                if let Some(condition) = &trigger.condition {
                    self.push_expr(condition);
                }
                if let Some(body) = &trigger.exec_body {
                    self.acc.functions.insert(object_name(&body.func_desc.name));
                }
                if let Some(statements) = &trigger.statements {
                    self.push_conditional(statements);
                }
            }
            Statement::CreateFunction(function) => {
                let sql_language = function
                    .language
                    .as_ref()
                    .is_none_or(|language| language.value.eq_ignore_ascii_case("sql"));
                if !sql_language || function.using.is_some() {
                    // PL/pgSQL, Python, C, JARs...: code we cannot see into.
                    self.opaque();
                }
                match &function.function_body {
                    Some(
                        CreateFunctionBody::AsBeforeOptions { body, .. }
                        | CreateFunctionBody::AsAfterOptions(body),
                    ) => match body {
                        Expr::Value(value) => match value_string(&value.value) {
                            Some(text) => self.embedded_sql(text),
                            None => self.opaque(),
                        },
                        other => self.push_expr(other),
                    },
                    Some(
                        CreateFunctionBody::AsBeginEnd(block)
                        | CreateFunctionBody::BeginAtomic(block),
                    ) => self.push_statements(&block.statements),
                    Some(
                        CreateFunctionBody::Return(expr) | CreateFunctionBody::AsReturnExpr(expr),
                    ) => self.push_expr(expr),
                    Some(CreateFunctionBody::AsReturnSelect(select)) => self.select(select),
                    None => {}
                }
            }
            Statement::CreateProcedure { language, body, .. } => {
                if language
                    .as_ref()
                    .is_some_and(|language| !language.value.eq_ignore_ascii_case("sql"))
                {
                    self.opaque();
                }
                match body {
                    CreateProcedureBody::As(statements) => self.push_conditional(statements),
                    CreateProcedureBody::BeginAtomic(block) => {
                        self.push_statements(&block.statements)
                    }
                }
            }
            Statement::CreateMacro { definition, .. } => match definition {
                MacroDefinition::Expr(expr) => self.push_expr(expr),
                MacroDefinition::Table(query) => self.push_query(query),
            },
            Statement::CreateSchema { clone, .. } | Statement::CreateDatabase { clone, .. } => {
                if let Some(clone) = clone {
                    self.container(clone);
                }
            }
            Statement::AlterTable(alter) => {
                self.table(&alter.name);
                for operation in &alter.operations {
                    use AlterTableOperation as Op;
                    match operation {
                        Op::DropConstraint { .. }
                        | Op::DropColumn { .. }
                        | Op::DropPrimaryKey { .. }
                        | Op::DropForeignKey { .. }
                        | Op::DropIndex { .. }
                        | Op::DropPartitions { .. }
                        | Op::DropProjection { .. }
                        | Op::DropClusteringKey
                        | Op::DetachPartition { .. }
                        | Op::DetachPartitionOf { .. } => self.kind(SqlKind::Drop),
                        Op::RenameTable { table_name } => {
                            use sqlparser::ast::RenameTableNameKind as R;
                            match table_name {
                                R::As(name) | R::To(name) => self.table(name),
                            }
                        }
                        Op::SwapWith { table_name } => self.table(table_name),
                        // A new column type rewrites every row (`USING` with any
                        // expression, `USING NULL` wiping the column): an unbounded
                        // update.
                        Op::AlterColumn {
                            op: AlterColumnOperation::SetDataType { using, .. },
                            ..
                        } => {
                            self.kind(SqlKind::Update);
                            self.acc.unbounded = true;
                            if let Some(using) = using {
                                self.push_expr(using);
                            }
                        }
                        Op::ChangeColumn { .. } | Op::ModifyColumn { .. } => {
                            self.kind(SqlKind::Update);
                            self.acc.unbounded = true;
                        }
                        _ => {}
                    }
                }
            }
            Statement::AlterView(view) => {
                self.table(&view.name);
            }
            Statement::AlterIndex { name, .. } => self.table(name),
            Statement::AlterRole { .. } | Statement::AlterUser(_) => self.kind(SqlKind::Grant),
            Statement::AlterPolicy(policy) => self.table(&policy.table_name),
            Statement::Comment {
                object_type,
                object_name,
                ..
            } => {
                if matches!(
                    object_type,
                    CommentObject::Table
                        | CommentObject::View
                        | CommentObject::MaterializedView
                        | CommentObject::ForeignTable
                ) {
                    self.table(object_name);
                }
            }
            Statement::RenameTable(renames) => {
                for rename in renames {
                    self.table(&rename.old_name);
                    self.table(&rename.new_name);
                }
            }
            Statement::Drop {
                object_type,
                names,
                table,
                ..
            } => {
                for name in names {
                    match object_type {
                        ObjectType::Table
                        | ObjectType::ForeignTable
                        | ObjectType::View
                        | ObjectType::MaterializedView
                        | ObjectType::Sequence
                        | ObjectType::Stream => self.table(name),
                        ObjectType::Schema | ObjectType::Database => self.container(name),
                        _ => {}
                    }
                }
                if let Some(table) = table {
                    self.table(table);
                }
            }
            Statement::DropPolicy(drop) => self.table(&drop.table_name),
            Statement::DropRule(drop) => self.table(&drop.table_name),
            Statement::DropTrigger(drop) => {
                if let Some(table) = &drop.table_name {
                    self.table(table);
                }
            }
            Statement::Grant(grant) => self.grant_objects(grant.objects.as_ref()),
            Statement::Revoke(revoke) => self.grant_objects(revoke.objects.as_ref()),
            Statement::Deny(deny) => self.grant_objects(Some(&deny.objects)),
            Statement::StartTransaction {
                statements,
                exception,
                ..
            } => {
                self.push_statements(statements);
                for handler in exception.iter().flatten() {
                    self.push_statements(&handler.statements);
                }
            }
            Statement::Set(set) => {
                use sqlparser::ast::Set as S;
                match set {
                    S::SingleAssignment { values, .. }
                    | S::ParenthesizedAssignments { values, .. } => self.push_exprs(values),
                    S::MultipleAssignments { assignments } => {
                        self.push_exprs(assignments.iter().map(|a| &a.value))
                    }
                    S::SetTimeZone { value, .. } => self.push_expr(value),
                    _ => {}
                }
            }
            Statement::ExplainTable { table_name, .. } => self.table(table_name),
            Statement::ShowCreate { obj_name, .. } => self.table(obj_name),
            Statement::Explain { statement, .. } | Statement::Prepare { statement, .. } => {
                self.stack.push(Node::Statement(statement))
            }
            Statement::Copy {
                source, to, target, ..
            } => {
                match source {
                    CopySource::Table { table_name, .. } => self.table(table_name),
                    CopySource::Query(query) => self.push_query(query),
                }
                if !to {
                    self.kind(SqlKind::Insert);
                }
                if let CopyTarget::Program { .. } = target {
                    // A shell command runs on the database server.
                    self.opaque();
                }
            }
            Statement::CopyIntoSnowflake {
                into,
                from_obj,
                from_query,
                ..
            } => {
                self.table(into);
                if let Some(from) = from_obj {
                    self.table(from);
                }
                if let Some(query) = from_query {
                    self.push_query(query);
                }
                self.kind(SqlKind::Insert);
            }
            Statement::Directory { source, .. } => self.push_query(source),
            Statement::Unload {
                query: Some(query), ..
            } => self.push_query(query),
            Statement::ExportData(export) => self.push_query(&export.query),
            Statement::LoadData {
                table_name,
                overwrite,
                ..
            } => {
                self.table(table_name);
                self.kind(SqlKind::Insert);
                if *overwrite {
                    self.kind(SqlKind::Delete);
                    self.acc.unbounded = true;
                }
            }
            Statement::Remove(_) => self.kind(SqlKind::Delete),
            Statement::Call(function) => self.function(function),
            Statement::Execute {
                name,
                parameters,
                immediate,
                using,
                ..
            } => {
                // PostgreSQL's and MySQL's readings take `IMMEDIATE` for the
                // prepared statement's name.
                // `EXEC('...')` (no name), `EXECUTE IMMEDIATE '...'` and
                // `EXEC sp_executesql N'...'` run their text as SQL: it is
                // classified however it looks (a bare procedure name is a batch
                // too), and text built at run time is opaque.
                let dynamic = *immediate
                    || name.as_ref().is_none_or(|name| {
                        let base = base_name(name);
                        base == "immediate" || DYNAMIC_SQL_PROCEDURES.contains(&base.as_str())
                    });
                if dynamic {
                    for parameter in parameters {
                        self.dynamic_text(parameter);
                    }
                }
                self.push_exprs(parameters);
                self.push_exprs(using.iter().map(|u| &u.expr));
            }
            Statement::Install { .. } | Statement::Load { .. } => {
                // Loads server-side code.
                self.opaque();
            }
            Statement::Case(case) => {
                if let Some(expr) = &case.match_expr {
                    self.push_expr(expr);
                }
                for block in case.when_blocks.iter().chain(case.else_block.iter()) {
                    self.push_block(block);
                }
            }
            Statement::If(statement) => {
                for block in std::iter::once(&statement.if_block)
                    .chain(statement.elseif_blocks.iter())
                    .chain(statement.else_block.iter())
                {
                    self.push_block(block);
                }
            }
            Statement::While(statement) => self.push_block(&statement.while_block),
            Statement::Declare { stmts, .. } => {
                for declare in stmts {
                    if let Some(query) = &declare.for_query {
                        self.push_query(query);
                    }
                }
            }
            Statement::Assert { condition, .. } => self.push_expr(condition),
            Statement::Analyze(analyze) => {
                if let Some(table) = &analyze.table_name {
                    self.table(table);
                }
            }
            Statement::Vacuum(vacuum) => {
                if let Some(table) = &vacuum.table_name {
                    self.table(table);
                }
            }
            Statement::Msck(msck) => self.table(&msck.table_name),
            Statement::Lock(lock) => {
                for target in &lock.tables {
                    self.table(&target.name);
                }
            }
            Statement::LockTables { tables } => {
                for table in tables {
                    self.acc.tables.insert(table.table.value.to_lowercase());
                }
            }
            Statement::OptimizeTable { name, .. } => self.table(name),
            Statement::RefreshMaterializedView(refresh) => self.table(&refresh.name),
            Statement::Cache {
                table_name, query, ..
            } => {
                self.table(table_name);
                if let Some(query) = query {
                    self.push_query(query);
                }
            }
            Statement::UNCache { table_name, .. } => self.table(table_name),
            _ => {}
        }
    }

    fn grant_objects(&mut self, objects: Option<&'a GrantObjects>) {
        use GrantObjects as G;
        match objects {
            Some(G::Tables(names) | G::Views(names) | G::Sequences(names)) => {
                for name in names {
                    self.table(name);
                }
            }
            Some(
                G::AllTablesInSchema { schemas }
                | G::AllViewsInSchema { schemas }
                | G::AllMaterializedViewsInSchema { schemas }
                | G::AllExternalTablesInSchema { schemas }
                | G::AllSequencesInSchema { schemas }
                | G::FutureTablesInSchema { schemas }
                | G::FutureViewsInSchema { schemas }
                | G::FutureExternalTablesInSchema { schemas }
                | G::FutureMaterializedViewsInSchema { schemas }
                | G::FutureSequencesInSchema { schemas }
                | G::Schemas(schemas),
            ) => {
                for schema in schemas {
                    self.container(schema);
                }
            }
            Some(G::Databases(databases) | G::FutureSchemasInDatabase { databases }) => {
                for database in databases {
                    self.container(database);
                }
            }
            _ => {}
        }
    }

    fn query(&mut self, query: &'a Query) {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.push_query(&cte.query);
            }
        }
        self.stack.push(Node::SetExpr(&query.body));
        if let Some(order_by) = &query.order_by {
            if let OrderByKind::Expressions(order) = &order_by.kind {
                self.push_exprs(order.iter().map(|o| &o.expr));
            }
        }
        match &query.limit_clause {
            Some(LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) => {
                self.push_exprs(limit.iter());
                self.push_exprs(offset.iter().map(|o| &o.value));
                self.push_exprs(limit_by);
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                self.push_expr(offset);
                self.push_expr(limit);
            }
            None => {}
        }
        if let Some(fetch) = &query.fetch {
            self.push_exprs(fetch.quantity.iter());
        }
        for operator in &query.pipe_operators {
            match operator {
                PipeOperator::Where { expr } | PipeOperator::Limit { expr, .. } => {
                    self.push_expr(expr)
                }
                PipeOperator::Select { exprs } | PipeOperator::Extend { exprs } => {
                    self.push_select_items(exprs)
                }
                PipeOperator::Union { queries, .. }
                | PipeOperator::Intersect { queries, .. }
                | PipeOperator::Except { queries, .. } => {
                    for query in queries {
                        self.push_query(query);
                    }
                }
                PipeOperator::Call { function, .. } => self.function(function),
                PipeOperator::Join(join) => self.stack.push(Node::TableFactor(&join.relation)),
                _ => {}
            }
        }
    }

    fn set_expr(&mut self, set_expr: &'a SetExpr) {
        match set_expr {
            SetExpr::Select(select) => {
                self.kind(SqlKind::Select);
                self.select(select)
            }
            SetExpr::Query(query) => self.push_query(query),
            SetExpr::SetOperation { left, right, .. } => {
                self.stack.push(Node::SetExpr(left));
                self.stack.push(Node::SetExpr(right));
            }
            SetExpr::Values(values) => {
                self.push_exprs(values.rows.iter().flat_map(|row| row.content.iter()))
            }
            SetExpr::Insert(statement)
            | SetExpr::Update(statement)
            | SetExpr::Delete(statement)
            | SetExpr::Merge(statement) => self.stack.push(Node::Statement(statement)),
            SetExpr::Table(table) => {
                self.kind(SqlKind::Select);
                if let Some(name) = &table.table_name {
                    let name = match &table.schema_name {
                        Some(schema) => format!(
                            "{}.{}",
                            schema.value.to_lowercase(),
                            name.value.to_lowercase()
                        ),
                        None => name.value.to_lowercase(),
                    };
                    self.acc.tables.insert(name);
                }
            }
        }
    }

    fn select(&mut self, select: &'a Select) {
        self.push_select_items(&select.projection);
        if let Some(into) = &select.into {
            // SELECT ... INTO t creates t; INTO @var (MySQL) only assigns.
            let creates_table = into.targets.iter().any(|target| !is_variable(target));
            if creates_table {
                self.kind(SqlKind::Create);
                for target in &into.targets {
                    match target {
                        Expr::Identifier(ident) => {
                            self.acc.tables.insert(ident.value.to_lowercase());
                        }
                        Expr::CompoundIdentifier(parts) => {
                            let name: Vec<String> =
                                parts.iter().map(|p| p.value.to_lowercase()).collect();
                            self.acc.tables.insert(name.join("."));
                        }
                        other => self.push_expr(other),
                    }
                }
            }
        }
        for table in &select.from {
            self.table_with_joins(table);
        }
        self.push_exprs(select.lateral_views.iter().map(|view| &view.lateral_view));
        self.push_exprs(
            select
                .prewhere
                .iter()
                .chain(select.selection.iter())
                .chain(select.having.iter())
                .chain(select.qualify.iter()),
        );
        if let GroupByExpr::Expressions(exprs, _) = &select.group_by {
            self.push_exprs(exprs);
        }
        self.push_exprs(select.cluster_by.iter().chain(select.distribute_by.iter()));
        self.push_exprs(select.sort_by.iter().map(|o| &o.expr));
        for connect in &select.connect_by {
            match connect {
                ConnectByKind::ConnectBy { relationships, .. } => self.push_exprs(relationships),
                ConnectByKind::StartWith { condition, .. } => self.push_expr(condition),
            }
        }
    }

    fn table_factor(&mut self, factor: &'a TableFactor) {
        match factor {
            TableFactor::Table { name, args, .. } => match args {
                Some(args) => {
                    self.call(name, &args.args);
                }
                None => self.table(name),
            },
            TableFactor::Derived { subquery, .. } => self.push_query(subquery),
            TableFactor::TableFunction { expr, .. } => self.push_expr(expr),
            TableFactor::Function { name, args, .. } => self.call(name, args),
            TableFactor::UNNEST { array_exprs, .. } => self.push_exprs(array_exprs),
            TableFactor::JsonTable { json_expr, .. }
            | TableFactor::OpenJsonTable { json_expr, .. } => self.push_expr(json_expr),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.table_with_joins(table_with_joins),
            TableFactor::Pivot {
                table,
                aggregate_functions,
                value_column,
                default_on_null,
                ..
            } => {
                self.stack.push(Node::TableFactor(table));
                self.push_exprs(aggregate_functions.iter().map(|a| &a.expr));
                self.push_exprs(value_column);
                self.push_exprs(default_on_null.iter());
            }
            TableFactor::Unpivot { table, value, .. } => {
                self.stack.push(Node::TableFactor(table));
                self.push_expr(value);
            }
            TableFactor::UnpivotExpr { expression, .. } => self.push_expr(expression),
            TableFactor::MatchRecognize {
                table,
                partition_by,
                ..
            } => {
                self.stack.push(Node::TableFactor(table));
                self.push_exprs(partition_by);
            }
            TableFactor::XmlTable { row_expression, .. } => self.push_expr(row_expression),
            TableFactor::SemanticView {
                name, where_clause, ..
            } => {
                self.table(name);
                self.push_exprs(where_clause.iter());
            }
        }
    }

    fn expr(&mut self, expr: &'a Expr) {
        if let Some(columns) = self.columns.as_mut() {
            if rows::is_column_ref(expr, columns.qualifiers) {
                columns.found = true;
                return;
            }
        }
        match expr {
            Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Value(_)
            | Expr::TypedString(_)
            | Expr::MatchAgainst { .. }
            | Expr::Wildcard(_)
            | Expr::QualifiedWildcard(..) => {}
            Expr::CompoundFieldAccess { root, access_chain } => {
                self.push_expr(root);
                for access in access_chain {
                    match access {
                        AccessExpr::Dot(expr) => self.push_expr(expr),
                        AccessExpr::Subscript(Subscript::Index { index }) => self.push_expr(index),
                        AccessExpr::Subscript(Subscript::Slice {
                            lower_bound,
                            upper_bound,
                            stride,
                        }) => self.push_exprs(
                            lower_bound
                                .iter()
                                .chain(upper_bound.iter())
                                .chain(stride.iter()),
                        ),
                    }
                }
            }
            Expr::JsonAccess { value, path } => {
                self.push_expr(value);
                for element in &path.path {
                    match element {
                        JsonPathElem::Bracket { key } | JsonPathElem::ColonBracket { key } => {
                            self.push_expr(key)
                        }
                        JsonPathElem::Dot { .. } => {}
                    }
                }
            }
            Expr::IsFalse(e)
            | Expr::IsNotFalse(e)
            | Expr::IsTrue(e)
            | Expr::IsNotTrue(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::IsUnknown(e)
            | Expr::IsNotUnknown(e)
            | Expr::IsJson { expr: e, .. }
            | Expr::IsNormalized { expr: e, .. }
            | Expr::UnaryOp { expr: e, .. }
            | Expr::Cast { expr: e, .. }
            | Expr::Extract { expr: e, .. }
            | Expr::Ceil { expr: e, .. }
            | Expr::Floor { expr: e, .. }
            | Expr::Collate { expr: e, .. }
            | Expr::Nested(e)
            | Expr::Prefixed { value: e, .. }
            | Expr::Named { expr: e, .. }
            | Expr::OuterJoin(e)
            | Expr::Prior(e) => self.push_expr(e),
            Expr::IsDistinctFrom(a, b)
            | Expr::IsNotDistinctFrom(a, b)
            | Expr::BinaryOp {
                left: a, right: b, ..
            }
            | Expr::AnyOp {
                left: a, right: b, ..
            }
            | Expr::AllOp {
                left: a, right: b, ..
            }
            | Expr::AtTimeZone {
                timestamp: a,
                time_zone: b,
            }
            | Expr::Position { expr: a, r#in: b }
            | Expr::RLike {
                expr: a,
                pattern: b,
                ..
            } => {
                self.push_expr(a);
                self.push_expr(b);
            }
            Expr::Like {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::SimilarTo {
                expr,
                pattern,
                escape_char,
                ..
            } => {
                self.push_expr(expr);
                self.push_expr(pattern);
                self.push_exprs(escape_char.iter().map(|e| e.as_ref()));
            }
            Expr::In { expr, target, .. } => {
                self.push_expr(expr);
                match target {
                    InTarget::List(list) => self.push_exprs(list),
                    InTarget::Subquery(query) => self.push_query(query),
                    InTarget::Unnest(expr) => self.push_expr(expr),
                    InTarget::Table { name, args } => match args {
                        Some(args) => self.call(name, args),
                        None => self.table(name),
                    },
                }
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.push_expr(expr);
                self.push_expr(low);
                self.push_expr(high);
            }
            Expr::Convert { expr, styles, .. } => {
                self.push_expr(expr);
                self.push_exprs(styles);
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                self.push_expr(expr);
                self.push_exprs(
                    substring_from
                        .iter()
                        .chain(substring_for.iter())
                        .map(|e| e.as_ref()),
                );
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                self.push_expr(expr);
                self.push_exprs(trim_what.iter().map(|e| e.as_ref()));
                self.push_exprs(trim_characters.iter().flatten());
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                self.push_expr(expr);
                self.push_expr(overlay_what);
                self.push_expr(overlay_from);
                self.push_exprs(overlay_for.iter().map(|e| e.as_ref()));
            }
            Expr::Function(function) => self.function(function),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                self.push_exprs(operand.iter().chain(else_result.iter()).map(|e| e.as_ref()));
                for when in conditions {
                    self.push_expr(&when.condition);
                    self.push_expr(&when.result);
                }
            }
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => self.push_query(subquery),
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                self.push_exprs(sets.iter().flatten())
            }
            Expr::Tuple(exprs) | Expr::Struct { values: exprs, .. } => self.push_exprs(exprs),
            Expr::Dictionary(fields) => self.push_exprs(fields.iter().map(|f| f.value.as_ref())),
            Expr::Map(map) => {
                for entry in &map.entries {
                    self.push_expr(&entry.key);
                    self.push_expr(&entry.value);
                }
            }
            Expr::Array(array) => self.push_exprs(&array.elem),
            Expr::Interval(interval) => self.push_expr(&interval.value),
            Expr::Lambda(lambda) => self.push_expr(&lambda.body),
            Expr::MemberOf(member) => {
                self.push_expr(&member.value);
                self.push_expr(&member.array);
            }
        }
    }
}

/// The expression of a function argument, if it is one.
fn function_arg_expr(arg: &FunctionArg) -> Option<&Expr> {
    match arg {
        FunctionArg::Named { arg, .. }
        | FunctionArg::ExprNamed { arg, .. }
        | FunctionArg::Unnamed(arg) => match arg {
            FunctionArgExpr::Expr(expr) => Some(expr),
            _ => None,
        },
    }
}

/// The text of a string literal.
fn value_string(value: &Value) -> Option<&str> {
    match value {
        Value::SingleQuotedString(s)
        | Value::TripleSingleQuotedString(s)
        | Value::TripleDoubleQuotedString(s)
        | Value::EscapedStringLiteral(s)
        | Value::UnicodeStringLiteral(s)
        | Value::SingleQuotedByteStringLiteral(s)
        | Value::DoubleQuotedByteStringLiteral(s)
        | Value::TripleSingleQuotedByteStringLiteral(s)
        | Value::TripleDoubleQuotedByteStringLiteral(s)
        | Value::SingleQuotedRawStringLiteral(s)
        | Value::DoubleQuotedRawStringLiteral(s)
        | Value::TripleSingleQuotedRawStringLiteral(s)
        | Value::TripleDoubleQuotedRawStringLiteral(s)
        | Value::NationalStringLiteral(s)
        | Value::DoubleQuotedString(s) => Some(s),
        Value::DollarQuotedString(dollar) => Some(&dollar.value),
        _ => None,
    }
}

/// A MySQL user variable (`@v`) rather than a table.
fn is_variable(expr: &Expr) -> bool {
    match expr {
        Expr::Identifier(ident) => ident.value.starts_with('@'),
        // PostgreSQL's tokenizer reads `@v` as the prefix operator `@` on `v`.
        Expr::UnaryOp {
            op: UnaryOperator::PGAbs,
            expr,
        } => matches!(expr.as_ref(), Expr::Identifier(_)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Lexical readings (for dialects whose parser fails).
// ---------------------------------------------------------------------------

/// Reads `text` with `dialect`'s tokenizer only: one statement per `;`, kind
/// from the leading keyword, nested kinds from statement keywords after `(`,
/// `)`, `AS`, `EXPLAIN`..., tables after FROM/JOIN/INTO/UPDATE/TABLE.
/// `None` when the tokenizer rejects the text too.
fn lexical_reading(
    text: &str,
    dialect: SqlDialect,
    context: Context<'_>,
) -> Option<Vec<StatementAcc>> {
    let tokens = Tokenizer::new(dialect.parser_dialect(), text)
        .tokenize()
        .ok()?;
    let significant: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    Some(
        significant
            .split(|token| matches!(token, Token::SemiColon))
            .filter(|segment| !segment.is_empty())
            .map(|segment| lexical_statement(segment, context))
            .collect(),
    )
}

/// An unquoted word's text.
fn bare_word(token: &Token) -> Option<&str> {
    match token {
        Token::Word(word) if word.quote_style.is_none() => Some(&word.value),
        _ => None,
    }
}

fn is_word(token: &Token, expected: &str) -> bool {
    bare_word(token).is_some_and(|word| word.eq_ignore_ascii_case(expected))
}

/// Kind of a statement led by `word`.
fn leading_keyword_kind(word: &str) -> SqlKind {
    use SqlKind as K;
    match word.to_ascii_lowercase().as_str() {
        "select" | "with" | "values" | "table" | "handler" => K::Select,
        "insert" | "replace" | "upsert" => K::Insert,
        "update" => K::Update,
        "delete" => K::Delete,
        "merge" => K::Merge,
        "create" => K::Create,
        "alter" | "rename" | "comment" => K::Alter,
        "drop" => K::Drop,
        "truncate" => K::Truncate,
        "grant" => K::Grant,
        "revoke" | "deny" => K::Revoke,
        "begin" | "start" | "commit" | "rollback" | "end" | "abort" | "savepoint" | "release" => {
            K::Transaction
        }
        "set" | "reset" | "use" | "pragma" => K::Set,
        "show" | "describe" | "desc" => K::Show,
        "explain" => K::Explain,
        "copy" | "load" | "unload" => K::Copy,
        "call" => K::Call,
        "execute" | "exec" => K::Execute,
        "prepare" => K::Prepare,
        _ => K::Other,
    }
}

/// Kind of a statement keyword found inside another statement.
fn nested_keyword_kind(word: &str) -> Option<SqlKind> {
    use SqlKind as K;
    Some(match word.to_ascii_lowercase().as_str() {
        "select" => K::Select,
        "insert" => K::Insert,
        "update" => K::Update,
        "delete" => K::Delete,
        "merge" => K::Merge,
        "create" => K::Create,
        "alter" => K::Alter,
        "drop" => K::Drop,
        "truncate" => K::Truncate,
        "grant" => K::Grant,
        "revoke" => K::Revoke,
        "copy" => K::Copy,
        "call" => K::Call,
        "execute" | "exec" => K::Execute,
        _ => return None,
    })
}

/// Tokens after which a statement keyword starts a nested statement.
fn opens_nested_statement(token: &Token) -> bool {
    matches!(token, Token::LParen | Token::RParen)
        || [
            "as", "explain", "analyze", "verbose", "then", "else", "begin", "loop",
        ]
        .iter()
        .any(|word| is_word(token, word))
}

fn lexical_statement(segment: &[&Token], context: Context<'_>) -> StatementAcc {
    let lead = segment
        .iter()
        .position(|token| !matches!(token, Token::LParen));
    let lead_word = lead
        .and_then(|index| segment.get(index))
        .and_then(|token| bare_word(token));
    let kind = lead_word.map_or(SqlKind::Other, leading_keyword_kind);
    let mut acc = StatementAcc::new(kind);
    let lead_lower = lead_word.map(str::to_ascii_lowercase).unwrap_or_default();
    match lead_lower.as_str() {
        "replace" => {
            acc.nested.insert(SqlKind::Delete);
        }
        "do" => {
            // Anonymous code block (PL/pgSQL or another language).
            acc.nested.insert(SqlKind::Unparsed);
        }
        "load" => {
            let next = lead.and_then(|index| segment.get(index + 1));
            if next.is_some_and(|token| is_word(token, "data") || is_word(token, "xml")) {
                acc.nested.insert(SqlKind::Insert);
            } else {
                // PostgreSQL LOAD 'library': server-side code.
                acc.nested.insert(SqlKind::Unparsed);
            }
        }
        _ => {}
    }
    let reads_bodies = matches!(
        lead_lower.as_str(),
        "do" | "create" | "execute" | "exec" | "prepare"
    );

    let mut has_where = false;
    for (index, token) in segment.iter().enumerate() {
        if is_word(token, "where") {
            has_where = true;
        }
        if index > 0 {
            if let (Some(previous), Some(word)) = (segment.get(index - 1), bare_word(token)) {
                if opens_nested_statement(previous) {
                    if let Some(kind) = nested_keyword_kind(word) {
                        acc.nested.insert(kind);
                    }
                }
            }
        }
        if reads_bodies {
            if let Some(body) = token_string(token) {
                if looks_like_sql(body) {
                    acc.absorb_facts(context.classify_embedded(body));
                }
            }
        }
        let introduces_table = ["from", "join", "into", "table", "truncate"]
            .iter()
            .any(|word| is_word(token, word))
            || (index == lead.unwrap_or(usize::MAX) && is_word(token, "update"));
        if introduces_table {
            lexical_table_names(
                segment.get(index + 1..).unwrap_or_default(),
                &mut acc.tables,
            );
        }
    }
    // Only a leading DELETE/UPDATE: nested ones (MERGE ... THEN DELETE) are
    // bounded by clauses this reading cannot see.
    if matches!(acc.kind, SqlKind::Delete | SqlKind::Update) && !has_where {
        acc.unbounded = true;
    }
    acc
}

/// Reads `name[, name...]` (dotted words) from the start of `tokens`.
fn lexical_table_names(tokens: &[&Token], tables: &mut BTreeSet<String>) {
    let mut index = 0;
    while tokens.get(index).is_some_and(|token| {
        [
            "if",
            "not",
            "exists",
            "only",
            "table",
            "ignore",
            "low_priority",
            "quick",
        ]
        .iter()
        .any(|w| is_word(token, w))
    }) {
        index += 1;
    }
    loop {
        let mut name = String::new();
        while let Some(Token::Word(word)) = tokens.get(index) {
            if !name.is_empty() {
                name.push('.');
            }
            name.push_str(&word.value.to_lowercase());
            index += 1;
            if matches!(tokens.get(index), Some(Token::Period)) {
                index += 1;
            } else {
                break;
            }
        }
        if name.is_empty() {
            return;
        }
        tables.insert(name);
        if matches!(tokens.get(index), Some(Token::Comma))
            && matches!(tokens.get(index + 1), Some(Token::Word(_)))
        {
            index += 1;
        } else {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// looks_like_sql
// ---------------------------------------------------------------------------

/// Words that start (or are) SQL statements.
fn is_sql_statement_word(word: &str) -> bool {
    matches!(
        word,
        "select"
            | "insert"
            | "update"
            | "delete"
            | "merge"
            | "create"
            | "alter"
            | "drop"
            | "truncate"
            | "grant"
            | "revoke"
            | "replace"
            | "with"
            | "explain"
            | "copy"
            | "call"
            | "exec"
            | "execute"
            | "prepare"
            | "do"
            | "set"
            | "show"
            | "begin"
            | "commit"
            | "rollback"
            | "vacuum"
            | "analyze"
            | "lock"
            | "comment"
            | "rename"
            | "attach"
            | "detach"
            | "pragma"
            | "load"
            // Further state-changing statements.
            | "upsert"
            | "reindex"
            | "cluster"
            | "checkpoint"
            | "discard"
            | "notify"
            | "reset"
            | "savepoint"
            | "declare"
            | "deallocate"
            | "refresh"
            | "import"
            | "kill"
            | "flush"
            | "purge"
            | "optimize"
            | "repair"
            | "unlock"
            | "install"
            | "uninstall"
            | "reassign"
            | "handler"
            | "deny"
            | "unload"
    )
}

/// Cheap check for fields that may hold SQL: true when the text, outside
/// comments, has a SQL statement keyword as a whole word (ASCII
/// case-insensitive), or holds a MySQL executable comment.
///
/// Comments are stripped two ways (MySQL's `#` and `-- ` on one pass, the
/// standard `--` on the other; `/* */` never nested, which ends comments
/// earliest) and a keyword outside comments in either pass counts, so no
/// dialect's comment rules can hide a statement. Invisible characters are
/// ignored (`DEL\u{200B}ETE` is `DELETE`) and any other non-word character,
/// Unicode spaces included, separates words. Conservative: plain English such
/// as "how do I delete a file" is reported as SQL.
pub fn looks_like_sql(text: &str) -> bool {
    has_executable_comment(text)
        || has_statement_word(text, true)
        || has_statement_word(text, false)
}

/// One pass of [`looks_like_sql`]: `mysql` selects MySQL's comment rules.
fn has_statement_word(text: &str, mysql: bool) -> bool {
    const LONGEST: usize = 16;
    let mut word = [0u8; LONGEST];
    let mut word_len = 0usize;
    let mut word_overflow = false;
    let mut chars = text.char_indices().peekable();
    let bytes = text.as_bytes();
    let flush = |word: &[u8; LONGEST], len: usize, overflow: bool| -> bool {
        !overflow
            && len > 0
            && std::str::from_utf8(word.get(..len).unwrap_or_default())
                .is_ok_and(is_sql_statement_word)
    };
    while let Some((at, c)) = chars.next() {
        if c.is_ascii_alphanumeric() || c == '_' {
            if word_len < LONGEST {
                if let Some(slot) = word.get_mut(word_len) {
                    *slot = c.to_ascii_lowercase() as u8;
                }
                word_len += 1;
            } else {
                word_overflow = true;
            }
            continue;
        }
        if is_invisible(c) {
            continue;
        }
        if flush(&word, word_len, word_overflow) {
            return true;
        }
        word_len = 0;
        word_overflow = false;
        let next = bytes.get(at + 1).copied();
        let line_comment = match c {
            '#' => mysql,
            '-' if next == Some(b'-') => {
                // MySQL needs whitespace (or the end) after `--`.
                !mysql
                    || bytes
                        .get(at + 2)
                        .is_none_or(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            }
            _ => false,
        };
        if line_comment {
            for (_, skipped) in chars.by_ref() {
                if skipped == '\n' || skipped == '\r' {
                    break;
                }
            }
            continue;
        }
        if c == '/' && next == Some(b'*') {
            chars.next();
            let mut previous_star = false;
            for (_, skipped) in chars.by_ref() {
                if previous_star && skipped == '/' {
                    break;
                }
                previous_star = skipped == '*';
            }
        }
    }
    flush(&word, word_len, word_overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SqlKind as K;

    fn all(text: &str) -> SqlFacts {
        classify_sql(text, &SqlDialect::ALL)
    }

    fn kinds(text: &str) -> Vec<SqlKind> {
        all(text).kinds().into_iter().collect()
    }

    fn tables(text: &str) -> Vec<String> {
        all(text).tables().into_iter().collect()
    }

    #[test]
    fn top_level_kinds() {
        let cases: &[(&str, SqlKind)] = &[
            ("SELECT * FROM users", K::Select),
            ("select 1", K::Select),
            ("VALUES (1), (2)", K::Select),
            ("INSERT INTO t (a) VALUES (1)", K::Insert),
            ("UPDATE t SET a = 1 WHERE id = 2", K::Update),
            ("DELETE FROM t WHERE id = 2", K::Delete),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a",
                K::Merge,
            ),
            ("CREATE TABLE t (id int)", K::Create),
            ("CREATE INDEX i ON t (a)", K::Create),
            ("CREATE VIEW v AS SELECT 1", K::Create),
            ("CREATE ROLE r", K::Create),
            ("CREATE SCHEMA s", K::Create),
            ("ALTER TABLE t ADD COLUMN c int", K::Alter),
            ("DROP TABLE t", K::Drop),
            ("DROP INDEX i", K::Drop),
            ("TRUNCATE t", K::Truncate),
            ("TRUNCATE TABLE t", K::Truncate),
            ("GRANT SELECT ON t TO bob", K::Grant),
            ("REVOKE SELECT ON t FROM bob", K::Revoke),
            ("BEGIN", K::Transaction),
            ("START TRANSACTION", K::Transaction),
            ("COMMIT", K::Transaction),
            ("ROLLBACK", K::Transaction),
            ("SAVEPOINT s", K::Transaction),
            ("SET search_path = public", K::Set),
            ("SHOW TABLES", K::Show),
            ("EXPLAIN SELECT 1", K::Explain),
            ("COPY t TO STDOUT", K::Copy),
            ("CALL p(1)", K::Call),
            ("EXECUTE p", K::Execute),
            ("PREPARE p AS SELECT 1", K::Prepare),
            ("VACUUM", K::Other),
            ("LISTEN ch", K::Other),
        ];
        for (text, expected) in cases {
            let facts = all(text);
            assert!(facts.parsed(), "{text}: {:?}", facts.parse_error);
            assert_eq!(facts.statements.len(), 1, "{text}");
            assert_eq!(facts.statements[0].kind, *expected, "{text}");
        }
    }

    #[test]
    fn nested_kinds_are_reported() {
        let cases: &[(&str, &[SqlKind])] = &[
            ("EXPLAIN ANALYZE DELETE FROM t", &[K::Explain, K::Delete]),
            ("EXPLAIN (ANALYZE) DELETE FROM t WHERE id = 1", &[K::Explain, K::Delete]),
            ("EXPLAIN UPDATE t SET a = 1", &[K::Explain, K::Update]),
            ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", &[K::Select, K::Delete]),
            ("WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM u", &[K::Select, K::Update]),
            ("WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i", &[K::Select, K::Insert]),
            ("WITH x AS (SELECT 1) DELETE FROM t", &[K::Select, K::Delete]),
            ("INSERT INTO t SELECT * FROM s", &[K::Insert, K::Select]),
            ("CREATE TABLE t AS SELECT * FROM s", &[K::Create, K::Select]),
            ("DELETE FROM t WHERE id IN (SELECT id FROM s)", &[K::Delete, K::Select]),
            ("PREPARE p AS DELETE FROM t", &[K::Prepare, K::Delete]),
            ("SELECT * INTO newtable FROM t", &[K::Select, K::Create]),
            ("COPY t FROM STDIN", &[K::Copy, K::Insert]),
            ("INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 2", &[K::Insert, K::Update]),
            ("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", &[K::Insert]),
            ("INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = 2", &[K::Insert, K::Update]),
            ("REPLACE INTO t VALUES (1)", &[K::Insert, K::Delete]),
            ("INSERT OR REPLACE INTO t VALUES (1)", &[K::Insert, K::Delete]),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)",
                &[K::Merge, K::Delete, K::Insert],
            ),
            ("ALTER TABLE t DROP COLUMN c", &[K::Alter, K::Drop]),
            ("ALTER TABLE t DROP CONSTRAINT c", &[K::Alter, K::Drop]),
            ("ALTER TABLE t RENAME COLUMN a TO b", &[K::Alter]),
            ("CREATE RULE r AS ON INSERT TO t DO INSTEAD DELETE FROM u", &[K::Create, K::Delete]),
            ("SELECT set_config('role', 'admin', false)", &[K::Select, K::Set]),
            ("SELECT pg_read_file('/etc/passwd')", &[K::Select, K::Copy]),
            ("SELECT pg_terminate_backend(123)", &[K::Select, K::Other]),
            ("ALTER ROLE bob SUPERUSER", &[K::Alter, K::Grant]),
        ];
        for (text, expected) in cases {
            let got = kinds(text);
            for kind in *expected {
                assert!(got.contains(kind), "{text}: {kind:?} missing from {got:?}");
            }
            assert!(!got.contains(&K::Unparsed), "{text}: {got:?}");
        }
        // ...and nothing more for plain statements.
        assert_eq!(kinds("SELECT a FROM t WHERE b = 1"), vec![K::Select]);
        assert_eq!(kinds("SELECT * FROM t FOR UPDATE"), vec![K::Select]);
        assert_eq!(kinds("SELECT x INTO @v FROM t"), vec![K::Select]);
    }

    #[test]
    fn nested_kinds_exclude_own_kind_and_are_sorted() {
        let facts = all("DELETE FROM t WHERE id IN (SELECT id FROM s)");
        assert_eq!(facts.statements[0].kind, K::Delete);
        assert_eq!(facts.statements[0].nested_kinds, vec![K::Select]);
    }

    #[test]
    fn opaque_bodies_are_unparsed_equivalent() {
        let cases = [
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'x'; END $$",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ this is not sql $$",
            "COPY t TO PROGRAM 'rm -rf /'",
            "COPY (SELECT 1) TO PROGRAM 'curl evil'",
            "SELECT dblink_exec('conn', 'DELETE ' || lower(v))",
            "SELECT * FROM dblink('conn', $1) AS x(a int)",
            "EXECUTE IMMEDIATE 'DELETE FROM t WHERE ' || cond",
        ];
        for text in cases {
            let facts = all(text);
            assert!(facts.parsed(), "{text}: {:?}", facts.parse_error);
            assert!(
                facts.kinds().contains(&K::Unparsed),
                "{text}: {:?}",
                facts.kinds()
            );
            assert!(facts.matches_kind(K::Drop), "{text}");
            assert!(facts.unbounded(), "{text}");
        }
    }

    #[test]
    fn sql_bodies_and_dynamic_sql_are_classified() {
        let facts =
            all("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ DELETE FROM audit_log $$");
        assert!(facts.parsed());
        assert_eq!(facts.statements[0].kind, K::Create);
        assert!(facts.kinds().contains(&K::Delete));
        assert!(!facts.kinds().contains(&K::Unparsed), "{:?}", facts.kinds());
        assert!(facts.tables().contains("audit_log"));
        assert!(facts.unbounded());

        let facts =
            all("SELECT * FROM dblink('dbname=x', 'DELETE FROM t RETURNING id') AS r(id int)");
        assert!(facts.kinds().contains(&K::Delete), "{:?}", facts.kinds());
        assert!(facts.kinds().contains(&K::Execute));
        assert!(facts.tables().contains("t"));
        assert!(facts.unbounded());

        // Text folded from literals is read like a literal.
        let facts = all("SELECT dblink_exec('conn', 'DELETE ' || 'FROM t')");
        assert!(facts.kinds().contains(&K::Delete), "{:?}", facts.kinds());
        assert!(facts.unbounded());

        let facts = all("SELECT dblink_exec('conn', 'DROP TABLE users')");
        assert!(facts.kinds().contains(&K::Drop));
        assert!(facts.tables().contains("users"));
        assert!(facts.functions().contains("dblink_exec"));

        let facts = all("SELECT query_to_xml('select * from secrets', true, false, '')");
        assert!(facts.tables().contains("secrets"));
        assert!(!facts.kinds().contains(&K::Unparsed));

        let facts = all("EXECUTE IMMEDIATE 'TRUNCATE payments'");
        assert!(facts.kinds().contains(&K::Truncate), "{:?}", facts.kinds());
        assert!(facts.tables().contains("payments"));

        let facts = all("CREATE PROCEDURE p() AS BEGIN DELETE FROM t; END");
        assert!(facts.kinds().contains(&K::Delete), "{:?}", facts.kinds());

        // Text run as SQL whatever it looks like, literal or folded from literals.
        for text in [
            "EXEC('DROP TABLE users')",
            "EXECUTE ('DROP TABLE users')",
            "EXEC sp_executesql N'DROP TABLE users'",
            "EXECUTE IMMEDIATE 'DROP ' || 'TABLE users'",
            "EXEC('DROP ' + 'TABLE users')",
        ] {
            let facts = all(text);
            assert!(
                facts.matches_kind(K::Drop),
                "{text}: {:?} {:?}",
                facts.kinds(),
                facts.parse_error
            );
        }
        // Computed text, or a bare procedure name, could be anything.
        for text in [
            "EXEC(@sql)",
            "EXECUTE IMMEDIATE v_sql",
            "EXEC('sp_wipe')",
            "EXEC sp_executesql @stmt",
        ] {
            let facts = all(text);
            assert!(
                facts.kinds().contains(&K::Unparsed),
                "{text}: {:?}",
                facts.kinds()
            );
        }
    }

    #[test]
    fn procedure_calls_are_call_or_execute() {
        for (text, kind) in [
            ("CALL wipe_everything()", K::Call),
            ("CALL app.cleanup(1, 'x')", K::Call),
            ("EXEC dbo.purge_all", K::Execute),
            ("EXECUTE purge_all 1", K::Execute),
        ] {
            let facts = all(text);
            assert!(facts.matches_kind(kind), "{text}: {:?}", facts.kinds());
        }
    }

    #[test]
    fn replacing_ddl_is_a_drop() {
        for text in [
            "CREATE OR REPLACE TABLE users (id int)",
            "CREATE OR REPLACE TABLE users AS SELECT 1 AS id",
            "CREATE OR REPLACE VIEW v AS SELECT 1",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "CREATE OR ALTER PROCEDURE p AS BEGIN SELECT 1; END",
        ] {
            let facts = all(text);
            assert!(
                facts.kinds().contains(&K::Create),
                "{text}: {:?}",
                facts.kinds()
            );
            assert!(
                facts.kinds().contains(&K::Drop),
                "{text}: {:?}",
                facts.kinds()
            );
        }
        for text in ["CREATE TABLE users (id int)", "CREATE VIEW v AS SELECT 1"] {
            assert!(!all(text).kinds().contains(&K::Drop), "{text}");
        }
        for text in [
            "ALTER TABLE t ALTER COLUMN c TYPE int USING NULL",
            "ALTER TABLE t MODIFY COLUMN c varchar(1)",
            "ALTER TABLE t CHANGE COLUMN c c2 int",
        ] {
            let facts = all(text);
            assert!(
                facts.kinds().contains(&K::Update),
                "{text}: {:?}",
                facts.kinds()
            );
            assert!(facts.unbounded(), "{text}");
        }
    }

    #[test]
    fn do_blocks_are_unparsed_but_read() {
        let facts = all("DO $$ BEGIN DELETE FROM accounts; END $$");
        assert!(!facts.parsed());
        assert!(facts.matches_kind(K::Select));
        assert!(facts.kinds().contains(&K::Delete), "{:?}", facts.kinds());
        assert!(facts.tables().contains("accounts"), "{:?}", facts.tables());
        assert!(facts.unbounded());
        assert!(facts.multiple());
    }

    #[test]
    fn table_names_are_normalized() {
        let cases: &[(&str, &[&str])] = &[
            (r#"SELECT * FROM "Public"."Users""#, &["public.users"]),
            ("SELECT * FROM `My`.`T`", &["my.t"]),
            (
                "SELECT * FROM a JOIN b ON a.id = b.id LEFT JOIN s.c ON true",
                &["a", "b", "s.c"],
            ),
            ("SELECT * FROM a, b", &["a", "b"]),
            ("SELECT * FROM (SELECT * FROM inner_t) x", &["inner_t"]),
            (
                "SELECT * FROM t WHERE id IN (SELECT id FROM u)",
                &["t", "u"],
            ),
            ("SELECT (SELECT max(a) FROM m) FROM t", &["m", "t"]),
            (
                "SELECT * FROM t WHERE EXISTS (SELECT 1 FROM e)",
                &["e", "t"],
            ),
            ("SELECT coalesce((SELECT 1 FROM secret), 0)", &["secret"]),
            (
                "SELECT count(*) FILTER (WHERE x IN (SELECT y FROM f)) FROM t",
                &["f", "t"],
            ),
            (
                "SELECT CASE WHEN a THEN (SELECT b FROM c) END FROM t",
                &["c", "t"],
            ),
            (
                "SELECT * FROM generate_series(1, 3) g JOIN u ON true",
                &["u"],
            ),
            (
                "SELECT 1 UNION SELECT a FROM x UNION ALL SELECT b FROM y",
                &["x", "y"],
            ),
            ("INSERT INTO Logs SELECT * FROM src", &["logs", "src"]),
            (
                "UPDATE t SET a = (SELECT b FROM u) WHERE id = 1",
                &["t", "u"],
            ),
            ("UPDATE t SET a = u.b FROM u WHERE t.id = u.id", &["t", "u"]),
            ("DELETE FROM t USING u WHERE t.id = u.id", &["t", "u"]),
            ("DROP TABLE IF EXISTS a, b.c", &["a", "b.c"]),
            ("TRUNCATE a, b", &["a", "b"]),
            ("ALTER TABLE Orders DROP COLUMN c", &["orders"]),
            ("CREATE TABLE t2 AS SELECT * FROM t1", &["t1", "t2"]),
            ("GRANT SELECT, UPDATE ON accounts TO bob", &["accounts"]),
            (
                "GRANT ALL ON ALL TABLES IN SCHEMA public TO bob",
                &["public.*"],
            ),
            ("DROP SCHEMA s CASCADE", &["s.*"]),
            ("DROP DATABASE prod", &["prod.*"]),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
                &["s", "t"],
            ),
            ("COPY accounts TO STDOUT", &["accounts"]),
            (
                "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                &["d", "t"],
            ),
            ("SELECT * INTO backup FROM t", &["backup", "t"]),
            ("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", &["t"]),
        ];
        for (text, expected) in cases {
            let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            assert_eq!(tables(text), expected, "{text}");
        }
    }

    #[test]
    fn functions_are_listed() {
        let facts = all("SELECT lower(name), public.My_Func(1) FROM t WHERE now() > created");
        let functions: Vec<String> = facts.functions().into_iter().collect();
        assert_eq!(functions, vec!["lower", "now", "public.my_func"]);
    }

    #[test]
    fn unbounded_detection() {
        let cases: &[(&str, bool)] = &[
            ("DELETE FROM t", true),
            ("DELETE FROM t WHERE id = 1", false),
            ("UPDATE t SET a = 1", true),
            ("UPDATE t SET a = 1 WHERE id = 1", false),
            ("DELETE FROM t WHERE 1=1", true),
            ("DELETE FROM t WHERE 1 = 1", true),
            ("DELETE FROM t WHERE true", true),
            ("DELETE FROM t WHERE TRUE", true),
            ("DELETE FROM t WHERE 1", true),
            ("DELETE FROM t WHERE 2", true),
            ("DELETE FROM t WHERE 0", false),
            ("DELETE FROM t WHERE 'a'='a'", true),
            ("DELETE FROM t WHERE 'a' = 'A '", true),
            ("DELETE FROM t WHERE 'a' <> 'b'", true),
            ("DELETE FROM t WHERE 'a' = 'b'", false),
            ("DELETE FROM t WHERE 1 <> 2", true),
            ("DELETE FROM t WHERE 2 > 1", true),
            ("DELETE FROM t WHERE 1 > 2", false),
            ("DELETE FROM t WHERE id = 5 OR 1=1", true),
            ("DELETE FROM t WHERE id = 5 OR TRUE", true),
            ("DELETE FROM t WHERE (id = 5) OR (2 = 2)", true),
            ("DELETE FROM t WHERE id = 5 AND 1=1", false),
            ("DELETE FROM t WHERE 1=1 AND 2=2", true),
            ("DELETE FROM t WHERE NOT 1=2", true),
            ("DELETE FROM t WHERE NOT (1=1)", false),
            ("DELETE FROM t WHERE NOT false", true),
            ("DELETE FROM t WHERE 1+1=2", true),
            ("DELETE FROM t WHERE 1=1.0", true),
            ("DELETE FROM t WHERE '1'=1", true),
            ("DELETE FROM t WHERE 'true'", true),
            ("DELETE FROM t WHERE 'yes'", true),
            ("DELETE FROM t WHERE 'abc'", false),
            ("DELETE FROM t WHERE NULL", false),
            ("DELETE FROM t WHERE NULL IS NULL", true),
            ("DELETE FROM t WHERE 1 IS NOT NULL", true),
            ("DELETE FROM t WHERE id IS NOT NULL", true),
            ("DELETE FROM t WHERE id IS NULL", false),
            ("DELETE FROM t WHERE id = id", true),
            ("DELETE FROM t WHERE t.id = t.id", true),
            ("DELETE FROM t WHERE lower(name) = lower(name)", true),
            ("DELETE FROM t WHERE id IS NOT DISTINCT FROM id", true),
            ("DELETE FROM t WHERE id IN (id)", true),
            ("DELETE FROM t WHERE id <> id", false),
            ("DELETE FROM t WHERE name LIKE '%'", true),
            ("DELETE FROM t WHERE name LIKE '%a%'", false),
            ("DELETE FROM t WHERE 1 IN (1, 2)", true),
            ("DELETE FROM t WHERE 3 IN (1, 2)", false),
            ("DELETE FROM t WHERE 3 NOT IN (1, 2)", true),
            ("DELETE FROM t WHERE 2 BETWEEN 1 AND 3", true),
            ("DELETE FROM t WHERE EXISTS (SELECT 1)", true),
            (
                "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)",
                false,
            ),
            ("DELETE FROM t WHERE (((1=1)))", true),
            ("DELETE FROM t WHERE CAST(1 AS BOOLEAN)", true),
            ("DELETE FROM t WHERE 1=1 IS TRUE", true),
            ("DELETE FROM t WHERE id > 0", false),
            ("DELETE FROM t WHERE id = $1", false),
            ("UPDATE t SET a = 1 WHERE 1=1", true),
            ("UPDATE t SET a = 1 WHERE id = 3 OR 'x' = 'x'", true),
            (
                "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                true,
            ),
            (
                "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d",
                false,
            ),
            ("EXPLAIN ANALYZE DELETE FROM t", true),
            ("PREPARE p AS UPDATE t SET a = 1", true),
            ("MERGE INTO t USING s ON 1=1 WHEN MATCHED THEN DELETE", true),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
                false,
            ),
            ("SELECT * FROM t", false),
            ("INSERT INTO t VALUES (1)", false),
            ("DROP TABLE t", false),
            // Conditions that are the same for every row: all rows or none.
            ("DELETE FROM t WHERE (SELECT true)", true),
            ("DELETE FROM t WHERE (SELECT 1) = 1", true),
            ("DELETE FROM t WHERE EXISTS (SELECT 1 FROM u)", true),
            (
                "DELETE FROM t WHERE EXISTS (SELECT * FROM u WHERE u.flag)",
                true,
            ),
            ("DELETE FROM t WHERE now() > '2000-01-01'", true),
            ("DELETE FROM t WHERE current_user = 'app'", true),
            ("DELETE FROM t WHERE $1", true),
            ("DELETE FROM t WHERE id = 5 OR (SELECT true)", true),
            ("DELETE FROM t WHERE id = 5 AND (SELECT true)", false),
            ("DELETE FROM t WHERE NOT (SELECT false)", true),
            ("DELETE FROM t WHERE (SELECT NULL) IS NULL", true),
            ("DELETE FROM t WHERE random() < 2", true),
            // Folded constants.
            ("DELETE FROM t WHERE coalesce(1, 1) = 1", true),
            ("DELETE FROM t WHERE coalesce(NULL, 1)", true),
            ("DELETE FROM t WHERE nullif(1, 2) = 1", true),
            (
                "DELETE FROM t WHERE CASE WHEN 1 = 1 THEN true ELSE false END",
                true,
            ),
            ("DELETE FROM t WHERE CAST('1' AS INT) = 1", true),
            ("DELETE FROM t WHERE true + 0", true),
            ("DELETE FROM t WHERE (1 = 1) * 1", true),
            ("DELETE FROM t WHERE 1 IN (1)", true),
            ("DELETE FROM t WHERE 'a' LIKE '%'", true),
            ("DELETE FROM t WHERE 'abc' LIKE 'a%'", true),
            ("DELETE FROM t WHERE NOT FALSE", true),
            ("DELETE FROM t WHERE concat('a', 'b') = 'ab'", true),
            ("DELETE FROM t WHERE 'a' || 'b' = 'ab'", true),
            ("DELETE FROM t WHERE NOT NOT 1 = 1", true),
            // IS [NOT] DISTINCT FROM and NULL tests on values.
            ("DELETE FROM t WHERE id IS DISTINCT FROM NULL", true),
            ("DELETE FROM t WHERE NULL IS DISTINCT FROM id", true),
            (
                "DELETE FROM t WHERE lower(name) IS DISTINCT FROM NULL",
                true,
            ),
            ("DELETE FROM t WHERE id IS NOT DISTINCT FROM NULL", false),
            (
                "DELETE FROM t WHERE NOT (id IS NOT DISTINCT FROM NULL)",
                true,
            ),
            ("DELETE FROM t WHERE id IS DISTINCT FROM 5", false),
            ("DELETE FROM t WHERE 1 IS DISTINCT FROM 2", true),
            ("DELETE FROM t WHERE NOT id IS NULL", true),
            ("DELETE FROM t WHERE NOT (id <=> NULL)", true),
            ("DELETE FROM t WHERE (id + 1) IS NOT NULL", true),
            // A condition or its negation.
            ("DELETE FROM t WHERE id = 5 OR id <> 5", true),
            ("DELETE FROM t WHERE id = 5 OR NOT id = 5", true),
            ("DELETE FROM t WHERE 5 = id OR id != 5", true),
            ("DELETE FROM t WHERE flag OR NOT flag", true),
            ("DELETE FROM t WHERE id IS NULL OR id IS NOT NULL", true),
            (
                "DELETE FROM t WHERE name LIKE 'a%' OR name NOT LIKE 'a%'",
                true,
            ),
            ("DELETE FROM t WHERE id IN (1, 2) OR id NOT IN (1, 2)", true),
            ("DELETE FROM t WHERE NOT (id = 1 AND id <> 1)", true),
            ("DELETE FROM t WHERE id > 3 OR id <= 3", true),
            ("DELETE FROM t WHERE id > 3 OR 3 >= id", true),
            ("DELETE FROM t WHERE id = 5 OR name <> 'x'", false),
            // Numbers covered by comparisons.
            ("DELETE FROM t WHERE id > 5 OR id < 10", true),
            ("DELETE FROM t WHERE id >= 0 OR id < 0", true),
            ("DELETE FROM t WHERE id <> 1 OR id <> 2", true),
            (
                "DELETE FROM t WHERE id BETWEEN 0 AND 10 OR id > 5 OR id < 1",
                true,
            ),
            ("DELETE FROM t WHERE id > 0 OR id < 0", false),
            ("DELETE FROM t WHERE id > 10 OR id < 5", false),
            // Values that cannot fail a bound.
            ("DELETE FROM t WHERE abs(id) >= 0", true),
            ("DELETE FROM t WHERE length(name) > -1", true),
            ("DELETE FROM t WHERE id - id = 0", true),
            ("DELETE FROM t WHERE id * 0 = 0", true),
            ("DELETE FROM t WHERE (id > 0) + 1", true),
            ("DELETE FROM t WHERE abs(id) < 0", false),
            ("DELETE FROM t WHERE abs(id) > 5", false),
            (
                "DELETE FROM t WHERE CASE WHEN id > 0 THEN 1 ELSE 2 END",
                true,
            ),
            (
                "DELETE FROM t WHERE CASE WHEN id > 0 THEN 1 ELSE 0 END",
                false,
            ),
            // The same table, unfiltered.
            ("DELETE FROM users WHERE id IN (SELECT id FROM users)", true),
            (
                "DELETE FROM users WHERE id = ANY (SELECT id FROM users)",
                true,
            ),
            (
                "DELETE FROM users WHERE id IN (SELECT user_id FROM orders)",
                false,
            ),
            (
                "DELETE FROM users WHERE id IN (SELECT id FROM users WHERE banned)",
                false,
            ),
            // Subqueries naming the changed rows are row-dependent.
            (
                "DELETE FROM t AS x WHERE EXISTS (SELECT 1 FROM u WHERE u.id = x.id)",
                false,
            ),
            (
                "UPDATE t SET a = 1 WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)",
                false,
            ),
            ("UPDATE t SET a = 1 WHERE (SELECT true)", true),
            (
                "MERGE INTO t USING s ON (SELECT true) WHEN MATCHED THEN DELETE",
                true,
            ),
            // Conditions compared with truth values, empty subqueries, self-joins.
            ("DELETE FROM t WHERE (id = id) = true", true),
            ("DELETE FROM t WHERE (1 = 1) = 1", true),
            ("DELETE FROM t WHERE (id IS NULL) = false", true),
            ("DELETE FROM t WHERE (id > 5) = true", false),
            (
                "DELETE FROM t WHERE id NOT IN (SELECT id FROM u WHERE false)",
                true,
            ),
            (
                "DELETE FROM t WHERE id NOT IN (SELECT id FROM u LIMIT 0)",
                true,
            ),
            ("DELETE FROM t WHERE id NOT IN (SELECT id FROM u)", false),
            ("DELETE FROM t USING t AS u WHERE t.id = u.id", true),
            (
                "UPDATE t AS a SET x = 1 FROM t AS b WHERE a.id = b.id",
                true,
            ),
            ("DELETE FROM t USING u WHERE t.id = u.id", false),
            ("DELETE FROM t WHERE id BETWEEN -1e19 AND 1e19", true),
            ("DELETE FROM t WHERE id > -99999999999999999999", true),
            ("DELETE FROM t WHERE id > 99999999999999999999", false),
            // MySQL's `||` is OR.
            ("DELETE FROM t WHERE id = 5 || 1", true),
            ("UPDATE t SET a = 1 WHERE id = 5 || 'x' = 'x'", true),
            ("DELETE FROM t WHERE name = 'a' || 'b'", false),
            // Identity arithmetic, casts, collations and rows of the same operands.
            ("DELETE FROM t WHERE id = id + 0", true),
            ("DELETE FROM t WHERE id * 1 = id", true),
            ("DELETE FROM t WHERE id::text = id::text", true),
            ("DELETE FROM t WHERE (id, name) = (id, name)", true),
            ("DELETE FROM t WHERE id = id + 1", false),
            // Patterns that match every value.
            ("DELETE FROM t WHERE name REGEXP '.*'", true),
            ("DELETE FROM t WHERE name RLIKE ''", true),
            ("DELETE FROM t WHERE name ~ '.*'", true),
            ("DELETE FROM t WHERE name ~* '^.*$'", true),
            ("DELETE FROM t WHERE name SIMILAR TO '%'", true),
            ("DELETE FROM t WHERE name REGEXP '^a'", false),
            ("DELETE FROM t WHERE name !~ '.*'", false),
            ("DELETE FROM t WHERE name NOT REGEXP 'zzz'", false),
            // DDL that rewrites every row.
            ("ALTER TABLE t ALTER COLUMN c TYPE int USING NULL", true),
            ("ALTER TABLE t ALTER COLUMN c SET DATA TYPE text", true),
            ("ALTER TABLE t ADD COLUMN c int", false),
        ];
        for (text, expected) in cases {
            let facts = all(text);
            assert!(facts.parsed(), "{text}: {:?}", facts.parse_error);
            assert_eq!(facts.unbounded(), *expected, "{text}");
        }
    }

    #[test]
    fn long_or_chains_are_flattened_without_recursion() {
        let mut text = String::from("DELETE FROM t WHERE id = 0");
        for i in 1..1500 {
            text.push_str(&format!(" OR id = {i}"));
        }
        let facts = all(&text);
        assert!(facts.parsed(), "{:?}", facts.parse_error);
        assert!(!facts.unbounded());
        text.push_str(" OR 1=1");
        assert!(all(&text).unbounded());
    }

    #[test]
    fn comment_evasions() {
        let cases: &[(&str, SqlKind)] = &[
            ("-- harmless\nDELETE FROM t", K::Delete),
            ("/* harmless */ DROP TABLE t", K::Drop),
            ("/* a /* nested */ b */ TRUNCATE t", K::Truncate),
            ("# mysql comment\nDELETE FROM t", K::Delete),
            ("DELETE/**/FROM/**/t", K::Delete),
            ("SELECT 1 -- ; DROP TABLE t", K::Select),
        ];
        for (text, expected) in cases {
            let facts = all(text);
            assert!(facts.matches_kind(*expected), "{text}: {:?}", facts.kinds());
            assert!(
                facts.kinds().contains(expected),
                "{text}: {:?}",
                facts.kinds()
            );
        }
        // A line comment hides the rest of its line only.
        assert!(!kinds("SELECT 1 -- ; DROP TABLE t").contains(&K::Drop));
        assert!(kinds("SELECT 1 --\n; DROP TABLE t").contains(&K::Drop));
    }

    #[test]
    fn dialect_disagreements_take_the_riskiest_reading() {
        // PostgreSQL: 'a\' ends the string and DROP runs; MySQL: one string.
        let facts = all(r"SELECT 'a\'; DROP TABLE users; --'");
        assert!(facts.kinds().contains(&K::Drop), "{:?}", facts.kinds());
        assert!(facts.multiple());
        assert!(facts.tables().contains("users"));
        // MySQL: `#` comments out the rest; PostgreSQL: XOR then a DROP.
        assert!(kinds("SELECT 1 # c ; DROP TABLE x").contains(&K::Drop));
        // MySQL comments do not nest: the DROP is live there.
        assert!(kinds("SELECT 1 /* /* */ ; DROP TABLE x; /* */").contains(&K::Drop));
        // PostgreSQL: one dollar-quoted string; MySQL (fails to parse): a DROP.
        let facts = all("SELECT $$ ; DROP TABLE x; $$");
        assert!(facts.parsed());
        assert!(facts.kinds().contains(&K::Drop), "{:?}", facts.kinds());
        assert!(facts.multiple());
        // PostgreSQL ends `--` comments at a carriage return too.
        assert!(kinds("SELECT 1 --\r; DROP TABLE users").contains(&K::Drop));
        assert!(kinds("SELECT 1 #\r; DROP TABLE users").contains(&K::Drop));
        // PostgreSQL nests comments, MySQL does not: the DROP is live in MySQL.
        assert!(kinds("/* /* */ DROP TABLE x; */ SELECT 1").contains(&K::Drop));
        // Tagged dollar quotes.
        assert!(kinds("SELECT $tag$ ; DROP TABLE x; $tag$").contains(&K::Drop));
        // Form feed as whitespace.
        assert!(kinds("SELECT 1\u{c}; DROP TABLE x").contains(&K::Drop));
        // PostgreSQL E'' strings escape quotes in every dialect's reading.
        assert!(!kinds(r"SELECT E'a\'; DROP TABLE users; --'").contains(&K::Drop));
        // Only one dialect asked for: its reading alone.
        let facts = classify_sql("SELECT $$ ; DROP TABLE x; $$", &[SqlDialect::Postgres]);
        assert_eq!(
            facts.kinds().into_iter().collect::<Vec<_>>(),
            vec![K::Select]
        );
        assert!(!facts.multiple());
    }

    #[test]
    fn mysql_executable_comments_are_unparsed() {
        for text in [
            "SELECT 1 /*! ; DROP TABLE users */",
            "SELECT 1 /*!50000 , (SELECT password FROM users) */",
            "/*M! DROP TABLE t */ SELECT 1",
            "SELECT '/*!'",
        ] {
            let facts = all(text);
            assert!(!facts.parsed(), "{text}");
            assert!(
                facts
                    .parse_error
                    .as_deref()
                    .is_some_and(|e| e.contains("executable comment")),
                "{text}"
            );
            assert!(facts.matches_kind(K::Delete));
            assert!(facts.unbounded());
        }
        let facts = all("SELECT 1 /*! ; DROP TABLE users */");
        assert!(facts.kinds().contains(&K::Drop), "{:?}", facts.kinds());
        assert!(facts.tables().contains("users"));
        // Optimizer hints are ordinary comments.
        assert!(all("SELECT /*+ INDEX(t i) */ * FROM t").parsed());
    }

    #[test]
    fn spelling_evasions() {
        let cases: &[(&str, SqlKind)] = &[
            ("dElEtE fRoM t", K::Delete),
            ("DELETE\n\tFROM\r\n   t", K::Delete),
            ("  \n DROP   TABLE    t  ", K::Drop),
            ("DELETE\u{00A0}FROM t", K::Delete),
            ("DELETE\u{2003}FROM\u{3000}t", K::Delete),
            ("DEL\u{200B}ETE FROM t", K::Delete),
            ("\u{FEFF}DROP TABLE t", K::Drop),
            (r#"DELETE FROM "users""#, K::Delete),
            ("DELETE FROM `users`", K::Delete),
            ("DROP TABLE IF EXISTS users", K::Drop),
            ("DROP SCHEMA public CASCADE", K::Drop),
            ("GRANT ALL ON users TO PUBLIC", K::Grant),
            ("GRANT ALL PRIVILEGES ON *.* TO 'bob'@'%'", K::Grant),
            ("TRUNCATE users", K::Truncate),
            ("(SELECT 1)", K::Select),
        ];
        for (text, expected) in cases {
            let facts = all(text);
            assert!(
                facts.kinds().contains(expected),
                "{text:?}: {:?} {:?}",
                facts.kinds(),
                facts.parse_error
            );
        }
        assert!(all("DELETE\u{00A0}FROM t").unbounded());
        assert_eq!(tables(r#"DELETE FROM "users""#), vec!["users"]);
        assert_eq!(tables("DEL\u{200B}ETE FROM t"), vec!["t"]);
    }

    #[test]
    fn multiple_statements() {
        let facts = all("SELECT 1; DROP TABLE users");
        assert!(facts.parsed());
        assert!(facts.multiple());
        assert_eq!(facts.statements.len(), 2);
        assert_eq!(facts.statements[1].kind, K::Drop);
        assert_eq!(facts.statements[1].tables, vec!["users"]);

        let facts = all("SELECT 1;");
        assert!(!facts.multiple());
        assert_eq!(facts.statements.len(), 1);
        let facts = all("SELECT 1;;;");
        assert!(!facts.multiple(), "{facts:?}");

        let facts = all("BEGIN; DELETE FROM t WHERE id = 1; COMMIT;");
        assert_eq!(facts.statements.len(), 3);
        assert!(facts.matches_kind(K::Delete));
        assert!(!facts.unbounded());
    }

    #[test]
    fn garbage_is_unparsed_and_riskiest() {
        for text in [
            "best pizza near me",
            "SELEC * FROM t",
            "DELETE FROM",
            "'unterminated",
            "😀",
            "DROP TABLE t WHERE",
        ] {
            let facts = all(text);
            assert!(!facts.parsed(), "{text}");
            assert!(facts.parse_error.is_some());
            assert_eq!(facts.statements.len(), 1);
            assert_eq!(facts.statements[0].kind, K::Unparsed);
            for kind in SqlKind::ALL {
                assert!(facts.matches_kind(kind), "{text}: {kind:?}");
            }
            assert!(facts.unbounded());
            assert!(facts.multiple());
            assert!(!facts.read_only());
            assert!(facts.kinds().contains(&K::Unparsed));
        }
    }

    #[test]
    fn empty_text_has_no_statements() {
        for text in ["", "   ", "-- nothing", "/* nothing */", ";"] {
            let facts = all(text);
            assert!(facts.parsed(), "{text:?}");
            assert!(facts.statements.is_empty(), "{text:?}: {facts:?}");
            assert!(!facts.unbounded());
        }
    }

    #[test]
    fn parsed_readings_do_not_match_other_kinds() {
        let facts = all("SELECT * FROM t WHERE a = 1");
        assert!(facts.matches_kind(K::Select));
        assert!(!facts.matches_kind(K::Delete));
        assert!(!facts.unbounded());
        assert!(!facts.multiple());
        assert!(facts.read_only());
        assert!(!all("EXPLAIN ANALYZE DELETE FROM t").read_only());
        assert!(all("EXPLAIN SELECT 1").read_only());
    }

    #[test]
    fn empty_dialect_list_means_all() {
        assert_eq!(
            classify_sql("SELECT * FROM `t`", &[]),
            classify_sql("SELECT * FROM `t`", &SqlDialect::ALL)
        );
        // Backticks only parse in MySQL/Generic.
        assert!(!classify_sql("SELECT * FROM `t`", &[SqlDialect::Postgres]).parsed());
    }

    #[test]
    fn limits_make_text_unparsed() {
        let long = format!("SELECT {}", "1, ".repeat(MAX_SQL_BYTES / 3));
        let facts = all(&long);
        assert!(!facts.parsed());
        assert!(facts
            .parse_error
            .as_deref()
            .is_some_and(|e| e.contains("bytes")));

        // A left-deep chain deep enough to overflow a small stack when dropped.
        let deep = format!(
            "DELETE FROM t WHERE 1{}",
            "+1".repeat(MAX_CHAIN_OPERATORS + 10)
        );
        let facts = all(&deep);
        assert!(!facts.parsed());
        assert!(
            facts
                .parse_error
                .as_deref()
                .is_some_and(|e| e.contains("operator")),
            "{:?}",
            facts.parse_error
        );
        assert!(facts.kinds().contains(&K::Delete), "{:?}", facts.kinds());
        assert!(facts.tables().contains("t"));

        // Many rows of literals are not operators.
        let mut insert = String::from("INSERT INTO t VALUES (-1, 'a-b:c', NULL)");
        for _ in 0..5000 {
            insert.push_str(", (-1, '2024-01-01 10:00:00', NULL)");
        }
        assert!(all(&insert).parsed());
    }

    #[test]
    fn deep_chains_within_limits_are_safe_on_a_small_stack() {
        let text = format!("SELECT 1{}", "+1".repeat(MAX_CHAIN_OPERATORS - 10));
        let handle = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || all(&text).parsed())
            .unwrap();
        assert!(handle.join().unwrap());
    }

    #[test]
    fn embedded_sql_depth_is_bounded() {
        let mut text = String::from("DELETE FROM t");
        for _ in 0..(MAX_EMBEDDED_DEPTH + 2) {
            text = format!("SELECT dblink_exec('c', '{}')", text.replace('\'', "''"));
        }
        let facts = all(&text);
        assert!(facts.kinds().contains(&K::Unparsed), "{:?}", facts.kinds());
    }

    #[test]
    fn embedded_sql_count_is_bounded() {
        let calls: Vec<String> = (0..MAX_EMBEDDED_TEXTS + 5)
            .map(|i| format!("dblink_exec('c', 'DELETE FROM t{i} WHERE id = 1')"))
            .collect();
        let facts = all(&format!("SELECT {}", calls.join(", ")));
        assert!(facts.kinds().contains(&K::Unparsed), "{:?}", facts.kinds());
        // Within the budget, every dialect's reading shares the classifications.
        let calls: Vec<String> = (0..MAX_EMBEDDED_TEXTS)
            .map(|i| format!("dblink_exec('c', 'DELETE FROM t{i} WHERE id = 1')"))
            .collect();
        let facts = all(&format!("SELECT {}", calls.join(", ")));
        assert!(!facts.kinds().contains(&K::Unparsed), "{:?}", facts.kinds());
        assert_eq!(facts.tables().len(), MAX_EMBEDDED_TEXTS);
    }

    #[test]
    fn self_comparison_of_deep_expressions_is_not_recursive() {
        // Deep operands are not compared (derived `==` recurses), so this one
        // counts as bounded: the price of stack safety.
        let side = format!("(1{})", "+a".repeat(3000));
        let text = format!("DELETE FROM t WHERE {side} = {side}");
        let facts = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || all(&text))
            .unwrap()
            .join()
            .unwrap();
        assert!(facts.parsed(), "{:?}", facts.parse_error);
        assert!(!facts.unbounded());
    }

    #[test]
    fn dialect_serde_names() {
        assert_eq!(
            serde_json::to_string(&SqlDialect::MySql).unwrap(),
            "\"mysql\""
        );
        assert_eq!(
            serde_json::to_string(&SqlDialect::Postgres).unwrap(),
            "\"postgres\""
        );
        let parsed: Vec<SqlDialect> =
            serde_json::from_str(r#"["postgres","mysql","my_sql","generic"]"#).unwrap();
        assert_eq!(
            parsed,
            vec![
                SqlDialect::Postgres,
                SqlDialect::MySql,
                SqlDialect::MySql,
                SqlDialect::Generic
            ]
        );
        for kind in SqlKind::ALL {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        let json = serde_json::to_value(all("DELETE FROM t")).unwrap();
        assert_eq!(json["statements"][0]["kind"], "delete");
        assert_eq!(json["statements"][0]["unbounded"], true);
        assert_eq!(json["parse_error"], serde_json::Value::Null);
    }

    #[test]
    fn looks_like_sql_cases() {
        let cases: &[(&str, bool)] = &[
            ("best pizza near me", false),
            ("how do I delete a file", true),
            ("SELECT * FROM t", true),
            ("select 1", true),
            ("  dElEtE from t", true),
            ("DROP TABLE x", true),
            ("truncate", true),
            ("WITH x AS (SELECT 1) SELECT * FROM x", true),
            ("pizza /*! DROP TABLE t */", true),
            ("pizza /*M! DROP TABLE t */", true),
            ("/* select */ pizza", false),
            ("-- select\npizza", false),
            ("# select\npizza", true),
            ("pizza # select", true),
            // Not a comment in MySQL (`--` needs a space): live there.
            ("pizza --select", true),
            ("pizza /* /* */ delete /* */", true),
            ("deleted items", false),
            ("selection sort", false),
            ("my_update_count", false),
            ("DEL\u{200B}ETE FROM t", true),
            ("DELETE\u{00A0}FROM t", true),
            ("{ user(id: 1) { name } }", false),
            ("query { users { name } }", false),
            ("mutation { deleteUser(id: 1) }", false),
            ("", false),
            ("12345", false),
            ("selectselectselectselect", false),
            ("vacuum", true),
            ("PRAGMA table_info(t)", true),
        ];
        for (text, expected) in cases {
            assert_eq!(looks_like_sql(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn numeric_prefix_follows_mysql() {
        let cases: &[(&str, f64)] = &[
            ("1abc", 1.0),
            ("abc", 0.0),
            (" 2.5x", 2.5),
            ("-3", -3.0),
            ("1e2", 100.0),
            ("1e", 1.0),
            ("", 0.0),
            ("+", 0.0),
        ];
        for (text, expected) in cases {
            assert_eq!(rows::numeric_prefix(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn expose_executable_comments_keeps_the_live_text() {
        assert_eq!(
            expose_executable_comments("a /*!50000 b */ c /* d */ e")
                .split_whitespace()
                .collect::<Vec<_>>(),
            vec!["a", "b", "c", "e"]
        );
        assert_eq!(
            expose_executable_comments("x /*M! y")
                .split_whitespace()
                .collect::<Vec<_>>(),
            vec!["x", "y"]
        );
    }

    /// Timing for the integrator: `cargo test --release -- --ignored --nocapture timing`.
    #[test]
    #[ignore]
    fn timing_2kb_statement() {
        let mut text = String::from(
            "SELECT u.id, u.email, o.total, p.name, COUNT(li.id) AS items, SUM(li.price * li.qty) AS amount\n\
             FROM public.users u JOIN public.orders o ON o.user_id = u.id\n\
             LEFT JOIN public.line_items li ON li.order_id = o.id LEFT JOIN public.products p ON p.id = li.product_id\n\
             WHERE u.deleted_at IS NULL AND o.status IN ('paid', 'shipped') AND o.created_at >= '2024-01-01'\n",
        );
        let mut i = 0;
        while text.len() < 1900 {
            text.push_str(&format!(
                "  AND (u.region = 'region_{i}' OR u.tier > {i}) AND li.sku NOT LIKE 'TEST-{i}%'\n"
            ));
            i += 1;
        }
        text.push_str("GROUP BY u.id, u.email, o.total, p.name ORDER BY amount DESC LIMIT 50");
        for dialects in [&SqlDialect::ALL[..], &[SqlDialect::Postgres][..]] {
            let start = std::time::Instant::now();
            for _ in 0..1000 {
                std::hint::black_box(classify_sql(std::hint::black_box(&text), dialects));
            }
            println!(
                "{} bytes, {dialects:?}: {:?} per classification",
                text.len(),
                start.elapsed() / 1000
            );
        }
        let start = std::time::Instant::now();
        for _ in 0..1000 {
            std::hint::black_box(looks_like_sql(std::hint::black_box(&text)));
        }
        println!("looks_like_sql: {:?}", start.elapsed() / 1000);
    }
}
