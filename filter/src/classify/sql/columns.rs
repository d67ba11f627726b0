//! Result columns a query computes from named columns, whatever it calls them.
//!
//! A policy that masks result column `salary` matches names as the response spells them,
//! so `SELECT salary AS pay`, `SELECT upper(salary)`, a CTE or derived table that renames
//! it (`WITH t(p) AS (SELECT salary …) SELECT p AS q FROM t`) would otherwise read the
//! value under another name. [`renamed_columns`] reads the query and returns every
//! other name a result column computed from a flagged one may carry: aliases (followed
//! through CTEs, derived tables and their column lists, to a fixpoint), and for an
//! unnamed expression the names databases give it (PostgreSQL: the function's name or
//! `?column?`; MySQL and SQLite: the expression's text) and the identifiers in it. It
//! errs towards more names: masking a column too many is safe, one too few is a leak.
//! Text no dialect parses that mentions a flagged column gives every identifier in it.

use std::collections::BTreeSet;

use sqlparser::ast::{
    Expr, Query, Select, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins,
};
use sqlparser::parser::Parser;

use super::SqlDialect;

/// One result column of some `SELECT` in the text: what it may be called and the
/// (folded) identifiers its expression reads.
struct Projection {
    names: Vec<String>,
    reads: BTreeSet<String>,
    /// A `*` under a rename list: which column lands where is not known here.
    reads_all: bool,
}

/// Every name a result column computed from one of `flagged` may carry in the result of
/// `text`, besides the flagged names themselves. `fold` is how the caller compares
/// names (both `flagged` and the answer are folded with it).
pub fn renamed_columns(
    text: &str,
    dialects: &[SqlDialect],
    flagged: &BTreeSet<String>,
    fold: &dyn Fn(&str) -> String,
) -> BTreeSet<String> {
    if flagged.is_empty() {
        return BTreeSet::new();
    }
    let dialects = if dialects.is_empty() {
        &SqlDialect::ALL[..]
    } else {
        dialects
    };
    let mut projections = Vec::new();
    let mut parsed = false;
    let mut opaque: Vec<String> = Vec::new();
    for dialect in dialects {
        let Ok(statements) = Parser::parse_sql(dialect.parser_dialect(), text) else {
            continue;
        };
        parsed = true;
        for statement in &statements {
            match statement {
                Statement::Query(query) => walk_query(query, &[], fold, &mut projections),
                // Other statements (INSERT … RETURNING, CREATE TABLE AS, EXPLAIN …):
                // read as text.
                other => opaque.push(other.to_string()),
            }
        }
    }
    if !parsed {
        opaque.push(text.to_string());
    }
    let mut names: BTreeSet<String> = flagged.clone();
    // Statements not read structurally: if one mentions a flagged name, any word in it
    // may name a result column computed from it.
    for text in &opaque {
        let words = identifiers(text, fold);
        if words.iter().any(|w| flagged.contains(w)) {
            names.extend(words);
        }
    }
    loop {
        let mut changed = false;
        for projection in &projections {
            if projection.reads_all || projection.reads.iter().any(|r| names.contains(r)) {
                for name in &projection.names {
                    changed |= names.insert(name.clone());
                }
            }
        }
        if !changed {
            break;
        }
    }
    names.retain(|n| !n.is_empty() && !flagged.contains(n));
    names
}

/// The projections of `query` and of every query inside it. `renames` are the column
/// names a CTE or derived-table alias gives its result columns, by position.
fn walk_query(
    query: &Query,
    renames: &[String],
    fold: &dyn Fn(&str) -> String,
    out: &mut Vec<Projection>,
) {
    if let Some(with) = &query.with {
        for cte in &with.cte_tables {
            let columns: Vec<String> = cte
                .alias
                .columns
                .iter()
                .map(|c| fold(&c.name.value))
                .collect();
            walk_query(&cte.query, &columns, fold, out);
        }
    }
    walk_set_expr(&query.body, renames, fold, out);
}

fn walk_set_expr(
    body: &SetExpr,
    renames: &[String],
    fold: &dyn Fn(&str) -> String,
    out: &mut Vec<Projection>,
) {
    match body {
        SetExpr::Select(select) => walk_select(select, renames, fold, out),
        SetExpr::Query(query) => walk_query(query, renames, fold, out),
        // A set operation's columns are named by its left side; the right side's
        // values land in them by position, so both take the renames.
        SetExpr::SetOperation { left, right, .. } => {
            walk_set_expr(left, renames, fold, out);
            walk_set_expr(right, renames, fold, out);
            walk_set_expr(right, &first_names(left, fold), fold, out);
        }
        other => {
            // VALUES, TABLE, DML in a CTE…: any word may be a column.
            let reads = identifiers(&other.to_string(), fold);
            out.push(Projection {
                names: reads
                    .iter()
                    .cloned()
                    .chain(renames.iter().cloned())
                    .collect(),
                reads,
                reads_all: false,
            });
        }
    }
}

fn walk_select(
    select: &Select,
    renames: &[String],
    fold: &dyn Fn(&str) -> String,
    out: &mut Vec<Projection>,
) {
    for table in &select.from {
        walk_table(table, fold, out);
    }
    for (position, item) in select.projection.iter().enumerate() {
        let rename = renames.get(position).cloned();
        let (expr, mut names) = match item {
            SelectItem::UnnamedExpr(expr) => (expr, unnamed_names(expr, fold)),
            SelectItem::ExprWithAlias { expr, alias } => (expr, vec![fold(&alias.value)]),
            SelectItem::ExprWithAliases { expr, aliases } => {
                (expr, aliases.iter().map(|a| fold(&a.value)).collect())
            }
            // `*` and `t.*` keep the names they expand to; a rename list over them moves
            // names by position, which cannot be known here: every rename may be one.
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                if !renames.is_empty() {
                    out.push(Projection {
                        names: renames.to_vec(),
                        reads: BTreeSet::new(),
                        reads_all: true,
                    });
                }
                continue;
            }
        };
        names.extend(rename);
        out.push(Projection {
            names,
            reads: identifiers(&expr.to_string(), fold),
            reads_all: false,
        });
    }
}

fn walk_table(table: &TableWithJoins, fold: &dyn Fn(&str) -> String, out: &mut Vec<Projection>) {
    walk_factor(&table.relation, fold, out);
    for join in &table.joins {
        walk_factor(&join.relation, fold, out);
    }
}

fn walk_factor(factor: &TableFactor, fold: &dyn Fn(&str) -> String, out: &mut Vec<Projection>) {
    match factor {
        TableFactor::Derived {
            subquery, alias, ..
        } => {
            let columns: Vec<String> = alias
                .iter()
                .flat_map(|a| a.columns.iter().map(|c| fold(&c.name.value)))
                .collect();
            walk_query(subquery, &columns, fold, out);
        }
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => walk_table(table_with_joins, fold, out),
        _ => {}
    }
}

/// The name each result column of `body` gets (the left-most `SELECT` names a set
/// operation's columns); empty past a `*`, whose width is not known here.
fn first_names(body: &SetExpr, fold: &dyn Fn(&str) -> String) -> Vec<String> {
    match body {
        SetExpr::Select(select) => {
            let mut names = Vec::new();
            for item in &select.projection {
                let name = match item {
                    SelectItem::UnnamedExpr(expr) => unnamed_names(expr, fold).into_iter().next(),
                    SelectItem::ExprWithAlias { alias, .. } => Some(fold(&alias.value)),
                    SelectItem::ExprWithAliases { aliases, .. } => {
                        aliases.first().map(|a| fold(&a.value))
                    }
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => None,
                };
                match name {
                    Some(name) => names.push(name),
                    None => break,
                }
            }
            names
        }
        SetExpr::Query(query) => first_names(&query.body, fold),
        SetExpr::SetOperation { left, .. } => first_names(left, fold),
        _ => Vec::new(),
    }
}

/// The names databases give an unnamed result column: a column reference keeps its
/// (last) name; anything else is named by its function (PostgreSQL), `?column?`
/// (PostgreSQL), or its text (MySQL, SQLite) — and, erring wide, by every identifier
/// in it.
fn unnamed_names(expr: &Expr, fold: &dyn Fn(&str) -> String) -> Vec<String> {
    match expr {
        Expr::Identifier(ident) => vec![fold(&ident.value)],
        Expr::CompoundIdentifier(parts) => {
            parts.last().map(|p| fold(&p.value)).into_iter().collect()
        }
        other => {
            let text = other.to_string();
            let mut names = vec![fold(&text), fold("?column?")];
            names.extend(identifiers(&text, fold));
            names
        }
    }
}

/// The identifier-like words of `text`, folded (quoted identifiers and string literals
/// included: a literal read as a name only masks more).
fn identifiers(text: &str, fold: &dyn Fn(&str) -> String) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
        .map(fold)
        .filter(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(name: &str) -> String {
        name.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    }

    fn renamed(sql: &str) -> BTreeSet<String> {
        let flagged = BTreeSet::from(["salary".to_string()]);
        renamed_columns(sql, &SqlDialect::ALL, &flagged, &fold)
    }

    #[test]
    fn aliases_of_a_flagged_column_are_found() {
        assert!(renamed("SELECT salary AS pay FROM emp").contains("pay"));
        assert!(renamed("select e.SALARY pay from emp e").contains("pay"));
        assert!(renamed("SELECT \"salary\" AS \"Take Home\" FROM emp").contains("takehome"));
    }

    #[test]
    fn expressions_get_every_name_a_database_gives_them() {
        let names = renamed("SELECT upper(salary) FROM emp");
        assert!(names.contains("upper"), "{names:?}");
        assert!(names.contains("uppersalary"), "{names:?}");
        assert!(names.contains("column"), "{names:?}");
        assert!(renamed("SELECT salary + 0 AS x FROM emp").contains("x"));
        assert!(renamed("SELECT (SELECT max(salary) FROM emp) AS top").contains("top"));
        assert!(renamed("SELECT CASE WHEN salary > 0 THEN salary END AS c FROM emp").contains("c"));
    }

    #[test]
    fn renames_are_followed_through_ctes_and_derived_tables() {
        let names = renamed("WITH t(p) AS (SELECT salary FROM emp) SELECT p AS q FROM t");
        assert!(names.contains("p") && names.contains("q"), "{names:?}");
        let names = renamed("SELECT q FROM (SELECT salary AS q FROM emp) s");
        assert!(names.contains("q"), "{names:?}");
        let names = renamed("SELECT z FROM (SELECT salary FROM emp) AS s(z)");
        assert!(names.contains("z"), "{names:?}");
        let names = renamed("SELECT id AS a FROM t UNION SELECT salary FROM emp");
        assert!(names.contains("a"), "{names:?}");
    }

    #[test]
    fn a_rename_list_over_a_star_may_rename_the_column() {
        let names = renamed("WITH t(a, b) AS (SELECT * FROM emp) SELECT b FROM t");
        assert!(names.contains("a") && names.contains("b"), "{names:?}");
    }

    #[test]
    fn queries_that_do_not_touch_the_column_add_nothing() {
        assert!(renamed("SELECT id AS ident, name FROM emp").is_empty());
        assert!(renamed("SELECT salary FROM emp").is_empty());
        assert!(renamed("SELECT * FROM emp").is_empty());
    }

    #[test]
    fn unreadable_text_that_mentions_the_column_gives_every_word() {
        let names = renamed("SELECT salary AS pay FROM emp WHERE ((");
        assert!(names.contains("pay"), "{names:?}");
        assert!(renamed("SELEC id FROM emp ((").is_empty());
    }
}
