//! Fields a policy flags: masked by where they are, not by what they look like.
//!
//! A policy rule's `mask.fields` names values three ways ([`FieldSpec`]):
//!
//! - **`path`**: a JSON path (`$.customers[*].ssn`, `$..card`, `$.rows[*][3]`; the
//!   subset is in [`path`]);
//! - **`key`**: a member name at any depth, compared folded ([`fold_name`]: case,
//!   `_`/`-`/space/`.` separators, look-alike letters and invisible characters do not
//!   count — `SSN`, `s_s_n`, `Social-Security-Number` vs `socialSecurityNumber`);
//! - **`column`**: a SQL result column — the member of that name in arrays of objects
//!   (PostgREST, Hasura, ClickHouse `JSON`/`JSONEachRow`, Neon, D1), and the cell at
//!   its position in the rows of column-and-rows results ([`columns`]).
//!
//! The matching is pure and incremental ([`FieldSet::root`], [`FieldSet::enter`],
//! [`FieldSet::action`]): given the path to a value and its key, it says whether the
//! value is masked wholesale and how. [`mask_document`] applies it to one JSON
//! document; [`FieldMasker`] to a body as it streams (JSON, NDJSON, SSE `data:`, forms).

mod columns;
mod json;
pub mod path;
mod stream;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use json::{SyntaxError, MAX_DEPTH};
pub use path::{JsonPath, PathError, PathState, PathStep};
pub use stream::{FieldError, FieldMasker};

use super::{Direction, Finding, FindingKind, Strategy};

/// Which bodies a field rule applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldDirection {
    /// Responses (what the agent reads).
    #[default]
    Response,
    /// Requests (what the agent sends).
    Request,
    /// Both.
    Both,
}

impl FieldDirection {
    /// Whether a body travelling in `direction` is covered.
    pub fn covers(self, direction: Direction) -> bool {
        matches!(
            (self, direction),
            (FieldDirection::Both, _)
                | (FieldDirection::Response, Direction::Response)
                | (FieldDirection::Request, Direction::Request)
        )
    }
}

/// One field as a policy names it (`mask.fields[]`): exactly one of `path`, `key`,
/// `column`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// A JSON path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A member name at any depth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A SQL result column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// How the value is masked (default `redact`).
    #[serde(default)]
    pub strategy: Strategy,
    /// Which bodies (default `response`).
    #[serde(default)]
    pub direction: FieldDirection,
}

/// What a field rule selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// A JSON path.
    Path(JsonPath),
    /// A member name, folded.
    Key(String),
    /// A result column name, folded.
    Column(String),
}

/// One compiled field rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRule {
    /// The policy rule that flags the field (named in the mask: `[REDACTED:<rule>]`).
    pub rule_id: Arc<str>,
    /// What it selects.
    pub selector: Selector,
    /// How it masks.
    pub strategy: Strategy,
    /// Which bodies.
    pub direction: FieldDirection,
    /// The finding's rule id: `field:<rule>`.
    finding_id: Arc<str>,
    spec: FieldSpec,
}

impl FieldRule {
    /// Compiles a policy's field for rule `rule_id`; the error says what to fix.
    pub fn compile(rule_id: &str, spec: &FieldSpec) -> Result<FieldRule, String> {
        let selector = match (&spec.path, &spec.key, &spec.column) {
            (Some(path), None, None) => {
                Selector::Path(JsonPath::parse(path).map_err(|e| e.to_string())?)
            }
            (None, Some(key), None) => Selector::Key(non_empty_name(key, "key")?),
            (None, None, Some(column)) => Selector::Column(non_empty_name(column, "column")?),
            _ => return Err("name exactly one of path, key or column".into()),
        };
        Ok(FieldRule {
            rule_id: Arc::from(rule_id),
            selector,
            strategy: spec.strategy,
            direction: spec.direction,
            finding_id: Arc::from(format!("field:{rule_id}")),
            spec: spec.clone(),
        })
    }

    /// The field as the policy wrote it.
    pub fn spec(&self) -> &FieldSpec {
        &self.spec
    }
}

impl Serialize for FieldRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            rule: &'a str,
            #[serde(flatten)]
            spec: &'a FieldSpec,
        }
        Shown {
            rule: &self.rule_id,
            spec: &self.spec,
        }
        .serialize(s)
    }
}

fn non_empty_name(name: &str, what: &str) -> Result<String, String> {
    let folded = fold_name(name);
    if folded.is_empty() {
        return Err(format!("{what} {name:?} has no letters or digits"));
    }
    Ok(folded)
}

/// A name as field rules compare it: look-alike letters read as ASCII, invisible
/// characters dropped, lowercase, and every character other than a letter or digit
/// left out — `SSN`, `s_s_n`, `Social-Security-Number`, `socialSecurityNumber` and
/// `ѕsn` (Cyrillic `ѕ`) fold to the same name as their plain spelling.
pub fn fold_name(name: &str) -> String {
    if name.is_ascii() {
        return name
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| char::from(b.to_ascii_lowercase()))
            .collect();
    }
    let (normalized, _) = crate::classify::mcp::normalize_tool_name(name);
    normalized.chars().filter(|c| *c != '_').collect()
}

/// The field rules that apply to one body, ready to match.
#[derive(Clone, Debug, Default)]
pub struct FieldSet {
    rules: Vec<Arc<FieldRule>>,
    /// The path rules (with their index into `rules`), in order.
    paths: Vec<(usize, JsonPath)>,
    /// Folded key → the first key rule naming it.
    keys: HashMap<String, usize>,
    /// Folded column → the first column rule naming it.
    columns: HashMap<String, usize>,
}

/// Where one value stands for every path rule of a [`FieldSet`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldCursor {
    states: Vec<PathState>,
}

impl FieldSet {
    /// The rules of `rules` that cover `direction`, in order (the first that selects a
    /// value masks it).
    pub fn new(rules: &[Arc<FieldRule>], direction: Direction) -> FieldSet {
        let mut set = FieldSet::default();
        for rule in rules.iter().filter(|r| r.direction.covers(direction)) {
            let index = set.rules.len();
            match &rule.selector {
                Selector::Path(path) => set.paths.push((index, path.clone())),
                Selector::Key(name) => {
                    set.keys.entry(name.clone()).or_insert(index);
                }
                Selector::Column(name) => {
                    set.columns.entry(name.clone()).or_insert(index);
                }
            }
            set.rules.push(Arc::clone(rule));
        }
        set
    }

    /// True when no rule applies.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Arc<FieldRule>] {
        &self.rules
    }

    /// True when some rule names result columns.
    pub fn has_columns(&self) -> bool {
        !self.columns.is_empty()
    }

    /// The cursor at a document's root.
    pub fn root(&self) -> FieldCursor {
        FieldCursor {
            states: self.paths.iter().map(|(_, path)| path.root()).collect(),
        }
    }

    /// The cursor of a child reached from `parent` by `step`.
    pub fn enter(&self, parent: &FieldCursor, step: PathStep<'_>) -> FieldCursor {
        FieldCursor {
            states: self
                .paths
                .iter()
                .zip(&parent.states)
                .map(|((_, path), &state)| path.step(state, step))
                .collect(),
        }
    }

    /// The rule that masks the value at `cursor` wholesale, if any: the first path rule
    /// that selects it, else a key or column rule naming `key` (the member's key, when
    /// the value is a member). `None`: scan the value (and look inside it).
    pub fn action(&self, cursor: &FieldCursor, key: Option<&str>) -> Option<&Arc<FieldRule>> {
        let by_path = self
            .paths
            .iter()
            .zip(&cursor.states)
            .find(|((_, path), &state)| path.matches(state))
            .map(|((i, _), _)| *i);
        let by_name = key.and_then(|key| self.by_name(key));
        match (by_path, by_name) {
            (Some(a), Some(b)) => Some(&self.rules[a.min(b)]),
            (Some(i), None) | (None, Some(i)) => Some(&self.rules[i]),
            (None, None) => None,
        }
    }

    /// [`FieldSet::action`] for a value given by its whole path from the document root
    /// (outermost step first; its key is the last step's, if a key): for a streaming
    /// tokenizer that knows each value's path but keeps no cursor (the structure layer's
    /// field hook). Column positions in column-and-rows results need the document's
    /// column table, which [`FieldMasker`] resolves; this answers for names and paths.
    pub fn rule_at<'a>(
        &self,
        steps: impl IntoIterator<Item = PathStep<'a>>,
    ) -> Option<&Arc<FieldRule>> {
        let mut cursor = self.root();
        let mut key = None;
        for step in steps {
            cursor = self.enter(&cursor, step);
            key = match step {
                PathStep::Key(k) => Some(k),
                PathStep::Index { .. } => None,
            };
        }
        self.action(&cursor, key)
    }

    /// The key or column rule naming `name` (folded), the first in order.
    fn by_name(&self, name: &str) -> Option<usize> {
        if self.keys.is_empty() && self.columns.is_empty() {
            return None;
        }
        let folded = fold_name(name);
        match (self.keys.get(&folded), self.columns.get(&folded)) {
            (Some(&a), Some(&b)) => Some(a.min(b)),
            (Some(&i), None) | (None, Some(&i)) => Some(i),
            (None, None) => None,
        }
    }

    /// The column rule naming result column `name`: compared folded, and a qualified
    /// name (`e.salary`) also by its last part.
    pub fn column_rule(&self, name: &str) -> Option<&Arc<FieldRule>> {
        if self.columns.is_empty() {
            return None;
        }
        let lookup = |n: &str| self.columns.get(&fold_name(n)).copied();
        lookup(name)
            .or_else(|| name.rsplit_once('.').and_then(|(_, last)| lookup(last)))
            .map(|i| &self.rules[i])
    }

    /// The column rules' names (folded), each with its rule's index.
    pub fn column_names(&self) -> Vec<(String, usize)> {
        let mut names: Vec<(String, usize)> =
            self.columns.iter().map(|(n, &i)| (n.clone(), i)).collect();
        names.sort();
        names
    }

    /// Masks result columns called `name` as rule `index` masks its own column: the
    /// request's query computes them from it under another name (`SELECT salary AS
    /// pay`, see [`crate::classify::sql::renamed_columns`]). A name some rule already
    /// flags keeps that rule.
    pub fn add_column_alias(&mut self, name: &str, index: usize) {
        if index < self.rules.len() {
            self.columns.entry(fold_name(name)).or_insert(index);
        }
    }

    /// True when some rule names member keys.
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Masks members called `alias` as the key (or column) rule naming `field` masks
    /// `field`: the request renamed the field in the response (a GraphQL alias,
    /// `s: ssn`). Nothing changes when no rule names `field`; a name some rule already
    /// flags keeps that rule.
    pub fn add_key_alias(&mut self, alias: &str, field: &str) {
        if let Some(index) = self.by_name(field) {
            self.keys.entry(fold_name(alias)).or_insert(index);
        }
    }

    /// The first column rule (masks every cell of rows whose columns are unknown).
    fn first_column_rule(&self) -> Option<&Arc<FieldRule>> {
        self.columns.values().min().map(|&i| &self.rules[i])
    }

    /// True when some path selects by an index from the end (array lengths needed).
    fn needs_lengths(&self) -> bool {
        self.paths.iter().any(|(_, path)| path.needs_lengths())
    }
}

/// The structure layer's field hook ([`crate::redact::FieldRules`]): a value the set's
/// paths or names select is masked wholesale, with the rule's id as the label. Column
/// positions in column-and-rows results need the document's column table and are
/// [`FieldMasker`]'s to resolve; names (arrays of objects) are answered here.
impl crate::redact::FieldRules for FieldSet {
    fn decide(&self, path: &crate::redact::FieldPath<'_>) -> crate::redact::FieldAction {
        use crate::redact::{FieldAction, PathSegment};
        if path.truncated() {
            // Deeper than the layer tracks: the path is not known, the key still is.
            let key = path.key().map(String::from_utf8_lossy);
            return match key.and_then(|k| self.by_name(&k)) {
                Some(i) => FieldAction::Mask {
                    strategy: self.rules[i].strategy,
                    label: Arc::clone(&self.rules[i].rule_id),
                },
                None => FieldAction::Scan,
            };
        }
        let keys: Vec<(std::borrow::Cow<'_, str>, Option<usize>)> = path
            .segments()
            .map(|segment| match segment {
                PathSegment::Key(k) => (String::from_utf8_lossy(k), None),
                PathSegment::Index(i) => (
                    std::borrow::Cow::Borrowed(""),
                    Some(usize::try_from(i).unwrap_or(usize::MAX)),
                ),
            })
            .collect();
        let steps = keys.iter().map(|(key, index)| match index {
            Some(index) => PathStep::Index {
                index: *index,
                len: None,
            },
            None => PathStep::Key(key),
        });
        match self.rule_at(steps) {
            Some(rule) => FieldAction::Mask {
                strategy: rule.strategy,
                label: Arc::clone(&rule.rule_id),
            },
            None => FieldAction::Scan,
        }
    }
}

/// What masking a value writes and reports.
pub(crate) struct Masking<'a> {
    pub(crate) direction: Direction,
    /// Key of the `hash` strategy (the engine's).
    pub(crate) hash_key: &'a [u8],
}

/// One replacement in a document: `start..end` becomes `text`.
#[derive(Debug)]
struct Edit {
    start: usize,
    end: usize,
    text: Vec<u8>,
}

/// The header row a stream of documents declared (`JSONCompactEachRowWithNames`): the
/// flagged columns by position.
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamColumns {
    pub(crate) header: Option<Vec<Option<Arc<FieldRule>>>>,
}

/// Masks the fields `set` flags in one JSON document (`doc`, with only whitespace
/// around its value), appending the result to `out` and findings (offset by `base`)
/// to `findings`. A document that is not strict JSON is an error: nothing is written.
pub(crate) fn mask_document(
    set: &FieldSet,
    doc: &[u8],
    masking: &Masking<'_>,
    stream: &mut StreamColumns,
    base: u64,
    out: &mut Vec<u8>,
    findings: &mut Vec<Finding>,
) -> Result<(), SyntaxError> {
    let root = json::parse(doc)?;
    let (rows, root_row) = if set.has_columns() {
        let resolved = columns::resolve(set, doc, &root, stream);
        (resolved.containers, resolved.root_row)
    } else {
        (HashMap::new(), None)
    };
    let mut walk = Walk {
        set,
        doc,
        masking,
        edits: Vec::new(),
        findings: Vec::new(),
        base,
        rows,
        lengths: set.needs_lengths(),
    };
    let cursor = set.root();
    if let Some(rule) = set.action(&cursor, None) {
        walk.mask(&root, rule, Place::Root);
    } else if let Some(row_mask) = root_row {
        walk.row(&root, &cursor, &row_mask);
    } else {
        walk.node(&root, &cursor);
    }
    let Walk {
        mut edits,
        findings: found,
        ..
    } = walk;
    edits.sort_by_key(|e| e.start);
    let mut at = 0;
    for edit in &edits {
        out.extend_from_slice(&doc[at..edit.start]);
        out.extend_from_slice(&edit.text);
        at = edit.end;
    }
    out.extend_from_slice(&doc[at..]);
    findings.extend(found);
    Ok(())
}

/// Where a masked value sits, which decides what `drop` does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    Member,
    Element,
}

struct Walk<'a> {
    set: &'a FieldSet,
    doc: &'a [u8],
    masking: &'a Masking<'a>,
    edits: Vec<Edit>,
    findings: Vec<Finding>,
    base: u64,
    /// Row containers (by their start) → the rule masking each cell position (or every
    /// cell, when the columns are unknown).
    rows: HashMap<usize, columns::RowMask>,
    lengths: bool,
}

impl Walk<'_> {
    fn node(&mut self, node: &json::Node, cursor: &FieldCursor) {
        match &node.value {
            json::Value::Object(members) => {
                let mut dropped = Vec::new();
                for (index, member) in members.iter().enumerate() {
                    let child = self.set.enter(cursor, PathStep::Key(&member.key));
                    match self.set.action(&child, Some(&member.key)) {
                        Some(rule) if rule.strategy == Strategy::Drop => {
                            self.found(rule, &member.node);
                            dropped.push(index);
                        }
                        Some(rule) => {
                            let rule = Arc::clone(rule);
                            self.mask(&member.node, &rule, Place::Member);
                        }
                        None => self.node(&member.node, &child),
                    }
                }
                if !dropped.is_empty() {
                    self.drop_members(node, members, &dropped);
                }
            }
            json::Value::Array(items) => {
                let row_mask = self.rows.get(&node.start).cloned();
                let len = self.lengths.then_some(items.len());
                for (index, item) in items.iter().enumerate() {
                    let child = self.set.enter(cursor, PathStep::Index { index, len });
                    if let Some(rule) = self.set.action(&child, None) {
                        let rule = Arc::clone(rule);
                        self.mask(item, &rule, Place::Element);
                    } else if let Some(row_mask) = &row_mask {
                        self.row(item, &child, row_mask);
                    } else {
                        self.node(item, &child);
                    }
                }
            }
            json::Value::String | json::Value::Scalar => {}
        }
    }

    /// One row of a row container: flagged cells masked, the rest walked.
    fn row(&mut self, row: &json::Node, cursor: &FieldCursor, mask: &columns::RowMask) {
        let cells: Vec<(&json::Node, FieldCursor)> = match &row.value {
            json::Value::Array(cells) => cells
                .iter()
                .enumerate()
                .map(|(index, cell)| {
                    let len = self.lengths.then_some(cells.len());
                    (cell, self.set.enter(cursor, PathStep::Index { index, len }))
                })
                .collect(),
            // BigQuery: `{"f": [{"v": ...}, ...]}`.
            json::Value::Object(members) => {
                let Some(member) = members.iter().find(|m| m.key == "f") else {
                    return self.node(row, cursor);
                };
                let f = self.set.enter(cursor, PathStep::Key("f"));
                let json::Value::Array(cells) = &member.node.value else {
                    return self.node(row, cursor);
                };
                for other in members.iter().filter(|m| m.key != "f") {
                    let child = self.set.enter(cursor, PathStep::Key(&other.key));
                    self.node(&other.node, &child);
                }
                cells
                    .iter()
                    .enumerate()
                    .map(|(index, cell)| {
                        let len = self.lengths.then_some(cells.len());
                        (cell, self.set.enter(&f, PathStep::Index { index, len }))
                    })
                    .collect()
            }
            _ => return self.node(row, cursor),
        };
        for (index, (cell, child)) in cells.into_iter().enumerate() {
            if let Some(rule) = self.set.action(&child, None) {
                let rule = Arc::clone(rule);
                self.mask(cell, &rule, Place::Element);
                continue;
            }
            match mask.rule_for(index) {
                Some(rule) => self.mask_cell(cell, &rule),
                None => self.node(cell, &child),
            }
        }
    }

    /// A flagged cell: a typed cell object (`{"type": "text", "value": ...}`,
    /// BigQuery's `{"v": ...}`) keeps its type and has every other member masked, so
    /// its client still reads it; any other cell is masked whole.
    fn mask_cell(&mut self, cell: &json::Node, rule: &Arc<FieldRule>) {
        if let json::Value::Object(members) = &cell.value {
            for member in members.iter().filter(|m| m.key != "type") {
                self.mask(&member.node, rule, Place::Element);
            }
        } else {
            self.mask(cell, rule, Place::Element);
        }
    }

    fn found(&mut self, rule: &FieldRule, node: &json::Node) {
        self.findings.push(Finding {
            rule_id: Arc::clone(&rule.finding_id),
            kind: FindingKind::Field,
            direction: self.masking.direction,
            offset: self.base + node.start as u64,
            len: (node.end - node.start) as u64,
        });
    }

    /// Replaces `node` wholesale as `rule` says (a dropped member is handled by its
    /// object; anywhere else `drop` leaves `null`, which keeps positions).
    fn mask(&mut self, node: &json::Node, rule: &FieldRule, place: Place) {
        self.found(rule, node);
        let raw = &self.doc[node.start..node.end];
        let text = match rule.strategy {
            Strategy::Drop => {
                debug_assert!(place != Place::Member);
                b"null".to_vec()
            }
            strategy => {
                let value = match node.value {
                    json::Value::String => json::decode_string(raw).unwrap_or_default(),
                    _ => String::from_utf8_lossy(raw).into_owned(),
                };
                placeholder(&rule.rule_id, strategy, &value, self.masking.hash_key)
            }
        };
        self.edits.push(Edit {
            start: node.start,
            end: node.end,
            text,
        });
    }

    /// Removes the `dropped` members of an object, with their commas, so it stays
    /// valid JSON.
    fn drop_members(&mut self, object: &json::Node, members: &[json::Member], dropped: &[usize]) {
        let kept = (0..members.len()).find(|i| !dropped.contains(i));
        let Some(first_kept) = kept else {
            // Every member goes: `{}`.
            self.edits.push(Edit {
                start: object.start + 1,
                end: object.end - 1,
                text: Vec::new(),
            });
            return;
        };
        for &i in dropped {
            let (start, end) = if i < first_kept {
                // Up to the next member's key: its comma and spacing go with it.
                (members[i].key_start, members[i + 1].key_start)
            } else {
                // From the end of the member before: the comma in front goes with it.
                (members[i - 1].node.end, members[i].node.end)
            };
            self.edits.push(Edit {
                start,
                end,
                text: Vec::new(),
            });
        }
    }
}

/// The text that replaces a masked value: `[REDACTED:<rule>]`, with the last 4
/// characters for `partial` (when the value is long enough and they are letters or
/// digits), or `[HASH:<rule>:<16 hex>]` — the same keyed pseudonym the pattern engine
/// writes, so equal values still correlate.
pub(crate) fn placeholder_text(
    rule: &str,
    strategy: Strategy,
    value: &str,
    hash_key: &[u8],
) -> String {
    match strategy {
        Strategy::Hash => format!(
            "[HASH:{rule}:{}]",
            super::engine::pseudonym_hex(hash_key, value.as_bytes())
        ),
        Strategy::Partial => {
            let chars: Vec<char> = value.chars().collect();
            let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
            if chars.len() >= 12 && tail.chars().all(|c| c.is_ascii_alphanumeric()) {
                format!("[REDACTED:{rule}:...{tail}]")
            } else {
                format!("[REDACTED:{rule}]")
            }
        }
        Strategy::Redact | Strategy::Drop => format!("[REDACTED:{rule}]"),
    }
}

/// [`placeholder_text`] as a JSON string.
fn placeholder(rule: &str, strategy: Strategy, value: &str, hash_key: &[u8]) -> Vec<u8> {
    let text = placeholder_text(rule, strategy, value, hash_key);
    serde_json::to_vec(&text).unwrap_or_else(|_| b"\"[REDACTED]\"".to_vec())
}

#[cfg(test)]
mod tests;
