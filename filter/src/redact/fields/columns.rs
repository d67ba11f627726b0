//! Which cells of a SQL result are in a flagged column.
//!
//! SQL-over-HTTP APIs answer in one of two shapes. Arrays of objects name the column
//! in every row (a key rule's job). Column-and-rows results name the columns once, in
//! a **column table**, and send rows as arrays of cells:
//!
//! | API | column table | rows |
//! |---|---|---|
//! | generic, Datasette, Cloudflare D1 (raw) | `columns: ["id", "salary"]` | `rows: [[...]]` |
//! | Trino / Presto, Elasticsearch SQL | `columns: [{name, type}]` | `data` / `rows: [[...]]` |
//! | Databricks SQL Statement API | `manifest.schema.columns: [{name, position, type_name}]` | `result.data_array: [[...]]` |
//! | Snowflake SQL API | `resultSetMetaData.rowType: [{name, type}]` | `data: [[...]]` |
//! | ClickHouse `JSONCompact` / `JSONCompactStrings` | `meta: [{name, type}]` | `data: [[...]]` |
//! | ClickHouse `JSONCompactEachRowWithNames` (NDJSON) | first line `["id", "salary"]` | one row per line |
//! | BigQuery `jobs.query` | `schema.fields: [{name, type}]` | `rows: [{"f": [{"v": ...}]}]` |
//! | Turso / libSQL (Hrana over HTTP) | `cols: [{name, decltype}]` | `rows: [[{"type", "value"}]]` |
//! | Neon serverless (`arrayMode`) | `fields: [{name, dataTypeID}]` | `rows: [[...]]` |
//!
//! A column table is an array under a key such as `columns`, `cols`, `fields`, `meta`,
//! `rowType` or `schema` whose elements are all names or all objects with a `name`
//! (`column_name`, `label`...). A row container is an array whose elements are all
//! arrays (or all BigQuery `{"f": [...]}` rows). Each row container takes the column
//! table nearest to it in the document (the longest shared path). Rows whose columns
//! cannot be known — no column table in the document, as in a Databricks result chunk
//! or a Snowflake partition fetched on its own, or cells past the last named column —
//! have every cell masked: Warden cannot tell which one is the flagged column.

use std::collections::HashMap;
use std::sync::Arc;

use super::json::{self, Node, Value};
use super::{fold_name, FieldRule, FieldSet, StreamColumns};

/// Keys (folded) under which a column table is found.
const TABLE_KEYS: [&str; 15] = [
    "columns",
    "cols",
    "fields",
    "meta",
    "metadata",
    "rowtype",
    "schema",
    "names",
    "header",
    "headers",
    "columnnames",
    "colnames",
    "fieldnames",
    "columninfo",
    "columnmetadata",
];

/// Keys (folded) that name the column in a column descriptor object.
const NAME_KEYS: [&str; 7] = [
    "name",
    "columnname",
    "colname",
    "fieldname",
    "label",
    "field",
    "column",
];

/// What masks the cells of one row container.
#[derive(Clone, Debug)]
pub(crate) enum RowMask {
    /// The rule masking each position (`None`: not flagged); positions past the end are
    /// masked by `beyond`.
    Positions {
        rules: Vec<Option<Arc<FieldRule>>>,
        beyond: Arc<FieldRule>,
    },
    /// The columns are unknown: every cell.
    All(Arc<FieldRule>),
}

impl RowMask {
    pub(crate) fn rule_for(&self, index: usize) -> Option<Arc<FieldRule>> {
        match self {
            RowMask::Positions { rules, beyond } => match rules.get(index) {
                Some(rule) => rule.clone(),
                None => Some(Arc::clone(beyond)),
            },
            RowMask::All(rule) => Some(Arc::clone(rule)),
        }
    }
}

/// The row containers of a document, and the document itself when it is one row (an
/// NDJSON line of cells).
pub(crate) struct Resolved {
    pub(crate) containers: HashMap<usize, RowMask>,
    pub(crate) root_row: Option<RowMask>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

struct Table<'a> {
    /// Path of the object holding the table.
    at: Vec<Step<'a>>,
    names: Vec<String>,
}

struct Container<'a> {
    at: Vec<Step<'a>>,
    start: usize,
}

/// Finds the column tables and row containers of `root` (read from `doc`) and pairs
/// them.
pub(crate) fn resolve(
    set: &FieldSet,
    doc: &[u8],
    root: &Node,
    stream: &mut StreamColumns,
) -> Resolved {
    let Some(fallback) = set.first_column_rule().cloned() else {
        return Resolved {
            containers: HashMap::new(),
            root_row: None,
        };
    };
    let mut found = Found {
        doc,
        tables: Vec::new(),
        containers: Vec::new(),
    };
    let mut path = Vec::new();
    found.collect(root, &mut path);

    let stream_rows = |stream: &StreamColumns| match &stream.header {
        Some(header) => RowMask::Positions {
            rules: header.clone(),
            beyond: Arc::clone(&fallback),
        },
        None => RowMask::All(Arc::clone(&fallback)),
    };
    let mut containers = HashMap::new();
    for container in &found.containers {
        let nearest = found
            .tables
            .iter()
            .map(|t| (shared(&t.at, &container.at), t))
            // The longest shared path; among equals, the first.
            .fold(None::<(usize, &Table<'_>)>, |best, (len, t)| match best {
                Some((best_len, _)) if best_len >= len => best,
                _ => Some((len, t)),
            });
        let mask = match nearest {
            Some((_, table)) => RowMask::Positions {
                rules: table
                    .names
                    .iter()
                    .map(|n| set.column_rule(n).cloned())
                    .collect(),
                beyond: Arc::clone(&fallback),
            },
            None => stream_rows(stream),
        };
        containers.insert(container.start, mask);
    }

    // A document that is one row of scalars (an NDJSON line of cells): the header row
    // of the stream names its columns; the header itself is not masked.
    let root_row = match &root.value {
        Value::Array(cells)
            if !cells.is_empty()
                && cells
                    .iter()
                    .all(|c| !matches!(c.value, Value::Array(_) | Value::Object(_))) =>
        {
            if take_header(set, doc, cells, stream) {
                None
            } else {
                Some(stream_rows(stream))
            }
        }
        _ => None,
    };
    Resolved {
        containers,
        root_row,
    }
}

/// Takes a first row of names naming a flagged column as the header row of the
/// documents after it (`JSONCompactEachRowWithNames`); true when it did. Any other
/// row stays a row: a header that names no flagged column cannot be told from data,
/// and is masked like data.
fn take_header(set: &FieldSet, doc: &[u8], cells: &[Node], stream: &mut StreamColumns) -> bool {
    if stream.header.is_some() {
        return false;
    }
    let names: Option<Vec<String>> = cells
        .iter()
        .map(|c| match c.value {
            Value::String => json::decode_string(&doc[c.start..c.end]),
            _ => None,
        })
        .collect();
    let Some(names) = names else {
        return false;
    };
    let rules: Vec<Option<Arc<FieldRule>>> =
        names.iter().map(|n| set.column_rule(n).cloned()).collect();
    if rules.iter().all(Option::is_none) {
        return false;
    }
    stream.header = Some(rules);
    true
}

struct Found<'a> {
    doc: &'a [u8],
    tables: Vec<Table<'a>>,
    containers: Vec<Container<'a>>,
}

impl<'a> Found<'a> {
    fn collect(&mut self, node: &'a Node, path: &mut Vec<Step<'a>>) {
        match &node.value {
            Value::Object(members) => {
                for member in members {
                    if let Some(names) = self.table_names(&member.key, &member.node) {
                        self.tables.push(Table {
                            at: path.clone(),
                            names,
                        });
                        continue;
                    }
                    path.push(Step::Key(&member.key));
                    self.collect(&member.node, path);
                    path.pop();
                }
            }
            Value::Array(items) => {
                if is_row_container(items) {
                    self.containers.push(Container {
                        at: path.clone(),
                        start: node.start,
                    });
                }
                for (index, item) in items.iter().enumerate() {
                    path.push(Step::Index(index));
                    self.collect(item, path);
                    path.pop();
                }
            }
            Value::String | Value::Scalar => {}
        }
    }

    /// The column names, when `value` under `key` is a column table.
    fn table_names(&self, key: &str, value: &Node) -> Option<Vec<String>> {
        if !TABLE_KEYS.contains(&fold_name(key).as_str()) {
            return None;
        }
        let Value::Array(items) = &value.value else {
            return None;
        };
        if items.is_empty() {
            return None;
        }
        items
            .iter()
            .map(|item| self.descriptor_name(item))
            .collect()
    }

    /// A column's name: the string itself, or a descriptor object's name member.
    fn descriptor_name(&self, item: &Node) -> Option<String> {
        match &item.value {
            Value::String => json::decode_string(&self.doc[item.start..item.end]),
            Value::Object(members) => members
                .iter()
                .find(|m| {
                    matches!(m.node.value, Value::String)
                        && NAME_KEYS.contains(&fold_name(&m.key).as_str())
                })
                .and_then(|m| json::decode_string(&self.doc[m.node.start..m.node.end])),
            _ => None,
        }
    }
}

fn shared(a: &[Step<'_>], b: &[Step<'_>]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn is_row_container(items: &[Node]) -> bool {
    !items.is_empty()
        && (items.iter().all(|i| matches!(i.value, Value::Array(_)))
            || items.iter().all(|i| match &i.value {
                Value::Object(members) => members
                    .iter()
                    .any(|m| m.key == "f" && matches!(m.node.value, Value::Array(_))),
                _ => false,
            }))
}
