//! SQL classification with its fast path equals classification forced through
//! sqlparser, for any text and dialect set (the fast path either declines or
//! answers exactly what sqlparser's reading gives).
//! Run: `cd filter/fuzz && cargo +nightly fuzz run sql_fast`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden::classify::sql::{classify_sql, classify_sql_full, SqlDialect};

fuzz_target!(|data: &[u8]| {
    // First byte picks the dialect set, the rest is the text.
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let dialects: Vec<SqlDialect> = SqlDialect::ALL
        .into_iter()
        .enumerate()
        .filter(|(index, _)| pick & (1 << index) != 0)
        .map(|(_, dialect)| dialect)
        .collect();
    assert_eq!(
        classify_sql(text, &dialects),
        classify_sql_full(text, &dialects),
        "{text:?} {dialects:?}"
    );
});
