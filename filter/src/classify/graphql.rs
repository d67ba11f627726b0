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
//!   [`GraphqlFacts::parse_error`], which the policy treats as risky.
//!
//! Introspection fields (`__schema`, `__type`, `__typename`) are ordinary fields here.
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
        facts.operations.push(GraphqlOperation {
            kind,
            name: name.map(str::to_owned),
            fields,
        });
    }

    if expansion.budget_left == 0 {
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

/// Fragment definitions by name (several when a name is defined more than once).
type Fragments<'doc> = HashMap<&'doc str, Vec<&'doc SelectionSet<'doc, &'doc str>>>;

/// Fragment expansion state shared by all operations of one document.
struct Expansion<'doc, 'map> {
    fragments: &'map Fragments<'doc>,
    /// Spread fragment names with no definition, each listed once.
    unknown_fragments: Vec<String>,
    /// Selections that may still be visited; 0 means expansion was cut short.
    budget_left: usize,
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

/// Extracts `(query, operationName)` pairs from a GraphQL-over-HTTP JSON body: one object
/// `{"query": …, "operationName": …}` or a batch array of them.
///
/// Conservative on unreadable shapes: an object whose `query` is present but not a string
/// is returned with that value's JSON text (which never parses as GraphQL, so it is reported
/// as a parse error), and a persisted-query object without `query` (Apollo
/// `extensions.persistedQuery`, or `documentId`) is returned with an empty document (also
/// a parse error) rather than being dropped. A non-string `operationName` is ignored.
pub fn graphql_requests_from_json(body: &Value) -> Vec<(String, Option<String>)> {
    match body {
        Value::Array(elements) => elements.iter().filter_map(request_from_object).collect(),
        _ => request_from_object(body).into_iter().collect(),
    }
}

fn request_from_object(value: &Value) -> Option<(String, Option<String>)> {
    let object = value.as_object()?;
    let operation_name = object
        .get("operationName")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let document = match object.get("query") {
        Some(Value::String(query)) => query.clone(),
        Some(other) => other.to_string(),
        None => {
            let persisted = object
                .get("extensions")
                .and_then(|extensions| extensions.get("persistedQuery"))
                .is_some()
                || object.contains_key("documentId");
            if !persisted {
                return None;
            }
            String::new()
        }
    };
    Some((document, operation_name))
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

    fn operation(
        kind: GraphqlOperationKind,
        name: Option<&str>,
        fields: &[&str],
    ) -> GraphqlOperation {
        GraphqlOperation {
            kind,
            name: name.map(str::to_owned),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn operations_and_fields() {
        let cases: &[(&str, Vec<GraphqlOperation>)] = &[
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
            assert_eq!(&facts.operations, expected, "{document}");
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

    /// `(document, operationName)` as returned by [`graphql_requests_from_json`].
    type Request = (String, Option<String>);

    #[test]
    fn requests_from_json() {
        let cases: Vec<(Value, Vec<Request>)> = vec![
            (json!({"query": "{ a }"}), vec![("{ a }".into(), None)]),
            (
                json!({"query": "query Q { a }", "operationName": "Q", "variables": {}}),
                vec![("query Q { a }".into(), Some("Q".into()))],
            ),
            (
                json!({"query": "{ a }", "operationName": null}),
                vec![("{ a }".into(), None)],
            ),
            (
                json!({"query": "{ a }", "operationName": 5}),
                vec![("{ a }".into(), None)],
            ),
            (
                json!([{"query": "{ a }"}, {"query": "mutation { b }", "operationName": "M"}, 7, {"other": 1}]),
                vec![
                    ("{ a }".into(), None),
                    ("mutation { b }".into(), Some("M".into())),
                ],
            ),
            (
                json!({"query": ["mutation { b }"]}),
                vec![("[\"mutation { b }\"]".into(), None)],
            ),
            (
                json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab"}}, "operationName": "P"}),
                vec![(String::new(), Some("P".into()))],
            ),
            (json!({"documentId": "abc"}), vec![(String::new(), None)]),
            (json!({"model": "x", "messages": []}), vec![]),
            (json!("{ a }"), vec![]),
            (json!([]), vec![]),
        ];
        for (body, expected) in cases {
            assert_eq!(graphql_requests_from_json(&body), expected, "{body}");
        }
    }

    #[test]
    fn non_string_query_never_parses() {
        for body in [
            json!({"query": {"a": 1}}),
            json!({"query": 1}),
            json!({"query": true}),
            json!({"query": null}),
        ] {
            for (document, name) in graphql_requests_from_json(&body) {
                assert!(
                    classify_graphql(&document, name.as_deref())
                        .parse_error
                        .is_some(),
                    "{body}"
                );
            }
        }
    }

    #[test]
    fn batch_requests_classify_independently() {
        let body = json!([{"query": "{ me }"}, {"query": "mutation { x: deleteRepo(id: 1) }"}]);
        let kinds: Vec<GraphqlOperationKind> = graphql_requests_from_json(&body)
            .iter()
            .flat_map(|(document, name)| classify_graphql(document, name.as_deref()).operations)
            .map(|operation| operation.kind)
            .collect();
        assert_eq!(kinds, [Query, Mutation]);
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
