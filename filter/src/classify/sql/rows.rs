//! Which rows a DELETE/UPDATE/MERGE condition selects: could it be *every* row?
//!
//! A condition counts as selecting every row ("unbounded") when
//!
//! * it folds to a true constant (`1=1`, `'a' LIKE '%'`, `NOT FALSE`, `1 IN (1)`,
//!   `coalesce(1, 1) = 1`, `CASE WHEN 1=1 THEN true END`, `true + 0`...);
//! * it is the same for every row but Warden cannot fold it: it names no column of
//!   the rows being changed (`(SELECT true)`, `EXISTS (SELECT 1 FROM other)`,
//!   `now() > '2000-01-01'`, `$1`, `current_user = 'x'`). Such a condition selects
//!   every row or none, so it is taken as every row — when unsure, unbounded;
//! * it holds for every row that has a value, by its shape: a column compared with
//!   itself (`id = id`, `lower(n) >= lower(n)`), `x IS NOT NULL` or `x IS DISTINCT
//!   FROM NULL` of anything not constant, `x LIKE '%'`, `x IN (x)`, a condition OR its
//!   negation (`x = 5 OR x <> 5`, `flag OR NOT flag`, `x IS NULL OR x IS NOT NULL`),
//!   numeric comparisons that together cover every number (`x > 5 OR x < 10`,
//!   `x >= 0 OR x < 0`, `x BETWEEN -1e19 AND 1e19`), values that cannot fail a bound
//!   (`abs(x) >= 0`, `length(n) > -1`, `x - x = 0`, `(x > 0) + 1`), identity
//!   arithmetic and casts (`x + 0 = x`, `x::text = x::text`), patterns that match
//!   every value (`x REGEXP '.*'`, `x ~ ''`, `x SIMILAR TO '%'`), a condition
//!   compared with true (`(x = x) = true`), every branch of a CASE true,
//!   `x IN (SELECT x FROM <the same table>)`, `x NOT IN (<an empty subquery>)`, or a
//!   self-join on the same column (`DELETE FROM t USING t AS u WHERE t.id = u.id`);
//! * AND/OR/NOT combine those (`id = 5 OR (SELECT true)` is unbounded, `id = 5 AND
//!   (SELECT true)` is not); NOT is pushed through AND/OR.
//!
//! Anything else that names a column (`id > 0`, `name = $1`) is bounded. Inside
//! subqueries, only names qualified with the changed table or its alias count as
//! naming its rows (`EXISTS (SELECT 1 FROM u WHERE u.id = t.id)` is bounded); an
//! unqualified name there is read as the subquery's own column.
//!
//! Everything here is iterative or depth-bounded ([`MAX_CONST_DEPTH`]): AND/OR chains
//! are flattened, and column references are found with the statement walker's
//! explicit stack.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, InTarget, ObjectName,
    Query, SelectItem, SetExpr, TableFactor, TableWithJoins, UnaryOperator, Value,
};

use super::{
    base_name, column_refs, is_variable, object_name, value_string, Context, Node, MAX_CONST_DEPTH,
};

/// The statement whose rows a condition selects.
pub(super) struct RowScope<'c> {
    /// Names its rows can be qualified with: table names (dotted and bare) and
    /// aliases, lowercase.
    qualifiers: BTreeSet<String>,
    /// Its table names (dotted and bare), lowercase.
    tables: BTreeSet<String>,
    /// Each qualifier (name or alias) and the table it stands for.
    aliases: HashMap<String, String>,
    context: Context<'c>,
}

impl<'c> RowScope<'c> {
    pub(super) fn new(context: Context<'c>) -> Self {
        RowScope {
            qualifiers: BTreeSet::new(),
            tables: BTreeSet::new(),
            aliases: HashMap::new(),
            context,
        }
    }

    /// A changed table named directly (`DELETE t1, t2 FROM ...`).
    pub(super) fn add_name(&mut self, name: &ObjectName) {
        let table = base_name(name);
        for name in [object_name(name), base_name(name)] {
            self.qualifiers.insert(name.clone());
            self.aliases.insert(name.clone(), table.clone());
            self.tables.insert(name);
        }
    }

    /// A table factor of the changed tables (its name and alias).
    pub(super) fn add_factor(&mut self, factor: &TableFactor) {
        match factor {
            TableFactor::Table { name, alias, .. } => {
                self.add_name(name);
                if let Some(alias) = alias {
                    let alias = alias.name.value.to_lowercase();
                    self.aliases.insert(alias.clone(), base_name(name));
                    self.qualifiers.insert(alias);
                }
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                // Nested joins are shallow in practice; the parser bounds them.
                self.add_tables(table_with_joins)
            }
            other => {
                if let Some(alias) = factor_alias(other) {
                    self.qualifiers.insert(alias);
                }
            }
        }
    }

    /// A FROM item of the changed tables, with its joins.
    pub(super) fn add_tables(&mut self, table: &TableWithJoins) {
        self.add_factor(&table.relation);
        for join in &table.joins {
            self.add_factor(&join.relation);
        }
    }
}

fn factor_alias(factor: &TableFactor) -> Option<String> {
    match factor {
        TableFactor::Derived { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. } => alias.as_ref().map(|a| a.name.value.to_lowercase()),
        _ => None,
    }
}

/// Whether a DELETE/UPDATE with this WHERE (none: every row) may touch every row.
pub(super) fn matches_every_row(selection: Option<&Expr>, scope: &RowScope<'_>) -> bool {
    match selection {
        None => true,
        Some(condition) => truth(condition, 0, scope).may_be_every_row(),
    }
}

/// Truth of a condition over *every* row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    /// Holds for every row (or every row that has a value).
    True,
    /// Holds for no row (or only for rows without a value).
    False,
    /// Depends on the row.
    Unknown,
    /// May hold for every row: the condition is the same for every row (or contains
    /// a part that is) and Warden cannot tell which way.
    Maybe,
}

impl Truth {
    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
            // NOT of "all rows or none" is "none or all".
            Truth::Maybe => Truth::Maybe,
        }
    }

    fn from_bool(value: bool) -> Truth {
        if value {
            Truth::True
        } else {
            Truth::False
        }
    }

    fn may_be_every_row(self) -> bool {
        matches!(self, Truth::True | Truth::Maybe)
    }
}

/// A folded constant.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Const {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

impl Const {
    /// Whether the value passes a WHERE in some dialect (MySQL casts strings to
    /// numbers, PostgreSQL reads `'t'`/`'yes'`/`'on'` as true).
    fn truthy(&self) -> bool {
        match self {
            Const::Null => false,
            Const::Bool(value) => *value,
            Const::Num(value) => *value != 0.0,
            Const::Str(text) => pg_bool(text) == Some(true) || numeric_prefix(text) != 0.0,
        }
    }

    fn as_num(&self) -> Option<f64> {
        match self {
            Const::Null => None,
            Const::Bool(value) => Some(if *value { 1.0 } else { 0.0 }),
            Const::Num(value) => Some(*value),
            Const::Str(text) => Some(numeric_prefix(text)),
        }
    }

    /// The value as text (CONCAT, string comparisons); `None` for NULL.
    fn as_text(&self) -> Option<String> {
        match self {
            Const::Null => None,
            Const::Bool(value) => Some(if *value { "1" } else { "0" }.to_owned()),
            Const::Num(value) if value.fract() == 0.0 && value.abs() < 1e15 => {
                Some(format!("{}", *value as i64))
            }
            Const::Num(value) => Some(value.to_string()),
            Const::Str(text) => Some(text.clone()),
        }
    }
}

/// PostgreSQL's reading of a string as a boolean.
fn pg_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// MySQL's reading of a string as a number: its longest numeric prefix, or 0.
pub(super) fn numeric_prefix(text: &str) -> f64 {
    let text = text.trim_start();
    let bytes = text.as_bytes();
    let mut end = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let digits_start = end;
    while bytes.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    if bytes.get(end) == Some(&b'.') {
        end += 1;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    if end == digits_start {
        return 0.0;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut exponent_end = end + 1;
        if matches!(bytes.get(exponent_end), Some(b'+' | b'-')) {
            exponent_end += 1;
        }
        let exponent_digits = exponent_end;
        while bytes.get(exponent_end).is_some_and(u8::is_ascii_digit) {
            exponent_end += 1;
        }
        if exponent_end > exponent_digits {
            end = exponent_end;
        }
    }
    text.get(..end)
        .and_then(|prefix| prefix.parse().ok())
        .unwrap_or(0.0)
}

/// The operands of a chain of `op` (`a OR b OR c`), gathered without recursion.
fn chain_terms<'e>(expr: &'e Expr, op: &BinaryOperator) -> Vec<&'e Expr> {
    let mut terms = Vec::new();
    let mut pending = vec![expr];
    while let Some(next) = pending.pop() {
        match next {
            Expr::BinaryOp {
                left,
                op: next_op,
                right,
            } if next_op == op => {
                pending.push(right);
                pending.push(left);
            }
            Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: inner_op, .. } if inner_op == op) => {
                pending.push(inner)
            }
            other => terms.push(other),
        }
    }
    terms
}

fn is_comparison(op: &BinaryOperator) -> bool {
    use BinaryOperator as B;
    matches!(
        op,
        B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq | B::Spaceship
    )
}

/// Whether `a` and `b` are the same small expression (`id = id`). Derived
/// `==` on [`Expr`] recurses, so only shallow operands are compared.
fn same_operand(a: &Expr, b: &Expr) -> bool {
    shallow(a, 0) && shallow(b, 0) && a == b
}

/// Columns, literals, and functions/operators over them, a few levels deep.
fn shallow(expr: &Expr, depth: usize) -> bool {
    const MAX_SHALLOW_DEPTH: usize = 6;
    if depth > MAX_SHALLOW_DEPTH {
        return false;
    }
    match expr {
        Expr::Identifier(_)
        | Expr::CompoundIdentifier(_)
        | Expr::Value(_)
        | Expr::TypedString(_) => true,
        Expr::Nested(inner)
        | Expr::Cast { expr: inner, .. }
        | Expr::UnaryOp { expr: inner, .. }
        | Expr::IsNull(inner)
        | Expr::IsNotNull(inner)
        | Expr::IsTrue(inner)
        | Expr::IsNotTrue(inner)
        | Expr::IsFalse(inner)
        | Expr::IsNotFalse(inner) => shallow(inner, depth + 1),
        Expr::BinaryOp { left, right, .. } => shallow(left, depth + 1) && shallow(right, depth + 1),
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
            shallow(expr, depth + 1) && shallow(pattern, depth + 1)
        }
        Expr::In {
            expr,
            target: InTarget::List(list),
            ..
        } => {
            list.len() <= 16
                && shallow(expr, depth + 1)
                && list.iter().all(|item| shallow(item, depth + 1))
        }
        Expr::Between {
            expr, low, high, ..
        } => shallow(expr, depth + 1) && shallow(low, depth + 1) && shallow(high, depth + 1),
        Expr::Tuple(items) => {
            items.len() <= 16 && items.iter().all(|item| shallow(item, depth + 1))
        }
        Expr::Collate { expr, .. } => shallow(expr, depth + 1),
        Expr::Function(function) => match &function.args {
            FunctionArguments::None => true,
            FunctionArguments::List(list) => {
                list.clauses.is_empty()
                    && function.filter.is_none()
                    && function.over.is_none()
                    && list.args.iter().all(|arg| match arg {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => {
                            shallow(expr, depth + 1)
                        }
                        _ => false,
                    })
            }
            FunctionArguments::Subquery(_) => false,
        },
        _ => false,
    }
}

/// Whether `expr` is the same for every row: it names no column of the changed
/// rows (see the module docs for subqueries).
fn row_independent(expr: &Expr, scope: &RowScope<'_>) -> bool {
    let outer = column_refs(Node::Expr(expr), true, None, scope.context);
    if outer.found {
        return false;
    }
    outer.queries.iter().all(|query| {
        !column_refs(
            Node::Query(query),
            false,
            Some(&scope.qualifiers),
            scope.context,
        )
        .found
    })
}

/// Whether `expr` names a column (rather than a MySQL `@variable`); used by the
/// walker while collecting references. `qualifiers` restricts it to names qualified
/// with one of them.
pub(super) fn is_column_ref(expr: &Expr, qualifiers: Option<&BTreeSet<String>>) -> bool {
    match (expr, qualifiers) {
        (Expr::Identifier(_), Some(_)) => false,
        (Expr::Identifier(ident), None) => !is_variable(expr) && !ident.value.is_empty(),
        (Expr::CompoundIdentifier(parts), None) => !parts.is_empty(),
        (Expr::CompoundIdentifier(parts), Some(qualifiers)) => {
            parts.split_last().is_some_and(|(_, qualifier)| {
                qualifier
                    .iter()
                    .any(|part| qualifiers.contains(&part.value.to_lowercase()))
            })
        }
        _ => false,
    }
}

/// Whether `condition` holds for every row (see the module docs).
fn truth(condition: &Expr, depth: usize, scope: &RowScope<'_>) -> Truth {
    if depth > MAX_CONST_DEPTH {
        return Truth::Maybe;
    }
    let folded = shaped_truth(condition, depth + 1, scope);
    if folded != Truth::Unknown {
        folded
    } else if row_independent(condition, scope) {
        Truth::Maybe
    } else if covers_every_row(&[condition], false, depth) {
        // One comparison that no number fails (`id BETWEEN -1e19 AND 1e19`).
        Truth::True
    } else {
        Truth::Unknown
    }
}

/// [`truth`] from the condition's shape and constants alone.
fn shaped_truth(condition: &Expr, depth: usize, scope: &RowScope<'_>) -> Truth {
    match condition {
        Expr::Nested(inner) => truth(inner, depth, scope),
        Expr::BinaryOp {
            op: op @ (BinaryOperator::Or | BinaryOperator::And),
            ..
        } => chain_truth(&chain_terms(condition, op), op, false, depth, scope),
        Expr::UnaryOp {
            op: UnaryOperator::Not | UnaryOperator::BangNot,
            expr,
        } => match strip_nested(expr) {
            // NOT (a AND b) is NOT a OR NOT b: the terms are read as one chain, so
            // `NOT (x = 1 AND x <> 1)` is seen whole.
            inner @ Expr::BinaryOp {
                op: op @ (BinaryOperator::Or | BinaryOperator::And),
                ..
            } => chain_truth(&chain_terms(inner, op), op, true, depth, scope),
            inner => truth(inner, depth, scope).not(),
        },
        Expr::IsTrue(inner) | Expr::IsNotFalse(inner) => truth(inner, depth, scope),
        Expr::IsFalse(inner) | Expr::IsNotTrue(inner) => truth(inner, depth, scope).not(),
        Expr::IsNull(inner) | Expr::IsUnknown(inner) => is_null_truth(inner, depth, scope),
        Expr::IsNotNull(inner) | Expr::IsNotUnknown(inner) => {
            is_null_truth(inner, depth, scope).not()
        }
        Expr::IsDistinctFrom(a, b) => distinct_truth(a, b, depth, scope),
        Expr::IsNotDistinctFrom(a, b) => distinct_truth(a, b, depth, scope).not(),
        Expr::BinaryOp { left, op, right } if is_comparison(op) => {
            compare(left, op, right, depth, scope)
        }
        Expr::Like {
            negated,
            expr,
            pattern,
            ..
        }
        | Expr::ILike {
            negated,
            expr,
            pattern,
            ..
        } => {
            let matches_all = match const_value(pattern, depth) {
                Some(Const::Str(pattern)) => {
                    !pattern.is_empty() && pattern.chars().all(|c| c == '%')
                }
                _ => false,
            };
            let value = const_value(expr, depth);
            match (value, const_value(pattern, depth)) {
                (Some(Const::Null), _) | (_, Some(Const::Null)) => Truth::False,
                (Some(value), Some(pattern)) => match (value.as_text(), pattern.as_text()) {
                    (Some(value), Some(pattern)) => {
                        Truth::from_bool(like(&value, &pattern) != *negated)
                    }
                    _ => Truth::Unknown,
                },
                _ if matches_all && !negated => Truth::True,
                _ if matches_all => Truth::False,
                _ => Truth::Unknown,
            }
        }
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated,
            ..
        } => in_list_truth(expr, list, *negated, depth),
        Expr::In {
            expr,
            target: InTarget::Subquery(query),
            negated: false,
            ..
        } if same_table_subquery(expr, query, scope) => Truth::True,
        Expr::In {
            target: InTarget::Subquery(query),
            negated: true,
            ..
        } if selects_nothing(query) => Truth::True,
        Expr::RLike {
            negated,
            expr,
            pattern,
            ..
        } => pattern_truth(expr, pattern, *negated, PatternKind::Regex, depth),
        Expr::BinaryOp {
            left,
            op:
                op @ (BinaryOperator::PGRegexMatch
                | BinaryOperator::PGRegexIMatch
                | BinaryOperator::PGRegexNotMatch
                | BinaryOperator::PGRegexNotIMatch),
            right,
        } => {
            let negated = matches!(
                op,
                BinaryOperator::PGRegexNotMatch | BinaryOperator::PGRegexNotIMatch
            );
            pattern_truth(left, right, negated, PatternKind::Regex, depth)
        }
        Expr::SimilarTo {
            negated,
            expr,
            pattern,
            ..
        } => pattern_truth(expr, pattern, *negated, PatternKind::Wildcard, depth),
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } => match strip_nested(right) {
            Expr::Subquery(query) if same_table_subquery(left, query, scope) => Truth::True,
            _ => Truth::Unknown,
        },
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let truth = if same_operand(expr, low) && same_operand(expr, high) {
                Truth::True
            } else {
                match (
                    const_value(expr, depth),
                    const_value(low, depth),
                    const_value(high, depth),
                ) {
                    (Some(value), Some(low), Some(high)) => {
                        let above = order(&low, &value).is_some_and(|o| o != Ordering::Greater);
                        let below = order(&value, &high).is_some_and(|o| o != Ordering::Greater);
                        Truth::from_bool(above && below)
                    }
                    _ => Truth::Unknown,
                }
            };
            if *negated {
                truth.not()
            } else {
                truth
            }
        }
        Expr::Exists {
            subquery,
            negated: false,
        } => match subquery.body.as_ref() {
            SetExpr::Select(select)
                if select.from.is_empty()
                    && select.selection.is_none()
                    && select.having.is_none() =>
            {
                Truth::True
            }
            SetExpr::Values(_) => Truth::True,
            _ => Truth::Unknown,
        },
        Expr::Case {
            conditions,
            else_result,
            ..
        } => {
            // The value is one of the branches' results (a missing ELSE is NULL).
            let mut all = Vec::with_capacity(conditions.len() + 1);
            for when in conditions {
                all.push(truth(&when.result, depth, scope));
            }
            all.push(match else_result {
                Some(result) => truth(result, depth, scope),
                None => Truth::False,
            });
            if all.iter().all(|t| *t == Truth::True) {
                Truth::True
            } else if all.iter().all(|t| *t == Truth::False) {
                Truth::False
            } else if all
                .iter()
                .all(|t| t.may_be_every_row() || *t == Truth::False)
                && all.contains(&Truth::Maybe)
            {
                Truth::Maybe
            } else {
                Truth::Unknown
            }
        }
        other => match const_value(other, depth) {
            Some(value) => Truth::from_bool(value.truthy()),
            None => match bounds(other, depth) {
                // A number that can never be 0 passes in MySQL (`(x > 0) + 1`).
                Some((low, high)) if low > 0.0 || high < 0.0 => Truth::True,
                Some((low, high)) if low == 0.0 && high == 0.0 => Truth::False,
                _ => Truth::Unknown,
            },
        },
    }
}

fn strip_nested(mut expr: &Expr) -> &Expr {
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    expr
}

/// Truth of an AND/OR chain; `negated` reads it as NOT of the chain (De Morgan).
fn chain_truth(
    terms: &[&Expr],
    op: &BinaryOperator,
    negated: bool,
    depth: usize,
    scope: &RowScope<'_>,
) -> Truth {
    let is_or = (*op == BinaryOperator::Or) != negated;
    let mut unknown = false;
    let mut maybe = false;
    for term in terms {
        let mut truth = truth(term, depth, scope);
        if negated {
            truth = truth.not();
        }
        match (truth, is_or) {
            (Truth::True, true) => return Truth::True,
            (Truth::False, false) => return Truth::False,
            (Truth::Unknown, _) => unknown = true,
            (Truth::Maybe, _) => maybe = true,
            _ => {}
        }
    }
    if is_or {
        if maybe {
            Truth::Maybe
        } else if unknown && covers_every_row(terms, negated, depth) {
            Truth::True
        } else if unknown {
            Truth::Unknown
        } else {
            Truth::False
        }
    } else if unknown {
        Truth::Unknown
    } else if maybe {
        Truth::Maybe
    } else {
        Truth::True
    }
}

/// `e IS NULL` for every row.
fn is_null_truth(inner: &Expr, depth: usize, scope: &RowScope<'_>) -> Truth {
    match const_value(inner, depth) {
        Some(Const::Null) => Truth::True,
        Some(_) => Truth::False,
        // The same for every row: all or none.
        None if row_independent(inner, scope) => Truth::Maybe,
        // Only rows without a value: as good as none (so its negation, `IS NOT NULL`,
        // is as good as every row).
        None => Truth::False,
    }
}

/// `a IS DISTINCT FROM b` for every row.
fn distinct_truth(a: &Expr, b: &Expr, depth: usize, scope: &RowScope<'_>) -> Truth {
    if same_operand(a, b) {
        return Truth::False;
    }
    match (const_value(a, depth), const_value(b, depth)) {
        (Some(x), Some(y)) => Truth::from_bool(match (&x, &y) {
            (Const::Null, Const::Null) => false,
            (Const::Null, _) | (_, Const::Null) => true,
            _ => loose_equal(&x, &y) != Some(true),
        }),
        // `x IS DISTINCT FROM NULL` is `x IS NOT NULL`.
        (Some(Const::Null), None) => is_null_truth(b, depth, scope).not(),
        (None, Some(Const::Null)) => is_null_truth(a, depth, scope).not(),
        _ => Truth::Unknown,
    }
}

/// Truth of `left op right` for every row.
fn compare(
    left: &Expr,
    op: &BinaryOperator,
    right: &Expr,
    depth: usize,
    scope: &RowScope<'_>,
) -> Truth {
    use BinaryOperator as B;
    let (left_value, right_value) = (const_value(left, depth), const_value(right, depth));
    match (&left_value, &right_value) {
        (Some(a), Some(b)) => {
            return match compare_consts(a, op, b) {
                Some(value) => Truth::from_bool(value),
                None => Truth::Unknown,
            }
        }
        // `x <=> NULL` is `x IS NULL`; any other comparison with NULL is NULL.
        (Some(Const::Null), None) if *op == B::Spaceship => {
            return is_null_truth(right, depth, scope)
        }
        (None, Some(Const::Null)) if *op == B::Spaceship => {
            return is_null_truth(left, depth, scope)
        }
        (Some(Const::Null), None) | (None, Some(Const::Null)) => return Truth::False,
        _ => {}
    }
    // A column (or any expression) compared with itself: true for every row where
    // it is not NULL; so is a column compared with the same column of another name
    // for the same table (`DELETE FROM t USING t AS u WHERE t.id = u.id`).
    if same_operand(canonical(left), canonical(right))
        || same_column_of_same_table(left, right, scope)
    {
        return Truth::from_bool(matches!(op, B::Eq | B::LtEq | B::GtEq | B::Spaceship));
    }
    // A condition compared with a truth value: `(x = x) = true`, `(...) <> 0`.
    if matches!(op, B::Eq | B::NotEq | B::Spaceship) {
        let truth_value = |value: &Option<Const>| match value {
            Some(Const::Bool(b)) => Some(*b),
            Some(Const::Num(n)) if *n == 1.0 => Some(true),
            Some(Const::Num(n)) if *n == 0.0 => Some(false),
            _ => None,
        };
        let (condition, wanted) = match (truth_value(&left_value), truth_value(&right_value)) {
            (None, Some(wanted)) => (left, wanted),
            (Some(wanted), None) => (right, wanted),
            _ => return compare_ranges(left, op, right, depth),
        };
        if is_boolean_shaped(condition) {
            let truth = truth(condition, depth, scope);
            let equal = if wanted { truth } else { truth.not() };
            return if *op == B::NotEq { equal.not() } else { equal };
        }
    }
    compare_ranges(left, op, right, depth)
}

/// `expr` without what does not change its value: parentheses, casts, collations,
/// unary plus, `+ 0`, `- 0`, `* 1`, `/ 1` (`id + 0 = id` compares `id` with itself).
fn canonical(mut expr: &Expr) -> &Expr {
    use BinaryOperator as B;
    let is = |expr: &Expr, n: f64| matches!(const_value(expr, 0), Some(Const::Num(v)) if v == n);
    loop {
        expr = match expr {
            Expr::Nested(inner)
            | Expr::Cast { expr: inner, .. }
            | Expr::Collate { expr: inner, .. }
            | Expr::UnaryOp {
                op: UnaryOperator::Plus,
                expr: inner,
            } => inner,
            Expr::BinaryOp {
                left,
                op: B::Plus | B::Minus,
                right,
            } if is(right, 0.0) => left,
            Expr::BinaryOp {
                left,
                op: B::Plus,
                right,
            } if is(left, 0.0) => right,
            Expr::BinaryOp {
                left,
                op: B::Multiply | B::Divide,
                right,
            } if is(right, 1.0) => left,
            Expr::BinaryOp {
                left,
                op: B::Multiply,
                right,
            } if is(left, 1.0) => right,
            _ => return expr,
        };
    }
}

/// How a pattern is read.
#[derive(Clone, Copy)]
enum PatternKind {
    /// `LIKE`/`ILIKE`/`SIMILAR TO` wildcards (`%`, `_`).
    Wildcard,
    /// A regular expression, searched for anywhere in the value.
    Regex,
}

/// `expr [NOT] REGEXP/~/SIMILAR TO pattern` for every row.
fn pattern_truth(
    expr: &Expr,
    pattern: &Expr,
    negated: bool,
    kind: PatternKind,
    depth: usize,
) -> Truth {
    let matches = |value: &str, pattern: &str| match kind {
        PatternKind::Wildcard => like(value, pattern),
        PatternKind::Regex => compile_regex(pattern).is_some_and(|regex| regex.is_match(value)),
    };
    let truth = match (const_value(expr, depth), const_value(pattern, depth)) {
        (Some(Const::Null), _) | (_, Some(Const::Null)) => return Truth::False,
        (Some(value), Some(pattern)) => match (value.as_text(), pattern.as_text()) {
            (Some(value), Some(pattern)) => Truth::from_bool(matches(&value, &pattern)),
            _ => Truth::Unknown,
        },
        (None, Some(pattern)) => match pattern.as_text() {
            Some(pattern) if matches_every_value(&pattern, kind) => Truth::True,
            _ => Truth::Unknown,
        },
        _ => Truth::Unknown,
    };
    if negated {
        truth.not()
    } else {
        truth
    }
}

/// Whether a pattern matches any value: an unanchored regular expression that
/// matches the empty string matches at the start of every value (checked on a few
/// probes, which also catches anchored forms such as `^.*$`); wildcards of only `%`.
fn matches_every_value(pattern: &str, kind: PatternKind) -> bool {
    const PROBES: [&str; 7] = ["", "a", "Z", "0", " ", "abc xyz 123", "\u{e9}\u{1F600}"];
    match kind {
        PatternKind::Wildcard => !pattern.is_empty() && pattern.chars().all(|c| c == '%'),
        PatternKind::Regex => compile_regex(pattern)
            .is_some_and(|regex| PROBES.iter().all(|probe| regex.is_match(probe))),
    }
}

/// A short regular expression, compiled; `None` for long ones (compiling is not
/// free, and a pattern that matches everything is short) or ones Rust's syntax
/// does not take.
fn compile_regex(pattern: &str) -> Option<regex_automata::meta::Regex> {
    const MAX_PATTERN: usize = 256;
    if pattern.len() > MAX_PATTERN {
        return None;
    }
    regex_automata::meta::Regex::new(pattern).ok()
}

/// Whether `expr` is a condition (its value is a truth value).
fn is_boolean_shaped(expr: &Expr) -> bool {
    match strip_nested(expr) {
        Expr::BinaryOp { op, .. } => {
            is_comparison(op) || matches!(op, BinaryOperator::And | BinaryOperator::Or)
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not | UnaryOperator::BangNot,
            ..
        }
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsNotTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotFalse(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::Like { .. }
        | Expr::ILike { .. }
        | Expr::In { .. }
        | Expr::Between { .. }
        | Expr::Exists { .. } => true,
        _ => false,
    }
}

/// `t.c` and `u.c` where `t` and `u` name the same table of the statement.
fn same_column_of_same_table(left: &Expr, right: &Expr, scope: &RowScope<'_>) -> bool {
    let qualified = |expr: &Expr| match strip_nested(expr) {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let column = parts.last()?.value.to_lowercase();
            let qualifier = parts.get(parts.len() - 2)?.value.to_lowercase();
            Some((scope.aliases.get(&qualifier)?.clone(), column))
        }
        _ => None,
    };
    match (qualified(left), qualified(right)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Ranges that settle a comparison whatever the row (`abs(x) >= 0`).
fn compare_ranges(left: &Expr, op: &BinaryOperator, right: &Expr, depth: usize) -> Truth {
    use BinaryOperator as B;
    if let (Some((a_low, a_high)), Some((b_low, b_high))) =
        (bounds(left, depth), bounds(right, depth))
    {
        let decided = match op {
            B::Gt if a_low > b_high => Some(true),
            B::Gt if a_high <= b_low => Some(false),
            B::GtEq if a_low >= b_high => Some(true),
            B::GtEq if a_high < b_low => Some(false),
            B::Lt if a_high < b_low => Some(true),
            B::Lt if a_low >= b_high => Some(false),
            B::LtEq if a_high <= b_low => Some(true),
            B::LtEq if a_low > b_high => Some(false),
            B::Eq | B::Spaceship if a_low == a_high && b_low == b_high && a_low == b_low => {
                Some(true)
            }
            B::Eq | B::Spaceship if a_high < b_low || b_high < a_low => Some(false),
            B::NotEq if a_high < b_low || b_high < a_low => Some(true),
            _ => None,
        };
        if let Some(decided) = decided {
            return Truth::from_bool(decided);
        }
    }
    Truth::Unknown
}

/// `expr [NOT] IN (list)` for every row.
fn in_list_truth(expr: &Expr, list: &[Expr], negated: bool, depth: usize) -> Truth {
    let value = const_value(expr, depth);
    if matches!(value, Some(Const::Null)) {
        return Truth::False;
    }
    let mut any_equal = false;
    let mut all_known_unequal = true;
    let mut null_item = false;
    for item in list {
        if same_operand(item, expr) {
            any_equal = true;
            continue;
        }
        match (&value, const_value(item, depth)) {
            (_, Some(Const::Null)) => null_item = true,
            (Some(value), Some(item)) => match loose_equal(value, &item) {
                Some(true) => any_equal = true,
                Some(false) => {}
                None => all_known_unequal = false,
            },
            _ => all_known_unequal = false,
        }
    }
    match (negated, any_equal) {
        (false, true) => Truth::True,
        (true, true) => Truth::False,
        // NOT IN with a NULL in the list is never true.
        (true, false) if null_item => Truth::False,
        (true, false) if all_known_unequal && value.is_some() => Truth::True,
        (false, false) if all_known_unequal && value.is_some() => Truth::False,
        _ => Truth::Unknown,
    }
}

/// `x IN (SELECT x FROM t)` where `t` is the table being changed and nothing
/// narrows the subquery: every row whose `x` has a value.
fn same_table_subquery(expr: &Expr, query: &Query, scope: &RowScope<'_>) -> bool {
    if query.with.is_some() || query.limit_clause.is_some() || query.fetch.is_some() {
        return false;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let [from] = select.from.as_slice() else {
        return false;
    };
    if !from.joins.is_empty() || select.having.is_some() {
        return false;
    }
    let TableFactor::Table {
        name, args: None, ..
    } = &from.relation
    else {
        return false;
    };
    if !scope.tables.contains(&object_name(name)) && !scope.tables.contains(&base_name(name)) {
        return false;
    }
    let unfiltered = match &select.selection {
        None => true,
        Some(selection) => const_value(selection, 0).is_some_and(|value| value.truthy()),
    };
    let projected = match select.projection.as_slice() {
        [SelectItem::UnnamedExpr(item)] | [SelectItem::ExprWithAlias { expr: item, .. }] => {
            Some(item)
        }
        _ => None,
    };
    unfiltered
        && projected.is_some_and(|item| match (column_name(item), column_name(expr)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        })
}

/// A subquery that returns no row whatever the data (`WHERE false`, `LIMIT 0`).
fn selects_nothing(query: &Query) -> bool {
    let limit_zero = match &query.limit_clause {
        Some(sqlparser::ast::LimitClause::LimitOffset {
            limit: Some(limit), ..
        }) => const_value(limit, 0).and_then(|v| v.as_num()) == Some(0.0),
        _ => false,
    };
    let where_false = match query.body.as_ref() {
        SetExpr::Select(select) => select
            .selection
            .as_ref()
            .and_then(|selection| const_value(selection, 0))
            .is_some_and(|value| !value.truthy()),
        _ => false,
    };
    limit_zero || where_false
}

/// The column a plain column reference names (last part, lowercase).
fn column_name(expr: &Expr) -> Option<String> {
    match strip_nested(expr) {
        Expr::Identifier(ident) => Some(ident.value.to_lowercase()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.to_lowercase()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// A condition OR its negation; numbers covered by comparisons.
// ---------------------------------------------------------------------------

/// Whether the OR of `terms` (each negated when `negated`) holds for every row with
/// values, by excluded middle (`p OR NOT p`) or by numeric comparisons on the same
/// expression that together cover every number.
fn covers_every_row(terms: &[&Expr], negated: bool, depth: usize) -> bool {
    /// Chains longer than this are not searched (each term is printed).
    const MAX_TERMS: usize = 256;
    if terms.len() > MAX_TERMS {
        return false;
    }
    let mut literals: HashSet<(String, bool)> = HashSet::new();
    let mut ranges: HashMap<String, Vec<NumberTest>> = HashMap::new();
    for term in terms {
        let Some((key, polarity)) = literal(term, negated) else {
            continue;
        };
        if literals.contains(&(key.clone(), !polarity)) {
            return true;
        }
        literals.insert((key, polarity));
        if let Some((subject, test)) = number_test(term, negated, depth) {
            ranges.entry(subject).or_default().push(test);
        }
    }
    ranges.values().any(|tests| covers_every_number(tests))
}

/// A condition term in a canonical printed form and its polarity: `x <> 5` is
/// (`x = 5`, false), `NOT x > 5` and `5 >= x` are (`x > 5`, false).
fn literal(term: &Expr, negated: bool) -> Option<(String, bool)> {
    use BinaryOperator as B;
    let term = strip_nested(term);
    match term {
        Expr::UnaryOp {
            op: UnaryOperator::Not | UnaryOperator::BangNot,
            expr,
        } => literal(expr, !negated),
        Expr::BinaryOp { left, op, right } if is_comparison(op) => {
            if !shallow(left, 0) || !shallow(right, 0) {
                return None;
            }
            let (left, right) = (strip_nested(left), strip_nested(right));
            // Every ordering becomes `a > b` or its negation.
            let (a, b, flip, relation) = match op {
                B::Gt => (left, right, false, ">"),
                B::Lt => (right, left, false, ">"),
                B::LtEq => (left, right, true, ">"),
                B::GtEq => (right, left, true, ">"),
                B::Eq | B::NotEq => {
                    let (a, b) = (left.to_string(), right.to_string());
                    let (a, b) = if a <= b { (a, b) } else { (b, a) };
                    return Some((format!("{a} = {b}"), negated != (*op == B::NotEq)));
                }
                _ => return None,
            };
            Some((format!("{a} {relation} {b}"), negated != flip))
        }
        Expr::IsNull(inner) | Expr::IsNotNull(inner) if shallow(inner, 0) => Some((
            format!("{} IS NULL", strip_nested(inner)),
            negated != matches!(term, Expr::IsNotNull(_)),
        )),
        Expr::IsTrue(inner) | Expr::IsNotTrue(inner) if shallow(inner, 0) => Some((
            format!("{} IS TRUE", strip_nested(inner)),
            negated != matches!(term, Expr::IsNotTrue(_)),
        )),
        Expr::IsFalse(inner) | Expr::IsNotFalse(inner) if shallow(inner, 0) => Some((
            format!("{} IS FALSE", strip_nested(inner)),
            negated != matches!(term, Expr::IsNotFalse(_)),
        )),
        Expr::Like { negated: not, .. }
        | Expr::ILike { negated: not, .. }
        | Expr::In { negated: not, .. }
        | Expr::Between { negated: not, .. }
            if shallow(term, 0) =>
        {
            // Printed without its NOT: flip the copy's flag.
            let mut positive = term.clone();
            match &mut positive {
                Expr::Like { negated, .. }
                | Expr::ILike { negated, .. }
                | Expr::In { negated, .. }
                | Expr::Between { negated, .. } => *negated = false,
                _ => {}
            }
            Some((positive.to_string(), negated != *not))
        }
        other if shallow(other, 0) => Some((other.to_string(), negated)),
        _ => None,
    }
}

/// A test of one expression against numbers.
#[derive(Debug, Clone)]
enum NumberTest {
    Above(f64, bool),
    Below(f64, bool),
    Equal(f64),
    In(Vec<f64>),
    Between(f64, f64),
    Not(Box<NumberTest>),
}

impl NumberTest {
    fn holds(&self, x: f64) -> bool {
        match self {
            NumberTest::Above(a, inclusive) => x > *a || (*inclusive && x == *a),
            NumberTest::Below(b, inclusive) => x < *b || (*inclusive && x == *b),
            NumberTest::Equal(a) => x == *a,
            NumberTest::In(values) => values.contains(&x),
            NumberTest::Between(low, high) => *low <= x && x <= *high,
            NumberTest::Not(test) => !test.holds(x),
        }
    }

    fn constants(&self, out: &mut Vec<f64>) {
        match self {
            NumberTest::Above(a, _) | NumberTest::Below(a, _) | NumberTest::Equal(a) => {
                out.push(*a)
            }
            NumberTest::In(values) => out.extend(values),
            NumberTest::Between(low, high) => out.extend([*low, *high]),
            NumberTest::Not(test) => test.constants(out),
        }
    }
}

/// A term that compares one non-constant expression with numbers: the expression
/// (printed) and the test.
fn number_test(term: &Expr, negated: bool, depth: usize) -> Option<(String, NumberTest)> {
    use BinaryOperator as B;
    let number = |expr: &Expr| match const_value(expr, depth) {
        Some(Const::Num(n)) if n.is_finite() => Some(n),
        _ => None,
    };
    let subject = |expr: &Expr| {
        let expr = strip_nested(expr);
        (shallow(expr, 0) && const_value(expr, depth).is_none()).then(|| expr.to_string())
    };
    let (subject, test) = match strip_nested(term) {
        Expr::UnaryOp {
            op: UnaryOperator::Not | UnaryOperator::BangNot,
            expr,
        } => return number_test(expr, !negated, depth),
        Expr::BinaryOp { left, op, right } if is_comparison(op) => {
            let (subject, n, op) = match (number(left), number(right)) {
                (None, Some(n)) => (subject(left)?, n, op.clone()),
                (Some(n), None) => {
                    let mirrored = match op {
                        B::Gt => B::Lt,
                        B::Lt => B::Gt,
                        B::GtEq => B::LtEq,
                        B::LtEq => B::GtEq,
                        other => other.clone(),
                    };
                    (subject(right)?, n, mirrored)
                }
                _ => return None,
            };
            let test = match op {
                B::Gt => NumberTest::Above(n, false),
                B::GtEq => NumberTest::Above(n, true),
                B::Lt => NumberTest::Below(n, false),
                B::LtEq => NumberTest::Below(n, true),
                B::Eq | B::Spaceship => NumberTest::Equal(n),
                B::NotEq => NumberTest::Not(Box::new(NumberTest::Equal(n))),
                _ => return None,
            };
            (subject, test)
        }
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated: not,
            ..
        } => {
            let values = list.iter().map(number).collect::<Option<Vec<f64>>>()?;
            let test = NumberTest::In(values);
            (
                subject(expr)?,
                if *not {
                    NumberTest::Not(Box::new(test))
                } else {
                    test
                },
            )
        }
        Expr::Between {
            expr,
            negated: not,
            low,
            high,
        } => {
            let test = NumberTest::Between(number(low)?, number(high)?);
            (
                subject(expr)?,
                if *not {
                    NumberTest::Not(Box::new(test))
                } else {
                    test
                },
            )
        }
        _ => return None,
    };
    Some((
        subject,
        if negated {
            NumberTest::Not(Box::new(test))
        } else {
            test
        },
    ))
}

/// The largest magnitude a 64-bit integer column holds (about 9.2e18).
const DOMAIN: f64 = 9.223_372_036_854_775e18;

/// Whether every number passes one of `tests`. The answer can only change at the
/// tests' constants, so those, the midpoints between them and a point beyond each
/// end are probed.
fn covers_every_number(tests: &[NumberTest]) -> bool {
    let mut points = Vec::new();
    for test in tests {
        test.constants(&mut points);
    }
    points.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    points.dedup();
    let (Some(&first), Some(&last)) = (points.first(), points.last()) else {
        return false;
    };
    let mut probes = vec![first - 1.0, last + 1.0, -DOMAIN, DOMAIN];
    for pair in points.windows(2) {
        if let [a, b] = pair {
            probes.push(a + (b - a) / 2.0);
        }
    }
    probes.extend(points.iter().copied());
    // Numbers beyond a 64-bit integer's range cannot be in an integer column, so
    // `id BETWEEN -1e19 AND 1e19` covers every id.
    probes
        .iter()
        .filter(|x| x.abs() <= DOMAIN)
        .all(|&x| tests.iter().any(|test| test.holds(x)))
}

// ---------------------------------------------------------------------------
// Constants and ranges.
// ---------------------------------------------------------------------------

/// `a op b` for constants; `None` when undecidable.
fn compare_consts(a: &Const, op: &BinaryOperator, b: &Const) -> Option<bool> {
    use BinaryOperator as B;
    if *a == Const::Null || *b == Const::Null {
        // NULL <=> NULL is true (MySQL); any other comparison with NULL is NULL.
        return Some(matches!(op, B::Spaceship) && a == b);
    }
    match op {
        B::Eq | B::Spaceship => loose_equal(a, b),
        B::NotEq => loose_equal(a, b).map(|equal| !equal || a != b),
        B::Lt => order(a, b).map(|o| o == Ordering::Less),
        B::LtEq => order(a, b).map(|o| o != Ordering::Greater),
        B::Gt => order(a, b).map(|o| o == Ordering::Greater),
        B::GtEq => order(a, b).map(|o| o != Ordering::Less),
        _ => None,
    }
}

/// Equality in the most permissive dialect: MySQL's case-insensitive,
/// trailing-space-insensitive string comparison and string-to-number casts.
fn loose_equal(a: &Const, b: &Const) -> Option<bool> {
    match (a, b) {
        (Const::Null, _) | (_, Const::Null) => Some(false),
        (Const::Str(a), Const::Str(b)) => Some(
            a == b
                || a.trim_end_matches(' ').to_lowercase() == b.trim_end_matches(' ').to_lowercase(),
        ),
        (Const::Str(text), Const::Bool(value)) | (Const::Bool(value), Const::Str(text)) => {
            Some(pg_bool(text) == Some(*value) || (numeric_prefix(text) != 0.0) == *value)
        }
        _ => Some(a.as_num()? == b.as_num()?),
    }
}

fn order(a: &Const, b: &Const) -> Option<Ordering> {
    match (a, b) {
        (Const::Str(a), Const::Str(b)) => Some(a.cmp(b)),
        _ => a.as_num()?.partial_cmp(&b.as_num()?),
    }
}

/// SQL `LIKE` with `%` and `_` (no escapes), case-insensitively (MySQL's default
/// collations; the permissive reading).
fn like(value: &str, pattern: &str) -> bool {
    let value: Vec<char> = value.to_lowercase().chars().collect();
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    // Iterative wildcard matching with backtracking to the last `%`.
    let (mut v, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        match pattern.get(p) {
            Some('%') => {
                star = Some((p, v));
                p += 1;
            }
            Some('_') => {
                v += 1;
                p += 1;
            }
            Some(c) if *c == value[v] => {
                v += 1;
                p += 1;
            }
            _ => match star {
                Some((star_p, star_v)) => {
                    p = star_p + 1;
                    v = star_v + 1;
                    star = Some((star_p, star_v + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

/// Folds an expression to a constant, if it is one.
pub(super) fn const_value(expr: &Expr, depth: usize) -> Option<Const> {
    if depth > MAX_CONST_DEPTH {
        return None;
    }
    let depth = depth + 1;
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(number, _) => number.parse().ok().map(Const::Num),
            Value::Boolean(value) => Some(Const::Bool(*value)),
            Value::Null => Some(Const::Null),
            Value::HexStringLiteral(hex) => Some(Const::Num(
                u64::from_str_radix(hex, 16)
                    .map(|n| n as f64)
                    .unwrap_or(1.0),
            )),
            other => value_string(other).map(|text| Const::Str(text.to_owned())),
        },
        Expr::TypedString(typed) => {
            value_string(&typed.value.value).map(|text| Const::Str(text.to_owned()))
        }
        Expr::Nested(inner)
        | Expr::Cast { expr: inner, .. }
        | Expr::Collate { expr: inner, .. } => const_value(inner, depth),
        Expr::IsTrue(inner) | Expr::IsNotFalse(inner) => {
            Some(Const::Bool(const_value(inner, depth)?.truthy()))
        }
        Expr::IsFalse(inner) | Expr::IsNotTrue(inner) => {
            Some(Const::Bool(!const_value(inner, depth)?.truthy()))
        }
        Expr::IsNull(inner) => Some(Const::Bool(const_value(inner, depth)? == Const::Null)),
        Expr::IsNotNull(inner) => Some(Const::Bool(const_value(inner, depth)? != Const::Null)),
        Expr::UnaryOp { op, expr } => {
            let value = const_value(expr, depth)?;
            match op {
                UnaryOperator::Minus => Some(Const::Num(-value.as_num()?)),
                UnaryOperator::Plus => Some(Const::Num(value.as_num()?)),
                UnaryOperator::Not | UnaryOperator::BangNot => match value {
                    Const::Null => Some(Const::Null),
                    other => Some(Const::Bool(!other.truthy())),
                },
                _ => None,
            }
        }
        Expr::BinaryOp { left, op, right } => {
            use BinaryOperator as B;
            let a = const_value(left, depth)?;
            let b = const_value(right, depth)?;
            match op {
                B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo => {
                    let (x, y) = (a.as_num()?, b.as_num()?);
                    let result = match op {
                        B::Plus => x + y,
                        B::Minus => x - y,
                        B::Multiply => x * y,
                        B::Divide if y != 0.0 => x / y,
                        B::Modulo if y != 0.0 => x % y,
                        _ => return None,
                    };
                    Some(Const::Num(result))
                }
                B::StringConcat => match (a, b) {
                    (Const::Null, _) | (_, Const::Null) => Some(Const::Null),
                    (a, b) => Some(Const::Str(a.as_text()? + &b.as_text()?)),
                },
                B::Or => Some(Const::Bool(a.truthy() || b.truthy())),
                B::And => Some(Const::Bool(a.truthy() && b.truthy())),
                op if is_comparison(op) => compare_consts(&a, op, &b).map(Const::Bool),
                _ => None,
            }
        }
        Expr::Like {
            negated,
            expr,
            pattern,
            ..
        }
        | Expr::ILike {
            negated,
            expr,
            pattern,
            ..
        } => {
            let value = const_value(expr, depth)?.as_text()?;
            let pattern = const_value(pattern, depth)?.as_text()?;
            Some(Const::Bool(like(&value, &pattern) != *negated))
        }
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated,
            ..
        } => {
            let value = const_value(expr, depth)?;
            if value == Const::Null {
                return Some(Const::Null);
            }
            let mut found = false;
            for item in list {
                if loose_equal(&value, &const_value(item, depth)?)? {
                    found = true;
                }
            }
            Some(Const::Bool(found != *negated))
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let operand = match operand {
                Some(operand) => Some(const_value(operand, depth)?),
                None => None,
            };
            for when in conditions {
                let condition = const_value(&when.condition, depth)?;
                let taken = match &operand {
                    Some(operand) => loose_equal(operand, &condition)?,
                    None => condition.truthy(),
                };
                if taken {
                    return const_value(&when.result, depth);
                }
            }
            match else_result {
                Some(result) => const_value(result, depth),
                None => Some(Const::Null),
            }
        }
        Expr::Function(function) => fold_function(function, depth),
        _ => None,
    }
}

/// Folds calls of common pure functions on constants.
fn fold_function(function: &sqlparser::ast::Function, depth: usize) -> Option<Const> {
    if function.filter.is_some() || function.over.is_some() {
        return None;
    }
    let args: Vec<&Expr> = match &function.args {
        FunctionArguments::List(list) if list.clauses.is_empty() => list
            .args
            .iter()
            .map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    let name = base_name(&function.name);
    match (name.as_str(), args.as_slice()) {
        ("coalesce" | "ifnull" | "nvl" | "isnull", args) if !args.is_empty() => {
            for arg in args {
                let value = const_value(arg, depth)?;
                if value != Const::Null {
                    return Some(value);
                }
            }
            Some(Const::Null)
        }
        ("nullif", [a, b]) => {
            let (a, b) = (const_value(a, depth)?, const_value(b, depth)?);
            if loose_equal(&a, &b)? {
                Some(Const::Null)
            } else {
                Some(a)
            }
        }
        ("if" | "iif", [condition, then, otherwise]) => {
            if const_value(condition, depth)?.truthy() {
                const_value(then, depth)
            } else {
                const_value(otherwise, depth)
            }
        }
        ("concat", args) => {
            let mut text = String::new();
            for arg in args {
                match const_value(arg, depth)? {
                    // MySQL's CONCAT is NULL, PostgreSQL's skips it: undecidable.
                    Const::Null => return None,
                    value => text.push_str(&value.as_text()?),
                }
            }
            Some(Const::Str(text))
        }
        ("lower" | "lcase", [a]) => {
            Some(Const::Str(const_value(a, depth)?.as_text()?.to_lowercase()))
        }
        ("upper" | "ucase", [a]) => {
            Some(Const::Str(const_value(a, depth)?.as_text()?.to_uppercase()))
        }
        ("abs", [a]) => Some(Const::Num(const_value(a, depth)?.as_num()?.abs())),
        ("greatest" | "least", args) if !args.is_empty() => {
            let mut best: Option<f64> = None;
            for arg in args {
                let value = const_value(arg, depth)?.as_num()?;
                best = Some(match best {
                    None => value,
                    Some(best) if name == "greatest" => best.max(value),
                    Some(best) => best.min(value),
                });
            }
            best.map(Const::Num)
        }
        _ => None,
    }
}

/// The range a numeric expression's value lies in for every row with values
/// (`abs(x)` ≥ 0, `x - x` = 0, a comparison in MySQL arithmetic is 0 or 1).
fn bounds(expr: &Expr, depth: usize) -> Option<(f64, f64)> {
    use BinaryOperator as B;
    if depth > MAX_CONST_DEPTH {
        return None;
    }
    let depth = depth + 1;
    if let Some(value) = const_value(expr, depth) {
        let n = value.as_num()?;
        return Some((n, n));
    }
    match expr {
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => bounds(inner, depth),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => bounds(expr, depth).map(|(low, high)| (-high, -low)),
        Expr::BinaryOp { op, .. } if is_comparison(op) => Some((0.0, 1.0)),
        Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsNotTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotFalse(_)
        | Expr::Like { .. }
        | Expr::ILike { .. }
        | Expr::Between { .. }
        | Expr::In { .. }
        | Expr::Exists { .. } => Some((0.0, 1.0)),
        Expr::BinaryOp { left, op, right } => {
            if matches!(op, B::Minus) && same_operand(left, right) {
                return Some((0.0, 0.0));
            }
            if matches!(op, B::Multiply) && same_operand(left, right) {
                return Some((0.0, f64::INFINITY));
            }
            let a = bounds(left, depth);
            let b = bounds(right, depth);
            if matches!(op, B::Multiply) && (a == Some((0.0, 0.0)) || b == Some((0.0, 0.0))) {
                return Some((0.0, 0.0));
            }
            let ((a_low, a_high), (b_low, b_high)) = (a?, b?);
            match op {
                B::Plus => Some((a_low + b_low, a_high + b_high)),
                B::Minus => Some((a_low - b_high, a_high - b_low)),
                B::Multiply if a_low >= 0.0 && b_low >= 0.0 => {
                    Some((a_low * b_low, a_high * b_high))
                }
                _ => None,
            }
            .filter(|(low, high)| !low.is_nan() && !high.is_nan())
        }
        Expr::Function(function) => {
            let name = base_name(&function.name);
            let non_negative = matches!(
                name.as_str(),
                "abs"
                    | "length"
                    | "len"
                    | "char_length"
                    | "character_length"
                    | "octet_length"
                    | "bit_length"
                    | "cardinality"
                    | "array_length"
                    | "count"
            );
            non_negative.then_some((0.0, f64::INFINITY))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_sql_wildcards() {
        for (value, pattern, expected) in [
            ("abc", "%", true),
            ("abc", "a%", true),
            ("abc", "%c", true),
            ("abc", "a_c", true),
            ("abc", "A%", true),
            ("abc", "b%", false),
            ("", "%", true),
            ("", "_", false),
            ("aXbXc", "%b%", true),
            ("abc", "%%%", true),
        ] {
            assert_eq!(like(value, pattern), expected, "{value:?} LIKE {pattern:?}");
        }
    }

    #[test]
    fn number_probes_find_gaps() {
        use NumberTest::*;
        assert!(covers_every_number(&[
            Above(5.0, false),
            Below(10.0, false)
        ]));
        assert!(covers_every_number(&[Above(0.0, true), Below(0.0, false)]));
        assert!(!covers_every_number(&[
            Above(0.0, false),
            Below(0.0, false)
        ]));
        assert!(covers_every_number(&[
            Not(Box::new(Equal(1.0))),
            Not(Box::new(Equal(2.0)))
        ]));
        assert!(!covers_every_number(&[
            Above(5.0, false),
            Below(1.0, false)
        ]));
        assert!(covers_every_number(&[
            Between(0.0, 10.0),
            Above(5.0, false),
            Below(0.0, true)
        ]));
    }
}
