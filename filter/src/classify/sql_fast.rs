//! Fast path for [`classify_sql`](super::sql::classify_sql): plain read-only
//! queries recognised without `sqlparser`.
//!
//! `sqlparser` costs ~0.1-0.4 ms per dialect for a 2 KB statement, nearly all of
//! it tokenizer and parser allocations. Much of the SQL agents send is a
//! `SELECT`, and for a `SELECT` the facts are simple: kind Select, nothing
//! nested, bounded, plus the tables and functions it names. This module
//! recognises a conservative subset of read-only SQL by hand and returns
//! exactly the facts the full path would; on anything else it returns `None`
//! and the caller runs the full path. It never decides anything the full path
//! would not: it only skips `sqlparser` for text whose reading it knows.
//! Texts over [`MAX_CHAIN_OPERATORS`] bytes (where the full path may count
//! too many operators) and texts with MySQL executable comments (`/*!`, which
//! the full path reports unparsed wherever they appear) always decline.
//!
//! # Why it cannot weaken classification
//!
//! * **Screen.** Before any parsing, the raw text (strings, comments and quoted
//!   identifiers included) is rejected when it holds any byte but letters,
//!   digits, `_`, space, tab, newline and ``'"`(),.;*+-/%|=<>!:`` (so no
//!   backslash, `$`, `#`, `?`, `@`, brackets, `\r`, controls or non-ASCII,
//!   whose readings differ between dialects), or when any *word* (ASCII
//!   case-insensitive run of letters, digits and `_`) starts or implies a
//!   non-read statement: [`SCREEN_WORDS`] (the statement words of the full
//!   path's lexical reading, plus `INTO`, `FOR`, `RETURNING`...) and the
//!   function names the full path gives side effects (`set_config`, file,
//!   admin and dynamic-SQL functions). The recogniser below only knows read
//!   grammar anyway; the screen means a recogniser bug cannot turn a write
//!   into a read.
//! * **Recogniser.** A recursive-descent parser over a small grammar: `WITH`,
//!   `SELECT [DISTINCT]` lists with aliases, `FROM` with table names, derived
//!   tables and every join form, `WHERE`/`GROUP BY`/`HAVING`/`ORDER BY`/
//!   `LIMIT`/`OFFSET`, set operations, and expressions built from columns,
//!   literals, arithmetic, comparisons, `AND`/`OR`/`NOT`, `IS [NOT] NULL`,
//!   `IS [NOT] DISTINCT FROM`, `[NOT] BETWEEN`, `[NOT] IN`, `[NOT] LIKE`,
//!   `EXISTS`, scalar subqueries, `CASE`, `CAST`, `EXTRACT`, `SUBSTRING`,
//!   `INTERVAL` and function calls with `OVER (...)`. Unquoted words that
//!   `sqlparser` knows as keywords are accepted as names only from short lists
//!   checked against `sqlparser` in tests. Anything unfamiliar, including
//!   nesting deeper than `sqlparser`'s recursion limit could reach, is `None`.
//! * **Dialects.** Accepted text must read the same in every dialect the full
//!   path would parse it with: when several dialects including the generic one
//!   are given and the text is plain (see `is_plain` in `sql.rs`), the full path
//!   takes the generic reading alone, so only the generic grammar matters;
//!   otherwise every given dialect must accept it, so double-quoted identifiers
//!   are accepted only without MySQL (where they are strings), backticks only
//!   without PostgreSQL, `::` casts only without MySQL, `INTERVAL '...'`
//!   without a unit only without MySQL.
//! * **Equality is tested, not assumed.** The tests run both paths on a
//!   hand-written corpus, on every SQL string in `sql.rs`'s tests and the
//!   evasion suite, and on random token soups and mutations, for every dialect
//!   set, and require identical [`SqlFacts`] whenever the fast path answers.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use sqlparser::keywords::{Keyword, ALL_KEYWORDS, ALL_KEYWORDS_INDEX};

use super::sql::{
    has_executable_comment, is_plain, SqlDialect, SqlFacts, SqlKind, SqlStatementFacts,
    ADMIN_FUNCTIONS, DYNAMIC_SQL_FUNCTIONS, FILE_FUNCTIONS, MAX_CHAIN_OPERATORS,
};

/// Words that start or imply a statement other than a plain `SELECT`, in any
/// dialect the full path reads, or that introduce a clause with side effects
/// (`SELECT ... INTO`, `FOR UPDATE`, `RETURNING`). Text containing one of them
/// anywhere, as a whole word in any case, goes to the full path. Lowercase.
///
/// Built from `leading_keyword_kind`, `nested_keyword_kind` and
/// `is_sql_statement_word` in `sql.rs` (every word there that is not
/// `select`/`with`, and not `end`/`desc`, which the recogniser needs for
/// `CASE ... END` and `ORDER BY ... DESC` and never accepts as a statement
/// start), plus clause words; a test checks that every non-select statement
/// of the full path's test corpus contains one.
pub(super) const SCREEN_WORDS: &[&str] = &[
    "abort",
    "alter",
    "analyze",
    "assert",
    "attach",
    "begin",
    "cache",
    "call",
    "checkpoint",
    "close",
    "cluster",
    "comment",
    "commit",
    "copy",
    "create",
    "deallocate",
    "declare",
    "delete",
    "deny",
    "describe",
    "detach",
    "directory",
    "discard",
    "do",
    "drop",
    "dumpfile",
    "exec",
    "execute",
    "explain",
    "export",
    "fetch",
    "flush",
    "for",
    "grant",
    "handler",
    "if",
    "import",
    "insert",
    "install",
    "into",
    "kill",
    "list",
    "listen",
    "load",
    "lock",
    "merge",
    "msck",
    "notify",
    "open",
    "optimize",
    "outfile",
    "pragma",
    "prepare",
    "print",
    "purge",
    "put",
    "raise",
    "reassign",
    "refresh",
    "reindex",
    "release",
    "remove",
    "rename",
    "repair",
    "replace",
    "reset",
    "return",
    "returning",
    "revoke",
    "rollback",
    "savepoint",
    "set",
    "share",
    "show",
    "start",
    "table",
    "throw",
    "truncate",
    "uncache",
    "uninstall",
    "unlisten",
    "unload",
    "unlock",
    "update",
    "upsert",
    "use",
    "vacuum",
    "values",
    "waitfor",
    "while",
];

/// Keywords of `sqlparser` that the recogniser accepts as plain names
/// (columns, tables, qualified-name parts, `AS` aliases): each parses as an
/// ordinary identifier in every position in every dialect (checked by a
/// test). Uppercase, sorted.
const NAME_KEYWORDS: &[&str] = &[
    "ACCOUNT",
    "ACTION",
    "ACTIVE",
    "ADDRESS",
    "AMOUNT",
    "CODE",
    "COLUMNS",
    "CONTENT",
    "DATA",
    "DESCRIPTION",
    "DOMAIN",
    "EMAIL",
    "EVENT",
    "FIELDS",
    "FILE",
    "HOST",
    "ID",
    "INDEX",
    "KEY",
    "LABEL",
    "LANGUAGE",
    "LEVEL",
    "LOCATION",
    "MESSAGE",
    "MODE",
    "NAME",
    "OWNER",
    "PASSWORD",
    "PATH",
    "PHONE",
    "PRIORITY",
    "REGION",
    "ROLE",
    "SCHEMA",
    "SESSION",
    "SIZE",
    "SOURCE",
    "STAGE",
    "STATE",
    "STATUS",
    "TAG",
    "TEMPORARY",
    "TEXT",
    "TYPE",
    "URL",
    "VALUE",
    "VERSION",
    "WORK",
];

/// Keywords of `sqlparser` that the recogniser accepts as the name of an
/// ordinary function call (`count(*)`, `max(x)`): each parses as a plain
/// function in every dialect (checked by a test). Uppercase, sorted.
const FUNCTION_KEYWORDS: &[&str] = &[
    "ABS",
    "AVG",
    "COALESCE",
    "CORR",
    "COUNT",
    "COVAR_POP",
    "COVAR_SAMP",
    "CUME_DIST",
    "DENSE_RANK",
    "LAG",
    "LEAD",
    "LENGTH",
    "LN",
    "LOWER",
    "MAX",
    "MIN",
    "MOD",
    "NTILE",
    "NULLIF",
    "PERCENT_RANK",
    "POWER",
    "RANK",
    "ROW_NUMBER",
    "SQRT",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "SUM",
    "UPPER",
    "VAR_POP",
    "VAR_SAMP",
];

/// Date/time fields accepted in `EXTRACT(field FROM ...)` and after an
/// `INTERVAL` value. Uppercase.
const TIME_UNITS: &[&str] = &["DAY", "HOUR", "MINUTE", "MONTH", "SECOND", "YEAR"];

/// Types accepted in `CAST(x AS type)` and `x::type`. Uppercase.
const CAST_TYPES: &[&str] = &[
    "BIGINT", "BOOLEAN", "DATE", "INT", "INTEGER", "NUMERIC", "REAL", "SMALLINT", "TEXT",
];

/// Deepest nesting the recogniser follows, counted the way `sqlparser`
/// counts recursion (its limit is 50), with room for the frames it opens
/// while trying alternatives.
const MAX_DEPTH: usize = 36;

/// Classifies `text` if it is a read-only query of the recognised subset,
/// returning exactly what the full path would; `None` means "use the full
/// path". `dialects` must be non-empty (as `classify_in` guarantees).
pub(super) fn classify(text: &str, dialects: &[SqlDialect]) -> Option<SqlFacts> {
    // Each chain operator needs a token of at least one byte, so shorter text
    // can never reach the full path's operator cap.
    // Executable comments make the whole text unparsed, even inside strings.
    if text.len() > MAX_CHAIN_OPERATORS
        || dialects.is_empty()
        || has_executable_comment(text)
        || !screen(text)
    {
        return None;
    }
    // The dialects whose grammar decides, as `classify_in` picks them.
    let generic_only =
        dialects.len() > 1 && dialects.contains(&SqlDialect::Generic) && is_plain(text);
    let grammar = if generic_only {
        Grammar {
            mysql: false,
            postgres: false,
        }
    } else {
        Grammar {
            mysql: dialects.contains(&SqlDialect::MySql),
            postgres: dialects.contains(&SqlDialect::Postgres),
        }
    };
    let tokens = tokenize(text.as_bytes(), grammar)?;
    let mut parser = Parser {
        text: text.as_bytes(),
        tokens: &tokens,
        at: 0,
        depth: 0,
        grammar,
        tables: BTreeSet::new(),
        functions: BTreeSet::new(),
    };
    let mut statements = Vec::new();
    loop {
        // The full path's statement frame.
        parser.enter()?;
        parser.query()?;
        parser.leave();
        statements.push(SqlStatementFacts {
            kind: SqlKind::Select,
            tables: std::mem::take(&mut parser.tables).into_iter().collect(),
            unbounded: false,
            nested_kinds: Vec::new(),
            functions: std::mem::take(&mut parser.functions).into_iter().collect(),
        });
        if !parser.eat(Tok::Semi) {
            break;
        }
        while parser.eat(Tok::Semi) {}
        if parser.peek() == Tok::Eof {
            break;
        }
    }
    if parser.peek() != Tok::Eof {
        return None;
    }
    Some(SqlFacts {
        statements,
        parse_error: None,
    })
}

/// Which dialect quirks must be respected: the grammar accepted is the
/// intersection of the dialects in play.
#[derive(Debug, Clone, Copy)]
struct Grammar {
    /// MySQL reads the text: `"..."` is a string, `::` and unit-less
    /// `INTERVAL '...'` do not parse.
    mysql: bool,
    /// PostgreSQL reads the text: backticks do not tokenize.
    postgres: bool,
}

/// Whether `text` passes the byte and word screen (see the module docs).
fn screen(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut start = None;
    for (at, &byte) in bytes.iter().enumerate() {
        let word_byte = byte.is_ascii_alphanumeric() || byte == b'_';
        if word_byte {
            start.get_or_insert(at);
            continue;
        }
        if let Some(begin) = start.take() {
            if screened_word(bytes.get(begin..at).unwrap_or_default()) {
                return false;
            }
        }
        let allowed = matches!(
            byte,
            b' ' | b'\t'
                | b'\n'
                | b'\''
                | b'"'
                | b'`'
                | b'('
                | b')'
                | b','
                | b'.'
                | b';'
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'%'
                | b'|'
                | b'='
                | b'<'
                | b'>'
                | b'!'
                | b':'
        );
        if !allowed {
            return false;
        }
    }
    if let Some(begin) = start {
        if screened_word(bytes.get(begin..).unwrap_or_default()) {
            return false;
        }
    }
    true
}

/// Whether a word (letters, digits, `_`) is one the fast path leaves alone.
fn screened_word(word: &[u8]) -> bool {
    lexicon()
        .lookup(word)
        .is_some_and(|entry| entry.flags & SCREENED != 0)
}

/// [`Entry::flags`]: in [`SCREEN_WORDS`] or a side-effect function name.
const SCREENED: u8 = 1;
/// [`Entry::flags`]: in [`NAME_KEYWORDS`].
const NAME_KEYWORD: u8 = 2;
/// [`Entry::flags`]: in [`FUNCTION_KEYWORDS`].
const FUNCTION_KEYWORD: u8 = 4;

/// What the fast path knows about a word.
#[derive(Debug)]
struct Entry {
    /// The word, uppercase.
    word: Box<[u8]>,
    /// `sqlparser`'s keyword for it, or [`Keyword::NoKeyword`].
    keyword: Keyword,
    flags: u8,
}

/// Every word the fast path treats specially, in an open-addressing table:
/// one hash and usually one comparison per word of input, where binary
/// searches over `sqlparser`'s ~1000 keywords cost several times more.
struct Lexicon {
    slots: Vec<Option<Entry>>,
}

impl Lexicon {
    const SLOTS: usize = 4096;

    fn hash(word: &[u8]) -> usize {
        // FNV-1a over the uppercased bytes.
        let mut hash: u32 = 0x811c_9dc5;
        for byte in word {
            hash ^= u32::from(byte.to_ascii_uppercase());
            hash = hash.wrapping_mul(0x0100_0193);
        }
        hash as usize
    }

    fn build() -> Lexicon {
        let mut lexicon = Lexicon {
            slots: std::iter::repeat_with(|| None).take(Self::SLOTS).collect(),
        };
        for (word, keyword) in ALL_KEYWORDS.iter().zip(ALL_KEYWORDS_INDEX) {
            if let Some(entry) = lexicon.entry(word.as_bytes()) {
                entry.keyword = *keyword;
            }
        }
        let side_effect_functions = FILE_FUNCTIONS
            .iter()
            .chain(ADMIN_FUNCTIONS)
            .chain(DYNAMIC_SQL_FUNCTIONS)
            .chain(&["set_config"]);
        for word in SCREEN_WORDS.iter().chain(side_effect_functions) {
            if let Some(entry) = lexicon.entry(word.as_bytes()) {
                entry.flags |= SCREENED;
            }
        }
        for word in NAME_KEYWORDS {
            if let Some(entry) = lexicon.entry(word.as_bytes()) {
                entry.flags |= NAME_KEYWORD;
            }
        }
        for word in FUNCTION_KEYWORDS {
            if let Some(entry) = lexicon.entry(word.as_bytes()) {
                entry.flags |= FUNCTION_KEYWORD;
            }
        }
        lexicon
    }

    /// The entry for `word`, created if missing (only while building; the
    /// table is sized far above the ~1100 words it holds, so it never fills).
    fn entry(&mut self, word: &[u8]) -> Option<&mut Entry> {
        let mut index = Self::hash(word) % Self::SLOTS;
        let mut probes = 0;
        while let Some(Some(entry)) = self.slots.get(index) {
            if entry.word.eq_ignore_ascii_case(word) {
                break;
            }
            probes += 1;
            if probes == Self::SLOTS {
                return None;
            }
            index = (index + 1) % Self::SLOTS;
        }
        let slot = self.slots.get_mut(index)?;
        Some(slot.get_or_insert_with(|| Entry {
            word: word.to_ascii_uppercase().into_boxed_slice(),
            keyword: Keyword::NoKeyword,
            flags: 0,
        }))
    }

    fn lookup(&self, word: &[u8]) -> Option<&Entry> {
        let mut index = Self::hash(word) % Self::SLOTS;
        for _ in 0..Self::SLOTS {
            match self.slots.get(index)? {
                Some(entry) if entry.word.eq_ignore_ascii_case(word) => return Some(entry),
                Some(_) => index = (index + 1) % Self::SLOTS,
                None => return None,
            }
        }
        None
    }
}

fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(Lexicon::build)
}

/// A token; words, strings and numbers carry their byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// Unquoted word: byte range, `sqlparser` keyword, [`Entry::flags`].
    Word(u32, u32, Keyword, u8),
    /// Quoted identifier: the range of its contents.
    Quoted(u32, u32),
    /// `'...'` string literal.
    Str,
    /// Unsigned integer or decimal literal.
    Num,
    LParen,
    RParen,
    Comma,
    Dot,
    Semi,
    Star,
    Plus,
    Minus,
    Slash,
    Percent,
    Concat,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    DoubleColon,
    Eof,
}

/// Splits screened text into tokens; `None` on anything the subset does not
/// tokenize identically in every dialect in play.
fn tokenize(bytes: &[u8], grammar: Grammar) -> Option<Vec<Tok>> {
    let mut tokens = Vec::with_capacity(bytes.len() / 3 + 1);
    let mut at = 0;
    let is_word_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let next_is_word = |end: usize| bytes.get(end).copied().is_some_and(is_word_byte);
    while let Some(&byte) = bytes.get(at) {
        let next = bytes.get(at + 1).copied();
        let token = match byte {
            b' ' | b'\t' | b'\n' => {
                at += 1;
                continue;
            }
            b'-' if next == Some(b'-') => {
                // MySQL needs whitespace after `--`; demand it for everyone.
                if !matches!(bytes.get(at + 2), Some(b' ' | b'\t' | b'\n')) {
                    return None;
                }
                at = memchr::memchr(b'\n', bytes.get(at..)?).map_or(bytes.len(), |n| at + n);
                continue;
            }
            b'/' if next == Some(b'*') => {
                let body = bytes.get(at + 2..)?;
                // MySQL runs `/*! ... */` (and MariaDB `/*M! ... */`); the
                // caller rejects them first, this keeps the module sound alone.
                if matches!(body.first(), Some(b'!' | b'M' | b'm')) {
                    return None;
                }
                let end = memchr::memmem::find(body, b"*/")?;
                // PostgreSQL nests block comments, the others do not.
                if memchr::memmem::find(body.get(..end)?, b"/*").is_some() {
                    return None;
                }
                at += 2 + end + 2;
                continue;
            }
            b'\'' => {
                // A prefix glued to the quote (`E'`, `N'`, `X'`, `_utf8'`)
                // changes the literal per dialect.
                if at > 0 && bytes.get(at - 1).copied().is_some_and(is_word_byte) {
                    return None;
                }
                let mut end = at + 1;
                loop {
                    match bytes.get(end) {
                        None => return None,
                        Some(b'\'') if bytes.get(end + 1) == Some(&b'\'') => end += 2,
                        Some(b'\'') => break,
                        Some(_) => end += 1,
                    }
                }
                at = end + 1;
                if next_is_word(at) || bytes.get(at) == Some(&b'\'') {
                    return None;
                }
                Tok::Str
            }
            b'"' | b'`' => {
                let allowed = if byte == b'"' {
                    !grammar.mysql
                } else {
                    !grammar.postgres
                };
                if !allowed {
                    return None;
                }
                let start = at + 1;
                let len = memchr::memchr(byte, bytes.get(start..)?)?;
                let end = start + len;
                // Empty names and doubled quotes are rare; leave them to the
                // full path.
                if len == 0 || bytes.get(end + 1) == Some(&byte) {
                    return None;
                }
                at = end + 1;
                Tok::Quoted(u32::try_from(start).ok()?, u32::try_from(end).ok()?)
            }
            b'0'..=b'9' => {
                let mut end = at;
                while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                    end += 1;
                }
                if bytes.get(end) == Some(&b'.') {
                    end += 1;
                    if !bytes.get(end).is_some_and(u8::is_ascii_digit) {
                        return None;
                    }
                    while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                        end += 1;
                    }
                }
                // `1e5`, `1abc` (a MySQL identifier), `1.2.3`.
                if next_is_word(end) || matches!(bytes.get(end), Some(b'.' | b'\'' | b'"' | b'`')) {
                    return None;
                }
                at = end;
                Tok::Num
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let mut end = at;
                while bytes.get(end).copied().is_some_and(is_word_byte) {
                    end += 1;
                }
                let (keyword, flags) = lexicon()
                    .lookup(bytes.get(at..end)?)
                    .map_or((Keyword::NoKeyword, 0), |entry| {
                        (entry.keyword, entry.flags)
                    });
                let token = Tok::Word(
                    u32::try_from(at).ok()?,
                    u32::try_from(end).ok()?,
                    keyword,
                    flags,
                );
                at = end;
                token
            }
            _ => {
                let (token, len) = match (byte, next) {
                    (b'(', _) => (Tok::LParen, 1),
                    (b')', _) => (Tok::RParen, 1),
                    (b',', _) => (Tok::Comma, 1),
                    (b'.', Some(b'0'..=b'9')) => return None,
                    (b'.', _) => (Tok::Dot, 1),
                    (b';', _) => (Tok::Semi, 1),
                    (b'*', _) => (Tok::Star, 1),
                    (b'+', _) => (Tok::Plus, 1),
                    (b'-', _) => (Tok::Minus, 1),
                    (b'/', _) => (Tok::Slash, 1),
                    (b'%', _) => (Tok::Percent, 1),
                    (b'|', Some(b'|')) => (Tok::Concat, 2),
                    (b'=', _) => (Tok::Eq, 1),
                    (b'!', Some(b'=')) => (Tok::NotEq, 2),
                    (b'<', Some(b'>')) => (Tok::NotEq, 2),
                    (b'<', Some(b'=')) => (Tok::LtEq, 2),
                    (b'<', _) => (Tok::Lt, 1),
                    (b'>', Some(b'=')) => (Tok::GtEq, 2),
                    (b'>', _) => (Tok::Gt, 1),
                    (b':', Some(b':')) if !grammar.mysql => (Tok::DoubleColon, 2),
                    _ => return None,
                };
                // Longer operators (`<=>`, `->>`, `||/`, `!!`, `=>`, `:::`)
                // read differently per dialect.
                if matches!(
                    bytes.get(at + len),
                    Some(b'<' | b'>' | b'=' | b'!' | b'|' | b':')
                ) && !matches!(token, Tok::LParen | Tok::RParen | Tok::Comma | Tok::Semi)
                {
                    return None;
                }
                at += len;
                token
            }
        };
        tokens.push(token);
    }
    tokens.push(Tok::Eof);
    Some(tokens)
}

/// Binary search in a sorted list of uppercase words, ASCII case-insensitive.
fn in_upper_list(list: &[&str], word: &[u8]) -> bool {
    list.binary_search_by(|probe| {
        let probe = probe.as_bytes();
        let common = probe.len().min(word.len());
        for (a, b) in probe.iter().zip(word).take(common) {
            let b = b.to_ascii_uppercase();
            match a.cmp(&b) {
                std::cmp::Ordering::Equal => {}
                other => return other,
            }
        }
        probe.len().cmp(&word.len())
    })
    .is_ok()
}

/// The recursive-descent recogniser; it records tables and functions as it
/// goes and returns `None` on anything outside the subset.
struct Parser<'t> {
    text: &'t [u8],
    tokens: &'t [Tok],
    at: usize,
    /// Recursion frames `sqlparser` would hold open here.
    depth: usize,
    grammar: Grammar,
    tables: BTreeSet<String>,
    functions: BTreeSet<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Tok {
        self.tokens.get(self.at).copied().unwrap_or(Tok::Eof)
    }

    fn peek_at(&self, ahead: usize) -> Tok {
        self.tokens
            .get(self.at + ahead)
            .copied()
            .unwrap_or(Tok::Eof)
    }

    fn bump(&mut self) {
        self.at += 1;
    }

    fn eat(&mut self, token: Tok) -> bool {
        if self.peek() == token {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: Tok) -> Option<()> {
        self.eat(token).then_some(())
    }

    /// Opens a recursion frame where `sqlparser` opens one.
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn word_bytes(&self, token: Tok) -> Option<&[u8]> {
        match token {
            Tok::Word(start, end, ..) => self.text.get(start as usize..end as usize),
            _ => None,
        }
    }

    /// Whether the token is the unquoted keyword `keyword`.
    fn is_kw(&self, token: Tok, keyword: Keyword) -> bool {
        matches!(token, Tok::Word(_, _, found, _) if found == keyword)
    }

    fn peek_kw(&self, keyword: Keyword) -> bool {
        self.is_kw(self.peek(), keyword)
    }

    fn eat_kw(&mut self, keyword: Keyword) -> bool {
        if self.peek_kw(keyword) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, keyword: Keyword) -> Option<()> {
        self.eat_kw(keyword).then_some(())
    }

    /// The lowercased name of a name token: a word that is not a keyword (or
    /// is a [`NAME_KEYWORDS`] one), or a quoted identifier.
    fn name_text(&self, token: Tok) -> Option<String> {
        match token {
            Tok::Word(_, _, keyword, flags) => {
                if keyword != Keyword::NoKeyword && flags & NAME_KEYWORD == 0 {
                    return None;
                }
                let word = self.word_bytes(token)?;
                Some(String::from_utf8_lossy(word).to_ascii_lowercase())
            }
            Tok::Quoted(start, end) => {
                let inner = self.text.get(start as usize..end as usize)?;
                Some(String::from_utf8_lossy(inner).to_lowercase())
            }
            _ => None,
        }
    }

    fn is_name(&self, token: Tok) -> bool {
        match token {
            Tok::Word(_, _, keyword, flags) => {
                keyword == Keyword::NoKeyword || flags & NAME_KEYWORD != 0
            }
            Tok::Quoted(..) => true,
            _ => false,
        }
    }

    /// A word usable as an alias without `AS`: not a keyword at all.
    fn is_bare_alias(&self, token: Tok) -> bool {
        match token {
            Tok::Word(_, _, keyword, _) => keyword == Keyword::NoKeyword,
            Tok::Quoted(..) => true,
            _ => false,
        }
    }

    /// `name {. name}`, lowercased and dotted.
    fn object_name(&mut self) -> Option<String> {
        let mut name = self.name_text(self.peek())?;
        self.bump();
        while self.peek() == Tok::Dot {
            let part = self.name_text(self.peek_at(1))?;
            self.at += 2;
            name.push('.');
            name.push_str(&part);
        }
        Some(name)
    }

    /// `[AS] alias`, optional.
    fn optional_alias(&mut self) -> Option<()> {
        if self.eat_kw(Keyword::AS) {
            if !self.is_name(self.peek()) {
                return None;
            }
            self.bump();
        } else if self.is_bare_alias(self.peek()) {
            self.bump();
        }
        Some(())
    }

    /// A query: `[WITH ...] body [ORDER BY ...] [LIMIT ...] [OFFSET ...]`.
    fn query(&mut self) -> Option<()> {
        self.enter()?;
        if self.eat_kw(Keyword::WITH) {
            loop {
                if !self.is_bare_alias(self.peek()) {
                    return None;
                }
                self.bump();
                if self.eat(Tok::LParen) {
                    loop {
                        if !self.is_name(self.peek()) {
                            return None;
                        }
                        self.bump();
                        if !self.eat(Tok::Comma) {
                            break;
                        }
                    }
                    self.expect(Tok::RParen)?;
                }
                self.expect_kw(Keyword::AS)?;
                self.expect(Tok::LParen)?;
                self.query()?;
                self.expect(Tok::RParen)?;
                if !self.eat(Tok::Comma) {
                    break;
                }
            }
        }
        self.set_expr()?;
        if self.eat_kw(Keyword::ORDER) {
            self.expect_kw(Keyword::BY)?;
            self.order_list()?;
        }
        if self.eat_kw(Keyword::LIMIT) {
            self.sub_expr()?;
        }
        if self.eat_kw(Keyword::OFFSET) {
            self.sub_expr()?;
        }
        self.leave();
        Some(())
    }

    /// `term {UNION|INTERSECT|EXCEPT [ALL|DISTINCT] term}`.
    fn set_expr(&mut self) -> Option<()> {
        loop {
            if self.eat(Tok::LParen) {
                self.query()?;
                self.expect(Tok::RParen)?;
            } else {
                self.select()?;
            }
            if self.eat_kw(Keyword::UNION)
                || self.eat_kw(Keyword::INTERSECT)
                || self.eat_kw(Keyword::EXCEPT)
            {
                let _ = self.eat_kw(Keyword::ALL) || self.eat_kw(Keyword::DISTINCT);
                continue;
            }
            return Some(());
        }
    }

    fn select(&mut self) -> Option<()> {
        self.expect_kw(Keyword::SELECT)?;
        let _ = self.eat_kw(Keyword::DISTINCT) || self.eat_kw(Keyword::ALL);
        loop {
            self.select_item()?;
            if !self.eat(Tok::Comma) {
                break;
            }
        }
        if self.eat_kw(Keyword::FROM) {
            loop {
                self.table_with_joins()?;
                if !self.eat(Tok::Comma) {
                    break;
                }
            }
        }
        if self.eat_kw(Keyword::WHERE) {
            self.sub_expr()?;
        }
        if self.peek_kw(Keyword::GROUP) {
            self.bump();
            self.expect_kw(Keyword::BY)?;
            loop {
                self.sub_expr()?;
                if !self.eat(Tok::Comma) {
                    break;
                }
            }
        }
        if self.eat_kw(Keyword::HAVING) {
            self.sub_expr()?;
        }
        Some(())
    }

    fn select_item(&mut self) -> Option<()> {
        // `*` and `name.*`: only where nothing dialect-specific may follow.
        let wildcard_end = |parser: &Self| {
            let next = parser.peek();
            matches!(next, Tok::Comma | Tok::RParen | Tok::Semi | Tok::Eof)
                || parser.is_kw(next, Keyword::FROM)
        };
        if self.peek() == Tok::Star {
            self.bump();
            return wildcard_end(self).then_some(());
        }
        let mut ahead = 0;
        while self.is_name(self.peek_at(ahead)) && self.peek_at(ahead + 1) == Tok::Dot {
            ahead += 2;
            if self.peek_at(ahead) == Tok::Star {
                self.at += ahead + 1;
                return wildcard_end(self).then_some(());
            }
        }
        self.sub_expr()?;
        self.optional_alias()
    }

    fn order_list(&mut self) -> Option<()> {
        loop {
            self.sub_expr()?;
            let _ = self.eat_kw(Keyword::ASC) || self.eat_kw(Keyword::DESC);
            if !self.eat(Tok::Comma) {
                return Some(());
            }
        }
    }

    fn table_with_joins(&mut self) -> Option<()> {
        self.table_factor()?;
        loop {
            if self.eat_kw(Keyword::CROSS) {
                self.expect_kw(Keyword::JOIN)?;
                self.table_factor()?;
                continue;
            }
            let join_start = self.at;
            let natural = self.eat_kw(Keyword::NATURAL);
            if self.eat_kw(Keyword::LEFT)
                || self.eat_kw(Keyword::RIGHT)
                || self.eat_kw(Keyword::FULL)
            {
                let _ = self.eat_kw(Keyword::OUTER);
            } else {
                let _ = self.eat_kw(Keyword::INNER);
            }
            if !self.eat_kw(Keyword::JOIN) {
                // A join keyword without JOIN (`t LEFT u`) is malformed.
                if self.at != join_start {
                    return None;
                }
                return Some(());
            }
            self.table_factor()?;
            if natural {
                continue;
            }
            if self.eat_kw(Keyword::ON) {
                self.sub_expr()?;
            } else if self.eat_kw(Keyword::USING) {
                self.expect(Tok::LParen)?;
                loop {
                    if !self.is_name(self.peek()) {
                        return None;
                    }
                    self.bump();
                    if !self.eat(Tok::Comma) {
                        break;
                    }
                }
                self.expect(Tok::RParen)?;
            } else {
                return None;
            }
        }
    }

    fn table_factor(&mut self) -> Option<()> {
        self.enter()?;
        let lateral = self.eat_kw(Keyword::LATERAL);
        if self.peek() == Tok::LParen {
            // Only a derived table; nested joins are left to the full path.
            if !self.is_kw(self.peek_at(1), Keyword::SELECT)
                && !self.is_kw(self.peek_at(1), Keyword::WITH)
            {
                return None;
            }
            self.bump();
            self.query()?;
            self.expect(Tok::RParen)?;
            self.optional_alias()?;
        } else {
            if lateral {
                return None;
            }
            let name = self.object_name()?;
            if self.peek() == Tok::LParen {
                // Table functions are left to the full path.
                return None;
            }
            self.tables.insert(name);
            self.optional_alias()?;
        }
        self.leave();
        Some(())
    }

    /// An expression where `sqlparser` would call `parse_expr`/`parse_subexpr`
    /// (one frame).
    fn sub_expr(&mut self) -> Option<()> {
        self.enter()?;
        self.or_expr()?;
        self.leave();
        Some(())
    }

    /// Runs `operand` for the right-hand side of a binary operator: one more
    /// frame while it runs, as in `sqlparser`'s precedence climbing.
    fn rhs(&mut self, operand: fn(&mut Self) -> Option<()>) -> Option<()> {
        self.enter()?;
        operand(self)?;
        self.leave();
        Some(())
    }

    fn or_expr(&mut self) -> Option<()> {
        self.and_expr()?;
        while self.eat_kw(Keyword::OR) {
            self.rhs(Self::and_expr)?;
        }
        Some(())
    }

    fn and_expr(&mut self) -> Option<()> {
        self.not_expr()?;
        while self.eat_kw(Keyword::AND) {
            self.rhs(Self::not_expr)?;
        }
        Some(())
    }

    fn not_expr(&mut self) -> Option<()> {
        if self.peek_kw(Keyword::NOT) && !self.is_kw(self.peek_at(1), Keyword::EXISTS) {
            self.bump();
            return self.rhs(Self::not_expr);
        }
        self.predicate()
    }

    /// A comparison or other predicate: at most one per operand chain (the
    /// subset does not chain them, `a = b = c`).
    fn predicate(&mut self) -> Option<()> {
        self.additive()?;
        let next = self.peek();
        if matches!(
            next,
            Tok::Eq | Tok::NotEq | Tok::Lt | Tok::LtEq | Tok::Gt | Tok::GtEq
        ) {
            self.bump();
            return self.rhs(Self::additive);
        }
        if self.eat_kw(Keyword::IS) {
            let _ = self.eat_kw(Keyword::NOT);
            if self.eat_kw(Keyword::NULL)
                || self.eat_kw(Keyword::TRUE)
                || self.eat_kw(Keyword::FALSE)
            {
                return Some(());
            }
            self.expect_kw(Keyword::DISTINCT)?;
            self.expect_kw(Keyword::FROM)?;
            return self.rhs(Self::additive);
        }
        let negated = self.peek_kw(Keyword::NOT);
        let offset = usize::from(negated);
        let keyword = self.peek_at(offset);
        if self.is_kw(keyword, Keyword::BETWEEN) {
            self.at += offset + 1;
            self.rhs(Self::additive)?;
            self.expect_kw(Keyword::AND)?;
            return self.rhs(Self::additive);
        }
        if self.is_kw(keyword, Keyword::LIKE) || self.is_kw(keyword, Keyword::ILIKE) {
            self.at += offset + 1;
            return self.rhs(Self::additive);
        }
        if self.is_kw(keyword, Keyword::IN) {
            self.at += offset + 1;
            self.expect(Tok::LParen)?;
            if self.peek_kw(Keyword::SELECT) || self.peek_kw(Keyword::WITH) {
                self.query()?;
            } else {
                loop {
                    self.sub_expr()?;
                    if !self.eat(Tok::Comma) {
                        break;
                    }
                }
            }
            return self.expect(Tok::RParen);
        }
        if negated {
            return None;
        }
        Some(())
    }

    fn additive(&mut self) -> Option<()> {
        self.multiplicative()?;
        while matches!(self.peek(), Tok::Plus | Tok::Minus | Tok::Concat) {
            self.bump();
            self.rhs(Self::multiplicative)?;
        }
        Some(())
    }

    fn multiplicative(&mut self) -> Option<()> {
        self.unary()?;
        while matches!(self.peek(), Tok::Star | Tok::Slash | Tok::Percent) {
            self.bump();
            self.rhs(Self::unary)?;
        }
        Some(())
    }

    fn unary(&mut self) -> Option<()> {
        if matches!(self.peek(), Tok::Plus | Tok::Minus) {
            self.bump();
            return self.rhs(Self::unary);
        }
        self.primary()?;
        while self.eat(Tok::DoubleColon) {
            self.cast_type()?;
        }
        Some(())
    }

    /// A type of [`CAST_TYPES`].
    fn cast_type(&mut self) -> Option<()> {
        let word = self.word_bytes(self.peek())?;
        if !in_upper_list(CAST_TYPES, word) {
            return None;
        }
        self.bump();
        // `numeric(10, 2)`, `int[]`...: full path.
        if matches!(self.peek(), Tok::LParen) {
            return None;
        }
        Some(())
    }

    fn primary(&mut self) -> Option<()> {
        let token = self.peek();
        match token {
            Tok::Num | Tok::Str => {
                self.bump();
                return Some(());
            }
            Tok::LParen => {
                self.bump();
                if self.peek_kw(Keyword::SELECT) || self.peek_kw(Keyword::WITH) {
                    self.query()?;
                } else {
                    loop {
                        self.sub_expr()?;
                        if !self.eat(Tok::Comma) {
                            break;
                        }
                    }
                }
                return self.expect(Tok::RParen);
            }
            Tok::Quoted(..) => return self.column_or_call(),
            Tok::Word(..) => {}
            _ => return None,
        }
        let Tok::Word(_, _, keyword, flags) = token else {
            return None;
        };
        if keyword == Keyword::NoKeyword {
            return self.column_or_call();
        }
        match keyword {
            Keyword::NULL | Keyword::TRUE | Keyword::FALSE => {
                self.bump();
                Some(())
            }
            Keyword::NOT => {
                // Only `NOT EXISTS` reaches here (see `not_expr`).
                self.bump();
                self.enter()?;
                self.exists()?;
                self.leave();
                Some(())
            }
            Keyword::EXISTS => self.exists(),
            Keyword::CASE => {
                self.bump();
                if !self.peek_kw(Keyword::WHEN) {
                    self.sub_expr()?;
                }
                self.expect_kw(Keyword::WHEN)?;
                loop {
                    self.sub_expr()?;
                    self.expect_kw(Keyword::THEN)?;
                    self.sub_expr()?;
                    if !self.eat_kw(Keyword::WHEN) {
                        break;
                    }
                }
                if self.eat_kw(Keyword::ELSE) {
                    self.sub_expr()?;
                }
                self.expect_kw(Keyword::END)
            }
            Keyword::CAST => {
                self.bump();
                self.expect(Tok::LParen)?;
                self.sub_expr()?;
                self.expect_kw(Keyword::AS)?;
                self.cast_type()?;
                self.expect(Tok::RParen)
            }
            Keyword::EXTRACT => {
                self.bump();
                self.expect(Tok::LParen)?;
                let field = self.word_bytes(self.peek())?;
                if !in_upper_list(TIME_UNITS, field) {
                    return None;
                }
                self.bump();
                self.expect_kw(Keyword::FROM)?;
                self.sub_expr()?;
                self.expect(Tok::RParen)
            }
            Keyword::SUBSTRING => {
                self.bump();
                self.expect(Tok::LParen)?;
                self.sub_expr()?;
                if self.eat_kw(Keyword::FROM) {
                    self.sub_expr()?;
                    if self.eat_kw(Keyword::FOR) {
                        self.sub_expr()?;
                    }
                } else {
                    self.expect(Tok::Comma)?;
                    self.sub_expr()?;
                    if self.eat(Tok::Comma) {
                        self.sub_expr()?;
                    }
                }
                self.expect(Tok::RParen)
            }
            Keyword::INTERVAL => {
                self.bump();
                self.enter()?;
                let value = self.peek();
                if !matches!(value, Tok::Str | Tok::Num) {
                    return None;
                }
                self.bump();
                let unit = self.word_bytes(self.peek());
                if unit.is_some_and(|unit| in_upper_list(TIME_UNITS, unit)) {
                    self.bump();
                } else if self.grammar.mysql || value == Tok::Num {
                    // MySQL requires the unit.
                    return None;
                }
                // `INTERVAL '1' DAY TO SECOND`, `(p)` precisions: full path.
                if self.peek_kw(Keyword::TO) || self.peek() == Tok::LParen {
                    return None;
                }
                self.leave();
                Some(())
            }
            _ if flags & NAME_KEYWORD != 0 && self.peek_at(1) != Tok::LParen => {
                self.column_or_call()
            }
            _ if flags & FUNCTION_KEYWORD != 0 && self.peek_at(1) == Tok::LParen => {
                self.column_or_call()
            }
            _ => None,
        }
    }

    fn exists(&mut self) -> Option<()> {
        self.expect_kw(Keyword::EXISTS)?;
        self.expect(Tok::LParen)?;
        self.query()?;
        self.expect(Tok::RParen)
    }

    /// `name{.name}` as a column, or `name{.name}(args) [OVER (...)]`.
    fn column_or_call(&mut self) -> Option<()> {
        let first_at = self.at;
        let first = self.peek();
        self.bump();
        let mut parts = 1;
        while self.peek() == Tok::Dot {
            if !self.is_name(self.peek_at(1)) {
                return None;
            }
            self.at += 2;
            parts += 1;
        }
        if self.peek() != Tok::LParen {
            // A column: its first word must be a plain name too. Columns are
            // not facts, so no name is built.
            return self.is_name(first).then_some(());
        }
        // A call: a qualified name starts with a plain name, a bare one is a
        // non-keyword, quoted, or one of the checked function keywords.
        let callable = match first {
            _ if parts > 1 => self.is_name(first),
            Tok::Quoted(..) => true,
            Tok::Word(_, _, keyword, flags) => {
                keyword == Keyword::NoKeyword || flags & FUNCTION_KEYWORD != 0
            }
            _ => false,
        };
        if !callable {
            return None;
        }
        let mut name = String::new();
        for (index, part) in (first_at..self.at).step_by(2).enumerate() {
            if index > 0 {
                name.push('.');
            }
            let token = self.tokens.get(part).copied()?;
            match token {
                Tok::Word(..) => {
                    let word = self.word_bytes(token)?;
                    name.push_str(&String::from_utf8_lossy(word).to_ascii_lowercase());
                }
                _ => name.push_str(&self.name_text(token)?),
            }
        }
        self.bump();
        self.functions.insert(name);
        if self.eat(Tok::Star) {
            self.expect(Tok::RParen)?;
        } else if !self.eat(Tok::RParen) {
            let _ = self.eat_kw(Keyword::DISTINCT) || self.eat_kw(Keyword::ALL);
            loop {
                self.sub_expr()?;
                if !self.eat(Tok::Comma) {
                    break;
                }
            }
            self.expect(Tok::RParen)?;
        }
        if self.eat_kw(Keyword::OVER) {
            self.expect(Tok::LParen)?;
            if self.eat_kw(Keyword::PARTITION) {
                self.expect_kw(Keyword::BY)?;
                loop {
                    self.sub_expr()?;
                    if !self.eat(Tok::Comma) {
                        break;
                    }
                }
            }
            if self.eat_kw(Keyword::ORDER) {
                self.expect_kw(Keyword::BY)?;
                self.order_list()?;
            }
            self.expect(Tok::RParen)?;
        }
        Some(())
    }
}

#[cfg(test)]
#[path = "sql_fast_tests.rs"]
mod tests;
