//! GraphQL request classification: which operations a document contains and which
//! top-level fields each one touches.
//!
//! A policy decides on GraphQL traffic by operation kind (a `mutation` changes state, a
//! `subscription` holds a stream open) and by the root fields selected (`deleteUser`,
//! `__schema` …). Agents can dress those up, so the classifier reads the document the way
//! a server does:
//! - aliases are resolved (`x: deleteUser` reports `deleteUser`);
//! - fragment spreads and inline fragments at the top level are expanded, recursively and
//!   cycle-safe, so `mutation { ...F } fragment F on Mutation { deleteUser }` reports
//!   `deleteUser`;
//! - directives such as `@skip`/`@include` are ignored: a field that *may* run is reported;
//! - **every** operation in the document is reported, not only the one `operationName`
//!   picks, because servers differ in how they resolve duplicate or missing names;
//! - a document that does not parse, is empty, or spreads a fragment it never defines sets
//!   [`GraphqlFacts::parse_error`], which the policy treats as risky;
//! - every field name at any depth is kept too ([`GraphqlOperation::all_fields`]), so a
//!   namespaced mutation (`mutation { users { delete(id: 1) } }`) shows its verb.
//!
//! Introspection fields (`__schema`, `__type`, `__typename`) are ordinary fields here.
//!
//! **Where requests are found** ([`requests_from_json`], [`requests_from_pairs`]): JSON
//! bodies (one object or a batch array), query strings (`GET ?query=...`) and form bodies
//! (`query=...`), and `application/graphql` bodies. A persisted query names a document
//! the server stored (`extensions.persistedQuery`, `documentId`, and in a GraphQL
//! context `id`, `queryId`, `doc_id`...): its operations cannot be known from the
//! request, so it is reported with [`GraphqlFacts::opaque`] (the policy treats it as
//! any operation). An automatic persisted query that also sends its document is not
//! opaque when the document's SHA-256 is the hash it names. A `query` that does not
//! look like GraphQL is skipped (it is a search string or SQL), unless the request is
//! GraphQL-shaped: a path segment naming GraphQL (`/graphql`, `/api/graphql`, `/gql`), a
//! GraphQL content type, or other GraphQL members (`operationName`, `variables`,
//! `extensions`); then it is classified whatever it looks like.
//!
//! Parsing uses `graphql-parser`, whose tokenizer caps nesting at 50 levels; fragment
//! expansion below is iterative, so neither can overflow the stack on hostile input. Because
//! many operations can each spread the same large fragment, expansion work is bounded by
//! [`MAX_SELECTIONS_VISITED`]; a document that needs more is reported as a parse error.

use std::collections::{HashMap, HashSet};

use graphql_parser::query::{Definition, Document, OperationDefinition, Selection, SelectionSet};
use serde_json::Value;

/// The kind of a GraphQL operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphqlOperationKind {
    /// `query` (including the anonymous `{ … }` shorthand): reads.
    Query,
    /// `mutation`: writes.
    Mutation,
    /// `subscription`: a long-lived stream of events.
    Subscription,
}

/// One operation defined in a document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GraphqlOperation {
    /// Query, mutation or subscription.
    pub kind: GraphqlOperationKind,
    /// The operation's name; `None` for an anonymous operation.
    pub name: Option<String>,
    /// Top-level field names (aliases resolved, fragments expanded), in document order,
    /// each listed once.
    pub fields: Vec<String>,
    /// Every field name at any depth (top-level ones included), each listed once.
    pub all_fields: Vec<String>,
}

/// Everything recognised in one GraphQL document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GraphqlFacts {
    /// Every operation in the document, in document order.
    pub operations: Vec<GraphqlOperation>,
    /// The name of the operation the request selects: the requested `operationName` when an
    /// operation of that name exists, or the only operation's name when none was requested.
    /// `None` when nothing (or an anonymous operation) is selected; policies should look at
    /// all of [`GraphqlFacts::operations`] anyway.
    pub selected: Option<String>,
    /// Why the document could not be read; `Some` means "treat as risky".
    pub parse_error: Option<String>,
    /// Why the operations the server will run cannot be known from the request (a
    /// persisted query); `Some` means "treat as any operation".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opaque: Option<String>,
    /// Every aliased field of the document, at any depth, in operations and fragments:
    /// `(alias, field name)`. The response names such a field by its alias
    /// (`{ u: user { s: ssn } }` answers `{"u": {"s": …}}`), so field masking reads these
    /// to follow a flagged key under the name the agent chose.
    #[serde(skip)]
    pub aliases: Vec<(String, String)>,
}

/// How many selections (fields, spreads, inline fragments) fragment expansion may visit for
/// a whole document. Real documents need a few hundred; the bound stops a small document
/// from costing quadratic time and memory (10,000 operations each spreading one fragment
/// of 10,000 fields).
pub const MAX_SELECTIONS_VISITED: usize = 200_000;

/// Parses a GraphQL document and reports its operations; never fails (problems go into
/// [`GraphqlFacts::parse_error`]).
pub fn classify_graphql(document: &str, operation_name: Option<&str>) -> GraphqlFacts {
    let mut facts = GraphqlFacts {
        operations: Vec::new(),
        selected: None,
        parse_error: None,
        opaque: None,
        aliases: Vec::new(),
    };
    if skip_ignored(document).is_empty() {
        facts.parse_error = Some("empty document".to_owned());
        return facts;
    }
    let parsed: Document<'_, &str> = match graphql_parser::parse_query(document) {
        Ok(parsed) => parsed,
        Err(error) => {
            facts.parse_error = Some(error.to_string());
            return facts;
        }
    };

    facts.aliases = aliases(&parsed);

    // Duplicate fragment names are a validation error; keep every definition so none hides.
    let mut fragments: Fragments<'_> = HashMap::new();
    for definition in &parsed.definitions {
        if let Definition::Fragment(fragment) = definition {
            fragments
                .entry(fragment.name)
                .or_default()
                .push(&fragment.selection_set);
        }
    }

    let mut expansion = Expansion {
        fragments: &fragments,
        unknown_fragments: Vec::new(),
        budget_left: MAX_SELECTIONS_VISITED,
        all_budget_left: MAX_SELECTIONS_VISITED,
    };
    for definition in &parsed.definitions {
        let Definition::Operation(operation) = definition else {
            continue;
        };
        let (kind, name, selection_set) = match operation {
            OperationDefinition::SelectionSet(set) => (GraphqlOperationKind::Query, None, set),
            OperationDefinition::Query(q) => {
                (GraphqlOperationKind::Query, q.name, &q.selection_set)
            }
            OperationDefinition::Mutation(m) => {
                (GraphqlOperationKind::Mutation, m.name, &m.selection_set)
            }
            OperationDefinition::Subscription(s) => {
                (GraphqlOperationKind::Subscription, s.name, &s.selection_set)
            }
        };
        let fields = expansion.top_level_fields(selection_set);
        let all_fields = expansion.all_fields(selection_set);
        facts.operations.push(GraphqlOperation {
            kind,
            name: name.map(str::to_owned),
            fields,
            all_fields,
        });
    }

    if expansion.budget_left == 0 || expansion.all_budget_left == 0 {
        facts.parse_error = Some(format!(
            "document too complex to classify (more than {MAX_SELECTIONS_VISITED} selections after expanding fragments)"
        ));
    } else if !expansion.unknown_fragments.is_empty() {
        facts.parse_error = Some(format!(
            "unknown fragment(s): {}",
            expansion.unknown_fragments.join(", ")
        ));
    }
    facts.selected = match operation_name {
        Some(requested) => facts
            .operations
            .iter()
            .any(|operation| operation.name.as_deref() == Some(requested))
            .then(|| requested.to_owned()),
        None => match facts.operations.as_slice() {
            [only] => only.name.clone(),
            _ => None,
        },
    };
    facts
}

/// Every aliased field (`alias: name`) of every definition, at any depth. Fragments are
/// walked as definitions, not expanded, so the walk is linear in the document.
fn aliases<'doc>(parsed: &'doc Document<'doc, &'doc str>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut pending: Vec<&'doc SelectionSet<'doc, &'doc str>> = parsed
        .definitions
        .iter()
        .map(|definition| match definition {
            Definition::Fragment(fragment) => &fragment.selection_set,
            Definition::Operation(OperationDefinition::SelectionSet(set)) => set,
            Definition::Operation(OperationDefinition::Query(q)) => &q.selection_set,
            Definition::Operation(OperationDefinition::Mutation(m)) => &m.selection_set,
            Definition::Operation(OperationDefinition::Subscription(s)) => &s.selection_set,
        })
        .collect();
    while let Some(set) = pending.pop() {
        for selection in &set.items {
            match selection {
                Selection::Field(field) => {
                    if let Some(alias) = field.alias.filter(|alias| *alias != field.name) {
                        found.push((alias.to_owned(), field.name.to_owned()));
                    }
                    pending.push(&field.selection_set);
                }
                Selection::InlineFragment(inline) => pending.push(&inline.selection_set),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    found
}

/// Fragment definitions by name (several when a name is defined more than once).
type Fragments<'doc> = HashMap<&'doc str, Vec<&'doc SelectionSet<'doc, &'doc str>>>;

/// Fragment expansion state shared by all operations of one document.
struct Expansion<'doc, 'map> {
    fragments: &'map Fragments<'doc>,
    /// Spread fragment names with no definition, each listed once.
    unknown_fragments: Vec<String>,
    /// Selections that may still be visited; 0 means expansion was cut short.
    budget_left: usize,
    /// The same for [`Expansion::all_fields`].
    all_budget_left: usize,
}

impl<'doc> Expansion<'doc, '_> {
    /// Collects the field names selected at the top of `selection_set`, expanding inline
    /// fragments and fragment spreads. Iterative (an explicit stack of selection iterators
    /// keeps document order) and each fragment name is expanded once per operation, so cycles
    /// and long spread chains are harmless.
    fn top_level_fields(
        &mut self,
        selection_set: &'doc SelectionSet<'doc, &'doc str>,
    ) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        let mut seen_fields: HashSet<&str> = HashSet::new();
        let mut expanded_fragments: HashSet<&str> = HashSet::new();
        let mut pending = vec![selection_set.items.iter()];

        while let Some(current) = pending.last_mut() {
            let Some(selection) = current.next() else {
                pending.pop();
                continue;
            };
            let Some(budget_left) = self.budget_left.checked_sub(1) else {
                break;
            };
            self.budget_left = budget_left;
            match selection {
                Selection::Field(field) => {
                    if seen_fields.insert(field.name) {
                        fields.push(field.name.to_owned());
                    }
                }
                Selection::InlineFragment(inline) => {
                    pending.push(inline.selection_set.items.iter())
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.fragment_name;
                    if !expanded_fragments.insert(name) {
                        continue;
                    }
                    match self.fragments.get(name) {
                        // Reversed so that, with duplicates, the first definition runs first.
                        Some(definitions) => {
                            pending.extend(definitions.iter().rev().map(|set| set.items.iter()))
                        }
                        None => {
                            if !self.unknown_fragments.iter().any(|known| known == name) {
                                self.unknown_fragments.push(name.to_owned());
                            }
                        }
                    }
                }
            }
        }
        fields
    }
}

impl<'doc> Expansion<'doc, '_> {
    /// Collects every field name selected under `selection_set` at any depth, expanding
    /// fragments (each once per operation: only the set of names matters here).
    /// Iterative, within the same budget as [`Expansion::top_level_fields`].
    fn all_fields(&mut self, selection_set: &'doc SelectionSet<'doc, &'doc str>) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        let mut seen_fields: HashSet<&str> = HashSet::new();
        let mut expanded_fragments: HashSet<&str> = HashSet::new();
        let mut pending = vec![selection_set.items.iter()];

        while let Some(current) = pending.last_mut() {
            let Some(selection) = current.next() else {
                pending.pop();
                continue;
            };
            let Some(budget_left) = self.all_budget_left.checked_sub(1) else {
                break;
            };
            self.all_budget_left = budget_left;
            match selection {
                Selection::Field(field) => {
                    if seen_fields.insert(field.name) {
                        fields.push(field.name.to_owned());
                    }
                    if !field.selection_set.items.is_empty() {
                        pending.push(field.selection_set.items.iter());
                    }
                }
                Selection::InlineFragment(inline) => {
                    pending.push(inline.selection_set.items.iter())
                }
                Selection::FragmentSpread(spread) => {
                    if expanded_fragments.insert(spread.fragment_name) {
                        if let Some(definitions) = self.fragments.get(spread.fragment_name) {
                            pending.extend(definitions.iter().rev().map(|set| set.items.iter()));
                        }
                    }
                }
            }
        }
        fields
    }
}

/// The words of a field name (camelCase and snake_case split, lowercase):
/// `productDelete` → `product`, `delete`.
pub fn field_words(name: &str) -> impl Iterator<Item = String> {
    let (normalized, _) = super::mcp::normalize_tool_name(name);
    normalized
        .split('_')
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter()
}

/// One GraphQL request found in a body, query string or form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlRequest {
    /// The document, when the request carries one.
    pub document: Option<String>,
    /// The requested `operationName`.
    pub operation_name: Option<String>,
    /// Why the server may run a document other than (or besides) `document`: a persisted
    /// query id.
    pub opaque: Option<String>,
    /// The request is GraphQL-shaped beyond a `query` member, so its document is read as
    /// GraphQL whatever it looks like.
    pub certain: bool,
}

impl GraphqlRequest {
    /// The request's facts, or `None` when it carries nothing to classify (a `query`
    /// that is a search string or SQL).
    pub fn classify(&self) -> Option<GraphqlFacts> {
        let mut facts = match &self.document {
            Some(document) if self.certain || looks_like_graphql_document(document) => {
                classify_graphql(document, self.operation_name.as_deref())
            }
            _ if self.opaque.is_some() => GraphqlFacts {
                operations: Vec::new(),
                selected: None,
                parse_error: None,
                opaque: None,
                aliases: Vec::new(),
            },
            _ => return None,
        };
        facts.opaque.clone_from(&self.opaque);
        Some(facts)
    }
}

/// Persisted-query ids that are GraphQL-specific enough to count anywhere.
const PERSISTED_ID_KEYS: [&str; 3] = ["documentId", "document_id", "doc_id"];

/// Persisted-query ids that count only in a GraphQL-shaped request without a document.
const CONTEXT_ID_KEYS: [&str; 7] = [
    "id",
    "queryId",
    "query_id",
    "docId",
    "hash",
    "sha256Hash",
    "operationId",
];

/// Whether a path names a GraphQL endpoint: a segment containing `graphql` (any case),
/// or `gql`.
pub fn graphql_path(path: &str) -> bool {
    super::path::segments(path).iter().any(|segment| {
        let segment = segment.to_ascii_lowercase();
        segment.contains("graphql") || segment.contains("graphiql") || segment == "gql"
    })
}

/// The GraphQL requests of a JSON body: one object or a batch array of them.
/// `context` says the path or content type already names GraphQL.
///
/// Conservative on unreadable shapes: a GraphQL-shaped object whose `query` is not a
/// string is returned with that value's JSON text (which never parses as GraphQL, so it
/// is reported as a parse error). A non-string `operationName` is ignored.
pub fn requests_from_json(body: &Value, context: bool) -> Vec<GraphqlRequest> {
    match body {
        Value::Array(elements) => elements
            .iter()
            .filter_map(|element| request_from_object(element, context))
            .collect(),
        _ => request_from_object(body, context).into_iter().collect(),
    }
}

fn request_from_object(value: &Value, context: bool) -> Option<GraphqlRequest> {
    let object = value.as_object()?;
    let operation_name = object
        .get("operationName")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let extensions = match object.get("extensions") {
        // Some clients send `extensions` JSON-encoded, as in a query string.
        Some(Value::String(text)) => serde_json::from_str(text).ok(),
        other => other.cloned(),
    };
    let shaped = context
        || ["operationName", "variables", "extensions"]
            .iter()
            .any(|key| object.contains_key(*key));
    let document = match object.get("query") {
        Some(Value::String(query)) => Some(query.clone()),
        Some(Value::Null) | None => None,
        Some(other) if shaped => Some(other.to_string()),
        Some(_) => None,
    };
    let ids = object
        .iter()
        .filter(|(key, value)| {
            !value.is_null()
                && (PERSISTED_ID_KEYS.contains(&key.as_str())
                    || (shaped && document.is_none() && CONTEXT_ID_KEYS.contains(&key.as_str())))
        })
        .map(|(key, value)| (key.clone(), id_text(value)))
        .collect();
    let opaque = persisted_reason(extensions.as_ref(), ids, document.as_deref());
    if document.is_none() && opaque.is_none() {
        return None;
    }
    Some(GraphqlRequest {
        document,
        operation_name,
        opaque,
        certain: shaped,
    })
}

/// The GraphQL requests of a query string or form body, given as decoded name/value
/// pairs: every `query` value is one request, sharing `operationName`, `extensions` and
/// persisted ids.
pub fn requests_from_pairs(pairs: &[(String, String)], context: bool) -> Vec<GraphqlRequest> {
    let value_of = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let shaped = context
        || ["operationName", "variables", "extensions"]
            .iter()
            .any(|name| value_of(name).is_some());
    let operation_name = value_of("operationName").map(str::to_owned);
    let extensions = value_of("extensions").map(|text| {
        // Unreadable extensions could name a persisted query.
        serde_json::from_str::<Value>(text)
            .unwrap_or_else(|_| serde_json::json!({"persistedQuery": text}))
    });
    let documents: Vec<&str> = pairs
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case("query"))
        .map(|(_, value)| value.as_str())
        .collect();
    let ids: Vec<(String, String)> = pairs
        .iter()
        .filter(|(key, _)| {
            PERSISTED_ID_KEYS.contains(&key.as_str())
                || (shaped && documents.is_empty() && CONTEXT_ID_KEYS.contains(&key.as_str()))
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let mut requests = Vec::new();
    if documents.is_empty() {
        if let Some(opaque) = persisted_reason(extensions.as_ref(), ids, None) {
            requests.push(GraphqlRequest {
                document: None,
                operation_name,
                opaque: Some(opaque),
                certain: shaped,
            });
        }
        return requests;
    }
    for document in documents {
        requests.push(GraphqlRequest {
            document: Some(document.to_owned()),
            operation_name: operation_name.clone(),
            opaque: persisted_reason(extensions.as_ref(), ids.clone(), Some(document)),
            certain: shaped,
        });
    }
    requests
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Why a request is a persisted query whose document the server looks up; `None` when
/// it is not one, or when it sends the very document its hash names.
fn persisted_reason(
    extensions: Option<&Value>,
    ids: Vec<(String, String)>,
    document: Option<&str>,
) -> Option<String> {
    let digest = document.map(sha256_hex);
    let matches_document = |id: &str| {
        let id = id.trim();
        let id = id.strip_prefix("sha256:").unwrap_or(id);
        digest
            .as_deref()
            .is_some_and(|digest| id.eq_ignore_ascii_case(digest))
    };
    let persisted = extensions.and_then(|extensions| {
        extensions
            .as_object()?
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("persistedQuery"))
            .map(|(_, value)| value)
    });
    if let Some(persisted) = persisted.filter(|value| !value.is_null()) {
        let hash = persisted.get("sha256Hash").and_then(Value::as_str);
        if !hash.is_some_and(matches_document) {
            return Some(format!(
                "a persisted query (extensions.persistedQuery {}) names a document stored on the server",
                hash.unwrap_or("without a matching sha256Hash")
            ));
        }
    }
    for (key, id) in ids {
        if !matches_document(&id) {
            return Some(format!(
                "a persisted query ({key} {id:?}) names a document stored on the server"
            ));
        }
    }
    None
}

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(text.as_bytes()) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// [`looks_like_graphql`], stricter about the keyword forms: after `query`, `mutation`,
/// `subscription` or `fragment` and an optional name, a `{`, `(` or `@` must follow
/// (`query the orders table` is a search string, not a document).
pub fn looks_like_graphql_document(text: &str) -> bool {
    if !looks_like_graphql(text) {
        return false;
    }
    let rest = skip_ignored(text);
    if let Some(selection) = rest.strip_prefix('{') {
        // A selection starts with a name or a spread; `{"a": 1}` is JSON.
        return skip_ignored(selection)
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '_' | '.' | '}'));
    }
    let after_keyword = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let after_keyword = skip_ignored(after_keyword);
    let after_name =
        after_keyword.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
    let after_name = skip_ignored(after_name);
    matches!(after_name.chars().next(), Some('{' | '(' | '@'))
        || (rest.starts_with("fragment") && after_name.starts_with("on"))
}

/// Whether `text` looks like a GraphQL document: after whitespace, commas, a byte-order mark
/// and `#` comments, it starts with `{` or the keyword `query`, `mutation`, `subscription`
/// or `fragment`.
pub fn looks_like_graphql(text: &str) -> bool {
    let rest = skip_ignored(text);
    if rest.starts_with('{') {
        return true;
    }
    ["query", "mutation", "subscription", "fragment"]
        .iter()
        .any(|keyword| {
            rest.strip_prefix(keyword).is_some_and(|after| {
                !after
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
}

/// Skips GraphQL's ignored tokens (whitespace, line terminators, commas, BOM, comments).
fn skip_ignored(text: &str) -> &str {
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r', ',', '\u{FEFF}']);
        match trimmed.strip_prefix('#') {
            Some(comment) => {
                rest = comment
                    .find(['\n', '\r'])
                    .and_then(|end| comment.get(end..))
                    .unwrap_or("");
            }
            None => return trimmed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use GraphqlOperationKind::{Mutation, Query, Subscription};

    /// `(kind, name, top-level fields)` of an operation.
    type Summary = (GraphqlOperationKind, Option<String>, Vec<String>);

    fn operation(kind: GraphqlOperationKind, name: Option<&str>, fields: &[&str]) -> Summary {
        (
            kind,
            name.map(str::to_owned),
            fields.iter().map(|f| f.to_string()).collect(),
        )
    }

    fn summary(facts: &GraphqlFacts) -> Vec<Summary> {
        facts
            .operations
            .iter()
            .map(|o| (o.kind, o.name.clone(), o.fields.clone()))
            .collect()
    }

    #[test]
    fn operations_and_fields() {
        let cases: &[(&str, Vec<Summary>)] = &[
            ("{ a }", vec![operation(Query, None, &["a"])]),
            ("{ a b { c } a }", vec![operation(Query, None, &["a", "b"])]),
            ("query Q { user(id: 1) { name } }", vec![operation(Query, Some("Q"), &["user"])]),
            ("mutation { x: deleteUser(id: 1) { id } }", vec![operation(Mutation, None, &["deleteUser"])]),
            ("mutation M { a: createUser b: deleteUser }", vec![operation(Mutation, Some("M"), &["createUser", "deleteUser"])]),
            ("subscription S { onEvent }", vec![operation(Subscription, Some("S"), &["onEvent"])]),
            ("{ __schema { types { name } } __type(name: \"X\") { name } }", vec![operation(Query, None, &["__schema", "__type"])]),
            ("mutation { ...F } fragment F on Mutation { deleteUser }", vec![operation(Mutation, None, &["deleteUser"])]),
            ("mutation { ... on Mutation { dropTable } ... { ... on Mutation { wipe } } }", vec![operation(Mutation, None, &["dropTable", "wipe"])]),
            ("mutation { ...A } fragment A on Mutation { ...B first } fragment B on Mutation { ... on Mutation { deep: purge } }", vec![operation(Mutation, None, &["purge", "first"])]),
            ("mutation { a @skip(if: true) b @include(if: false) }", vec![operation(Mutation, None, &["a", "b"])]),
            ("# leading comment\nquery A { a } # trailing\nmutation B { deleteAll }", vec![operation(Query, Some("A"), &["a"]), operation(Mutation, Some("B"), &["deleteAll"])]),
            ("fragment F on Query { a } { ...F ...F b }", vec![operation(Query, None, &["a", "b"])]),
            ("query A { a } query A { deleteUser }", vec![operation(Query, Some("A"), &["a"]), operation(Query, Some("A"), &["deleteUser"])]),
        ];
        for (document, expected) in cases {
            let facts = classify_graphql(document, None);
            assert_eq!(facts.parse_error, None, "{document}");
            assert_eq!(&summary(&facts), expected, "{document}");
        }
    }

    #[test]
    fn fragment_cycles_terminate() {
        let facts = classify_graphql(
            "mutation { ...A } fragment A on Mutation { ...B a } fragment B on Mutation { ...A b }",
            None,
        );
        assert_eq!(facts.operations[0].fields, ["b", "a"]);
        assert_eq!(facts.parse_error, None);

        let facts = classify_graphql("mutation { ...A } fragment A on Mutation { ...A x }", None);
        assert_eq!(facts.operations[0].fields, ["x"]);
    }

    #[test]
    fn long_fragment_chain_does_not_overflow() {
        let mut document = String::from("mutation { ...F0 }\n");
        for i in 0..5_000 {
            document.push_str(&format!("fragment F{i} on Mutation {{ ...F{} }}\n", i + 1));
        }
        document.push_str("fragment F5000 on Mutation { deleteEverything }");
        let facts = classify_graphql(&document, None);
        assert_eq!(facts.parse_error, None);
        assert_eq!(facts.operations[0].fields, ["deleteEverything"]);
    }

    #[test]
    fn expansion_work_is_bounded() {
        let mut document = "{ ...F }\n".repeat(2_000);
        document.push_str("fragment F on Query {");
        for i in 0..200 {
            document.push_str(&format!(" f{i}"));
        }
        document.push('}');
        let facts = classify_graphql(&document, None);
        assert!(facts.parse_error.unwrap().contains("too complex"));

        // Just under the bound (999 operations × (1 spread + 199 fields)) is fine.
        let mut document = "{ ...F }\n".repeat(999);
        document.push_str("fragment F on Query {");
        for i in 0..199 {
            document.push_str(&format!(" f{i}"));
        }
        document.push('}');
        let facts = classify_graphql(&document, None);
        assert_eq!(facts.parse_error, None);
        assert_eq!(facts.operations.len(), 999);
        assert_eq!(facts.operations[998].fields.len(), 199);
    }

    #[test]
    fn duplicate_fragment_names_are_all_expanded() {
        let facts = classify_graphql(
            "mutation { ...F } fragment F on Mutation { a } fragment F on Mutation { deleteUser }",
            None,
        );
        assert_eq!(facts.operations[0].fields, ["a", "deleteUser"]);
    }

    #[test]
    fn unknown_fragment_is_a_parse_error() {
        let facts = classify_graphql("mutation { ...Missing ok }", None);
        assert_eq!(facts.operations[0].fields, ["ok"]);
        assert_eq!(
            facts.parse_error.as_deref(),
            Some("unknown fragment(s): Missing")
        );
    }

    #[test]
    fn unparseable_documents() {
        let cases = [
            "",
            "   \n,, # only a comment",
            "mutation {",
            "{ a ",
            "mutation { deleteUser(id: ) }",
            "not graphql at all",
            "{\"query\": \"{ a }\"}",
            "type Query { a: Int }",
            "query { a } }",
            &"{ a ".repeat(200),
        ];
        for document in cases {
            let facts = classify_graphql(document, None);
            assert!(facts.parse_error.is_some(), "{document:?}");
            assert!(facts.operations.is_empty(), "{document:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_crashing() {
        let document = format!("{}{}", "{ a ".repeat(5_000), "}".repeat(5_000));
        assert!(classify_graphql(&document, None).parse_error.is_some());
    }

    #[test]
    fn selected_operation() {
        let document = "query Read { a } mutation Write { deleteUser }";
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            (document, Some("Write"), Some("Write")),
            (document, Some("Read"), Some("Read")),
            (document, Some("Missing"), None),
            (document, None, None),
            ("query Only { a }", None, Some("Only")),
            ("{ a }", None, None),
            ("{ a }", Some("X"), None),
        ];
        for (document, requested, expected) in cases {
            let facts = classify_graphql(document, *requested);
            assert_eq!(
                facts.selected.as_deref(),
                *expected,
                "{document} {requested:?}"
            );
        }
        // All operations are reported whatever is selected.
        assert_eq!(classify_graphql(document, Some("Read")).operations.len(), 2);
    }

    /// `(document, operationName, opaque)` of a found request.
    type Found = (Option<String>, Option<String>, bool);

    fn request(document: Option<&str>, name: Option<&str>, opaque: bool) -> Found {
        (document.map(str::to_owned), name.map(str::to_owned), opaque)
    }

    fn requests(body: &Value, context: bool) -> Vec<Found> {
        requests_from_json(body, context)
            .into_iter()
            .map(|r| (r.document, r.operation_name, r.opaque.is_some()))
            .collect()
    }

    #[test]
    fn requests_from_json_bodies() {
        let apq_query = "query P { a }";
        let apq_hash = sha256_hex(apq_query);
        let cases: Vec<(Value, Vec<Found>)> = vec![
            (
                json!({"query": "{ a }"}),
                vec![request(Some("{ a }"), None, false)],
            ),
            (
                json!({"query": "query Q { a }", "operationName": "Q", "variables": {}}),
                vec![request(Some("query Q { a }"), Some("Q"), false)],
            ),
            (
                json!({"query": "{ a }", "operationName": null}),
                vec![request(Some("{ a }"), None, false)],
            ),
            (
                json!([{"query": "{ a }"}, {"query": "mutation { b }", "operationName": "M"}, 7, {"other": 1}]),
                vec![
                    request(Some("{ a }"), None, false),
                    request(Some("mutation { b }"), Some("M"), false),
                ],
            ),
            // A non-string query in a GraphQL-shaped request is its JSON text.
            (
                json!({"query": ["mutation { b }"], "variables": {}}),
                vec![request(Some("[\"mutation { b }\"]"), None, false)],
            ),
            // ... and not GraphQL at all otherwise (Elasticsearch's query DSL).
            (json!({"query": {"match": {"title": "x"}}}), vec![]),
            // Persisted queries.
            (
                json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab"}}, "operationName": "P"}),
                vec![request(None, Some("P"), true)],
            ),
            (
                json!({"documentId": "abc"}),
                vec![request(None, None, true)],
            ),
            (
                json!({"doc_id": 123, "variables": {}}),
                vec![request(None, None, true)],
            ),
            (
                json!({"id": "abc", "variables": {}}),
                vec![request(None, None, true)],
            ),
            (
                json!({"queryId": "abc", "operationName": "X"}),
                vec![request(None, Some("X"), true)],
            ),
            (
                json!({"extensions": "{\"persistedQuery\":{\"sha256Hash\":\"ab\"}}"}),
                vec![request(None, None, true)],
            ),
            // An automatic persisted query that sends its own document is not opaque...
            (
                json!({"query": apq_query, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": apq_hash}}}),
                vec![request(Some(apq_query), None, false)],
            ),
            (
                json!({"query": apq_query, "documentId": format!("sha256:{apq_hash}")}),
                vec![request(Some(apq_query), None, false)],
            ),
            // ... unless the hash names another document.
            (
                json!({"query": "{ harmless }", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": apq_hash}}}),
                vec![request(Some("{ harmless }"), None, true)],
            ),
            (
                json!({"query": "{ harmless }", "documentId": "deleteEverything"}),
                vec![request(Some("{ harmless }"), None, true)],
            ),
            // `id` alone is an ordinary JSON field; with a query it is a batch id.
            (json!({"id": 5, "name": "x"}), vec![]),
            (
                json!({"id": "1", "query": "{ a }", "variables": {}}),
                vec![request(Some("{ a }"), None, false)],
            ),
            (json!({"model": "x", "messages": []}), vec![]),
            (json!("{ a }"), vec![]),
            (json!([]), vec![]),
        ];
        for (body, expected) in cases {
            assert_eq!(requests(&body, false), expected, "{body}");
        }
        // On a GraphQL endpoint, ids count alone.
        assert_eq!(
            requests(&json!({"id": "abc"}), true),
            vec![request(None, None, true)]
        );
        assert_eq!(
            requests(&json!({"query": {"a": 1}}), true),
            vec![request(Some("{\"a\":1}"), None, false)]
        );
    }

    #[test]
    fn requests_from_query_strings_and_forms() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let found = |list: &[(&str, &str)], context: bool| -> Vec<GraphqlFacts> {
            requests_from_pairs(&pairs(list), context)
                .iter()
                .filter_map(GraphqlRequest::classify)
                .collect()
        };
        let facts = found(
            &[("query", "mutation { productDelete(id: 1) { id } }")],
            false,
        );
        assert_eq!(facts.len(), 1);
        assert_eq!(facts[0].operations[0].kind, Mutation);
        // Every `query` parameter is classified.
        let facts = found(&[("query", "{ a }"), ("query", "mutation { wipe }")], false);
        assert_eq!(facts.len(), 2);
        // Search strings are not GraphQL...
        assert!(found(&[("query", "query the orders table")], false).is_empty());
        assert!(found(&[("query", "shoes")], false).is_empty());
        // ... unless the request is GraphQL-shaped.
        let facts = found(&[("query", "shoes"), ("operationName", "X")], false);
        assert!(facts[0].parse_error.is_some());
        let facts = found(&[("query", "shoes")], true);
        assert!(facts[0].parse_error.is_some());
        // Persisted queries in a query string.
        let facts = found(
            &[(
                "extensions",
                r#"{"persistedQuery":{"version":1,"sha256Hash":"ab"}}"#,
            )],
            false,
        );
        assert!(facts[0].opaque.is_some());
        let facts = found(&[("documentId", "abc")], false);
        assert!(facts[0].opaque.is_some());
        let facts = found(&[("extensions", "not json")], false);
        assert!(facts[0].opaque.is_some());
        assert!(found(&[("id", "abc")], false).is_empty());
        assert!(found(&[("id", "abc")], true)[0].opaque.is_some());
    }

    #[test]
    fn non_string_query_never_parses() {
        for body in [
            json!({"query": {"a": 1}}),
            json!({"query": 1}),
            json!({"query": true}),
        ] {
            for request in requests_from_json(&body, true) {
                assert!(request.classify().unwrap().parse_error.is_some(), "{body}");
            }
        }
    }

    #[test]
    fn batch_requests_classify_independently() {
        let body = json!([{"query": "{ me }"}, {"query": "mutation { x: deleteRepo(id: 1) }"}]);
        let kinds: Vec<GraphqlOperationKind> = requests_from_json(&body, false)
            .iter()
            .filter_map(GraphqlRequest::classify)
            .flat_map(|facts| facts.operations)
            .map(|operation| operation.kind)
            .collect();
        assert_eq!(kinds, [Query, Mutation]);
    }

    #[test]
    fn aliases_are_listed_at_any_depth_and_in_fragments() {
        let facts = classify_graphql(
            "query Q { u: user { s: ssn name ...F ... on User { p: phone } } } \
             fragment F on User { card: cardNumber plain: plain }",
            None,
        );
        let mut aliases = facts.aliases.clone();
        aliases.sort();
        assert_eq!(
            aliases,
            [
                ("card", "cardNumber"),
                ("p", "phone"),
                ("s", "ssn"),
                ("u", "user")
            ]
            .map(|(a, f)| (a.to_owned(), f.to_owned()))
        );
    }

    #[test]
    fn all_fields_and_words() {
        let facts = classify_graphql(
            "mutation { users { delete(id: 1) { ok } } ...F } fragment F on Mutation { shop { products { purgeAll } } }",
            None,
        );
        assert_eq!(facts.operations[0].fields, ["users", "shop"]);
        assert_eq!(
            facts.operations[0].all_fields,
            ["users", "delete", "ok", "shop", "products", "purgeAll"]
        );
        let words = |name: &str| field_words(name).collect::<Vec<_>>();
        assert_eq!(words("productDelete"), ["product", "delete"]);
        assert_eq!(words("deleteProduct"), ["delete", "product"]);
        assert_eq!(words("user_destroy"), ["user", "destroy"]);
        assert_eq!(words("purgeAll"), ["purge", "all"]);
        assert_eq!(words("DELETEUser"), ["delete", "user"]);
        assert_eq!(words("wipe"), ["wipe"]);
    }

    #[test]
    fn strict_document_sniffing() {
        for (text, expected) in [
            ("{ a }", true),
            ("query { a }", true),
            ("query Q { a }", true),
            ("query Q($id: ID!) { a }", true),
            ("mutation @x { a }", true),
            ("fragment F on Q { a } { ...F }", true),
            ("query the orders table", false),
            ("query", false),
            ("mutation testing in production", false),
            ("{\"status\": \"open\"}", false),
            ("{ ...F }", true),
        ] {
            assert_eq!(looks_like_graphql_document(text), expected, "{text:?}");
        }
    }

    #[test]
    fn graphql_sniffing() {
        let cases: &[(&str, bool)] = &[
            ("{ a }", true),
            ("  \n\t{a}", true),
            ("query Q { a }", true),
            ("query{a}", true),
            ("mutation M { a }", true),
            ("subscription { a }", true),
            ("fragment F on Q { a } { ...F }", true),
            ("# comment\n# another\r\nmutation { a }", true),
            ("\u{FEFF},, query { a }", true),
            ("query", true),
            ("queryX { a }", false),
            ("mutations { a }", false),
            ("# only a comment", false),
            ("", false),
            ("SELECT 1", false),
            ("[{\"query\": \"{ a }\"}]", false),
            ("Query { a }", false),
        ];
        for (text, expected) in cases {
            assert_eq!(looks_like_graphql(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn facts_serialise_as_json() {
        let facts = classify_graphql("mutation M { deleteUser }", Some("M"));
        let value = serde_json::to_value(&facts).unwrap();
        assert_eq!(value["operations"][0]["kind"], json!("mutation"));
        assert_eq!(value["selected"], json!("M"));
        assert_eq!(value["parse_error"], Value::Null);
    }
}
