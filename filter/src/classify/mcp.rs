//! MCP (Model Context Protocol) over streamable HTTP: JSON-RPC 2.0 request classification.
//!
//! An agent talks to an MCP server by POSTing JSON-RPC 2.0 messages. What a policy cares
//! about is *which operation* each message asks for: the JSON-RPC `method`, and for the
//! methods that reach into the server's capabilities, the tool being called
//! (`tools/call` → `params.name`, with its `params.arguments`), the resource being read
//! (`resources/read`, `resources/subscribe`, `resources/unsubscribe` → `params.uri`) or
//! the prompt being fetched (`prompts/get` → `params.name`, with its `params.arguments`).
//!
//! What counts as JSON-RPC here:
//! - an object with a `"jsonrpc"` member and a `method` (a request, or a notification when
//!   it has no `id`);
//! - an object *shaped* like a JSON-RPC request without the `"jsonrpc"` member (a lenient
//!   server dispatches it anyway): a string `method` that reads like an MCP method
//!   (`initialize`, `ping`, or `namespace/name` such as `tools/call`), or one whose only
//!   members are `method`, `params` (an object or array) and `id`. It is classified like
//!   any other message and also listed as malformed (missing version);
//! - an array (a batch) in which any element is such a message, or any element is an
//!   object that *claims* JSON-RPC (has a `"jsonrpc"` member) but is malformed.
//!
//! Lone responses (`result`/`error` without `method`) are not requests and yield `None`;
//! inside a batch they are skipped. Every other element of a batch is classified, so a
//! destructive call cannot hide behind a benign first element.
//!
//! Being conservative: anything that claims JSON-RPC but would not be read the way a
//! strict server reads it (wrong `jsonrpc` version, `method` not a string, `params` not an
//! object/array, an `id` of the wrong type, a `tools/call` without a string `name`, an
//! unusual spelling of a known method, a non-JSON-RPC element inside a JSON-RPC batch, a
//! nested batch …) is listed in [`McpFacts::malformed`], which the policy treats as risky.
//! When such a message still names an operation, it is *also* reported in
//! [`McpFacts::messages`], so tool-specific rules keep matching.
//!
//! Tool names are additionally normalised ([`normalize_tool_name`]) so that a policy glob
//! such as `delete_*` or `*shell*` also catches `DeleteFile`, `delete-file`, `dеlete_file`
//! (Cyrillic `е`), fullwidth letters, or names with zero-width characters in them.

use serde_json::{Map, Value};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// One JSON-RPC request or notification, reduced to the facts a policy matches on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct McpMessage {
    /// The JSON-RPC method exactly as sent, e.g. `tools/call`.
    pub method: String,
    /// The request id; `None` for a notification.
    pub id: Option<Value>,
    /// For `tools/call`: the tool name exactly as sent (`params.name`).
    pub tool: Option<String>,
    /// For `tools/call`: the tool name after [`normalize_tool_name`].
    pub tool_normalized: Option<String>,
    /// For `tools/call`: the raw tool name used characters outside `[A-Za-z0-9_.-]` (or was
    /// empty), i.e. someone may be trying to disguise it.
    pub tool_name_suspicious: bool,
    /// For `tools/call` and `prompts/get`: `params.arguments` as sent (any JSON type).
    pub arguments: Option<Value>,
    /// For `resources/read`, `resources/subscribe` and `resources/unsubscribe`: `params.uri`.
    pub resource_uri: Option<String>,
    /// For `prompts/get`: the prompt name (`params.name`).
    pub prompt: Option<String>,
    /// For `tools/call`: the tool runs code or commands, by its name's words (`run_python`,
    /// `exec`, `shell`, `execute_command`, `run_code`, `eval`, `terminal` ...) or by an
    /// argument that carries them (`command`, `cmd`, `script`, ...). See
    /// [`runs_code`].
    pub code_execution: bool,
}

/// Everything recognised in one JSON-RPC body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct McpFacts {
    /// The body was a JSON array (a JSON-RPC batch).
    pub batch: bool,
    /// Every request/notification found, in body order (responses are skipped).
    pub messages: Vec<McpMessage>,
    /// Why parts of the body could not be read as strict JSON-RPC 2.0; in a batch each
    /// reason is prefixed with the element's index. Non-empty means "treat as risky".
    pub malformed: Vec<String>,
}

/// Why a message (or part of it) is not strict JSON-RPC 2.0 / MCP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Malformed {
    #[error("`jsonrpc` is not \"2.0\"")]
    WrongVersion,
    #[error("no `jsonrpc` member (a JSON-RPC 2.0 message must have `\"jsonrpc\": \"2.0\"`)")]
    MissingVersion,
    #[error("`method` is not a string")]
    MethodNotString,
    #[error("neither `method` nor `result`/`error` present")]
    NoMethodNoResult,
    #[error("`params` is not an object or array")]
    ParamsNotStructured,
    #[error("`id` is not a string, number or null")]
    BadId,
    #[error("method {0:?} is an unusual spelling of {1:?}")]
    UnusualMethodSpelling(String, &'static str),
    #[error("{0} `params` is not an object")]
    ParamsNotObject(&'static str),
    #[error("{0} without a string `params.{1}`")]
    MissingStringParam(&'static str, &'static str),
    #[error("{0} `params.arguments` is not an object")]
    ArgumentsNotObject(&'static str),
    #[error("element is not a JSON-RPC 2.0 message")]
    NotJsonRpc,
    #[error("nested batch")]
    NestedBatch,
}

/// The methods whose parameters name an operation target.
const TOOLS_CALL: &str = "tools/call";
const RESOURCES_READ: &str = "resources/read";
const RESOURCES_SUBSCRIBE: &str = "resources/subscribe";
const RESOURCES_UNSUBSCRIBE: &str = "resources/unsubscribe";
const PROMPTS_GET: &str = "prompts/get";
const KNOWN_TARGET_METHODS: [&str; 5] = [
    TOOLS_CALL,
    RESOURCES_READ,
    RESOURCES_SUBSCRIBE,
    RESOURCES_UNSUBSCRIBE,
    PROMPTS_GET,
];

/// How deep nested arrays are searched for JSON-RPC claims before giving up and assuming one
/// (serde_json's parser already stops at 128 levels; this guards hand-built values).
const MAX_NESTED_BATCH_DEPTH: usize = 32;

/// Classifies a parsed JSON body as MCP/JSON-RPC; `None` when it is not JSON-RPC at all
/// (or is only responses).
pub fn classify_jsonrpc(body: &Value) -> Option<McpFacts> {
    match body {
        Value::Object(_) => {
            let outcome = classify_element(body);
            if !outcome.is_jsonrpc_request_like() {
                return None;
            }
            Some(McpFacts {
                batch: false,
                messages: outcome.message.into_iter().collect(),
                malformed: outcome.problems.iter().map(ToString::to_string).collect(),
            })
        }
        Value::Array(elements) => {
            let outcomes: Vec<ElementOutcome> = elements.iter().map(classify_element).collect();
            if !outcomes.iter().any(ElementOutcome::is_jsonrpc_request_like) {
                return None;
            }
            let mut facts = McpFacts {
                batch: true,
                messages: Vec::new(),
                malformed: Vec::new(),
            };
            for (index, outcome) in outcomes.into_iter().enumerate() {
                let mut problems = outcome.problems;
                if outcome.kind == ElementKind::NotClaimed {
                    problems.push(Malformed::NotJsonRpc);
                }
                facts.messages.extend(outcome.message);
                facts.malformed.extend(
                    problems
                        .into_iter()
                        .map(|problem| format!("element {index}: {problem}")),
                );
            }
            Some(facts)
        }
        _ => None,
    }
}

/// What one object (or batch element) turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ElementKind {
    /// Has no `jsonrpc` member (and is not a nested batch containing one).
    NotClaimed,
    /// A response (`result`/`error`, no `method`): skipped.
    Response,
    /// A request/notification, or something claiming JSON-RPC that is malformed.
    Claimed,
}

/// The result of classifying one element.
struct ElementOutcome {
    kind: ElementKind,
    message: Option<McpMessage>,
    problems: Vec<Malformed>,
}

impl ElementOutcome {
    fn is_jsonrpc_request_like(&self) -> bool {
        self.kind == ElementKind::Claimed
    }

    fn without_message(kind: ElementKind, problems: Vec<Malformed>) -> Self {
        ElementOutcome {
            kind,
            message: None,
            problems,
        }
    }
}

fn classify_element(element: &Value) -> ElementOutcome {
    match element {
        Value::Object(object) => classify_object(object),
        Value::Array(_) if array_claims_jsonrpc(element, 0) => {
            ElementOutcome::without_message(ElementKind::Claimed, vec![Malformed::NestedBatch])
        }
        _ => ElementOutcome::without_message(ElementKind::NotClaimed, Vec::new()),
    }
}

/// Whether a (nested) array contains anything claiming JSON-RPC; too deep counts as yes.
fn array_claims_jsonrpc(value: &Value, depth: usize) -> bool {
    match value {
        Value::Object(object) => object.contains_key("jsonrpc"),
        Value::Array(elements) => {
            depth >= MAX_NESTED_BATCH_DEPTH
                || elements
                    .iter()
                    .any(|element| array_claims_jsonrpc(element, depth + 1))
        }
        _ => false,
    }
}

fn classify_object(object: &Map<String, Value>) -> ElementOutcome {
    let version = object.get("jsonrpc");
    if version.is_none() && !shaped_like_request(object) {
        return ElementOutcome::without_message(ElementKind::NotClaimed, Vec::new());
    }
    let Some(method_value) = object.get("method") else {
        if object.contains_key("result") || object.contains_key("error") {
            return ElementOutcome::without_message(ElementKind::Response, Vec::new());
        }
        return ElementOutcome::without_message(
            ElementKind::Claimed,
            vec![Malformed::NoMethodNoResult],
        );
    };

    let mut problems = Vec::new();
    match version {
        None => problems.push(Malformed::MissingVersion),
        Some(version) if version.as_str() != Some("2.0") => problems.push(Malformed::WrongVersion),
        Some(_) => {}
    }
    let id = object.get("id").cloned();
    if let Some(id) = &id {
        if !matches!(id, Value::String(_) | Value::Number(_) | Value::Null) {
            problems.push(Malformed::BadId);
        }
    }
    let Some(method) = method_value.as_str() else {
        problems.push(Malformed::MethodNotString);
        return ElementOutcome::without_message(ElementKind::Claimed, problems);
    };
    let params = match object.get("params") {
        None => None,
        Some(params @ (Value::Object(_) | Value::Array(_))) => Some(params),
        Some(_) => {
            problems.push(Malformed::ParamsNotStructured);
            None
        }
    };

    let mut message = McpMessage {
        method: method.to_owned(),
        id,
        tool: None,
        tool_normalized: None,
        tool_name_suspicious: false,
        arguments: None,
        resource_uri: None,
        prompt: None,
        code_execution: false,
    };
    if let Some(known) = recognise_method(method, &mut problems) {
        extract_target(known, params, &mut message, &mut problems);
    }
    ElementOutcome {
        kind: ElementKind::Claimed,
        message: Some(message),
        problems,
    }
}

/// Whether an object without a `jsonrpc` member is still shaped like a JSON-RPC request
/// (see the module docs).
fn shaped_like_request(object: &Map<String, Value>) -> bool {
    let Some(method) = object.get("method").and_then(Value::as_str) else {
        return false;
    };
    let method = method.trim();
    let mcp_like = method.eq_ignore_ascii_case("initialize")
        || method.eq_ignore_ascii_case("ping")
        || method.split_once('/').is_some_and(|(namespace, name)| {
            let word = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
            };
            word(namespace) && word(name)
        });
    let only_rpc_members = object
        .keys()
        .all(|key| matches!(key.as_str(), "method" | "params" | "id"))
        && matches!(
            object.get("params"),
            Some(Value::Object(_) | Value::Array(_))
        );
    mcp_like || only_rpc_members
}

/// Maps a method to one of [`KNOWN_TARGET_METHODS`]. A spelling that only differs in case or
/// surrounding whitespace is still recognised (a lenient server may dispatch it) but flagged.
fn recognise_method(method: &str, problems: &mut Vec<Malformed>) -> Option<&'static str> {
    if let Some(exact) = KNOWN_TARGET_METHODS.iter().find(|known| **known == method) {
        return Some(exact);
    }
    let loose = KNOWN_TARGET_METHODS
        .iter()
        .find(|known| method.trim().eq_ignore_ascii_case(known))?;
    problems.push(Malformed::UnusualMethodSpelling(method.to_owned(), loose));
    Some(loose)
}

fn extract_target(
    method: &'static str,
    params: Option<&Value>,
    message: &mut McpMessage,
    problems: &mut Vec<Malformed>,
) {
    let params = match params {
        Some(Value::Object(params)) => Some(params),
        Some(_) => {
            problems.push(Malformed::ParamsNotObject(method));
            None
        }
        None => None,
    };
    let string_param = |name: &str| {
        params
            .and_then(|params| params.get(name))
            .and_then(Value::as_str)
    };
    let arguments = || {
        params
            .and_then(|params| params.get("arguments"))
            .filter(|arguments| !arguments.is_null())
            .cloned()
    };

    match method {
        TOOLS_CALL => {
            match string_param("name") {
                Some(name) => {
                    let (normalized, suspicious) = normalize_tool_name(name);
                    message.tool = Some(name.to_owned());
                    message.tool_normalized = Some(normalized);
                    message.tool_name_suspicious = suspicious;
                }
                None => problems.push(Malformed::MissingStringParam(method, "name")),
            }
            message.arguments = arguments();
            if message.arguments.as_ref().is_some_and(|a| !a.is_object()) {
                problems.push(Malformed::ArgumentsNotObject(method));
            }
            message.code_execution = runs_code(
                message.tool_normalized.as_deref().unwrap_or(""),
                message.arguments.as_ref(),
            );
        }
        PROMPTS_GET => {
            match string_param("name") {
                Some(name) => message.prompt = Some(name.to_owned()),
                None => problems.push(Malformed::MissingStringParam(method, "name")),
            }
            message.arguments = arguments();
            if message.arguments.as_ref().is_some_and(|a| !a.is_object()) {
                problems.push(Malformed::ArgumentsNotObject(method));
            }
        }
        _ => match string_param("uri") {
            Some(uri) => message.resource_uri = Some(uri.to_owned()),
            None => problems.push(Malformed::MissingStringParam(method, "uri")),
        },
    }
}

/// Words of a tool name that say it runs code or commands, on their own.
const CODE_EXECUTION_WORDS: &[&str] = &[
    "exec",
    "execute",
    "execution",
    "eval",
    "shell",
    "bash",
    "sh",
    "zsh",
    "ksh",
    "csh",
    "tcsh",
    "dash",
    "powershell",
    "pwsh",
    "cmd",
    "terminal",
    "repl",
    "interpreter",
    "subprocess",
    "popen",
    "spawn",
    "python",
    "python3",
    "ipython",
    "jupyter",
    "nodejs",
    "deno",
    "ruby",
    "perl",
    "php",
    "lua",
    "javascript",
    "typescript",
    "applescript",
    "osascript",
    "vbscript",
    "sudo",
    "ssh",
];

/// Parts of a run-together word that name an interpreter or shell (`runpython`,
/// `pyshell`).
const CODE_EXECUTION_PARTS: &[&str] = &[
    "python",
    "powershell",
    "javascript",
    "typescript",
    "subprocess",
    "interpreter",
    "shell",
    "bash",
];

/// Words that, with a word from [`CODE_OBJECT_WORDS`], say the tool runs code (`run_code`,
/// `invoke_script`, `system_command`, `command_runner`).
const RUN_WORDS: &[&str] = &[
    "run", "runs", "runner", "exec", "execute", "executor", "eval", "invoke", "launch", "start",
    "system", "os",
];

/// What a run verb may run.
const CODE_OBJECT_WORDS: &[&str] = &[
    "code", "script", "scripts", "program", "snippet", "command", "commands", "cell", "notebook",
    "process", "binary", "py", "js", "ts", "node", "sandbox",
];

/// Argument names that carry code or commands to run.
const CODE_ARGUMENTS: &[&str] = &[
    "cmd",
    "command",
    "commands",
    "script",
    "shell",
    "bash",
    "shell_command",
    "bash_command",
    "python",
    "python_code",
    "source_code",
    "javascript",
    "js_code",
];

/// Whether a tool with this normalised name (see [`normalize_tool_name`]) and these
/// arguments runs code or commands.
pub fn runs_code(normalized_name: &str, arguments: Option<&Value>) -> bool {
    let words: Vec<&str> = normalized_name
        .split('_')
        .filter(|w| !w.is_empty())
        .collect();
    let has = |list: &[&str]| words.iter().any(|word| list.contains(word));
    let named = has(CODE_EXECUTION_WORDS)
        || words
            .iter()
            .any(|word| CODE_EXECUTION_PARTS.iter().any(|part| word.contains(part)))
        || (has(RUN_WORDS) && has(CODE_OBJECT_WORDS));
    let argued = arguments
        .and_then(Value::as_object)
        .is_some_and(|arguments| {
            arguments.iter().any(|(key, value)| {
                let (key, _) = normalize_tool_name(key);
                let carries = matches!(value, Value::String(_) | Value::Array(_));
                carries
                    && (CODE_ARGUMENTS.contains(&key.as_str()) || (key == "code" && has(RUN_WORDS)))
            })
        });
    named || argued
}

/// Normalises a tool name so that different spellings of the same words compare equal;
/// returns `(normalized, suspicious)`.
///
/// Steps: Unicode compatibility decomposition (NFKD, which also folds fullwidth and
/// mathematical letters), removal of combining marks and invisible/format characters,
/// mapping of non-ASCII look-alikes to ASCII (UTS #39 skeleton plus a small table of
/// Cyrillic/Greek/Latin letters the skeleton leaves non-ASCII), camelCase/PascalCase
/// splitting, lowercasing, and every run of non-alphanumerics becoming one `_` (trimmed at
/// both ends). `suspicious` is true when the raw name used anything outside
/// `[A-Za-z0-9_.-]`, or when nothing is left after normalisation.
pub fn normalize_tool_name(name: &str) -> (String, bool) {
    let has_unusual_chars = name.is_empty()
        || name
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')));

    let decomposed: String = name
        .nfkd()
        .filter(|&c| !is_combining_mark(c) && !is_invisible(c))
        .collect();
    // Recompose what survived (e.g. Hangul jamo) so letters are compared as whole characters.
    let mut letters: Vec<char> = Vec::with_capacity(decomposed.len());
    for c in decomposed.nfc() {
        push_ascii_lookalike(c, &mut letters);
    }

    let normalized = snake_case(&letters);
    let suspicious = has_unusual_chars || normalized.is_empty();
    (normalized, suspicious)
}

/// Appends `c`, or its ASCII look-alike when it has one, keeping the original's case so that
/// camelCase splitting is not fooled by a look-alike of the other case.
fn push_ascii_lookalike(c: char, out: &mut Vec<char>) {
    if c.is_ascii() {
        out.push(c);
        return;
    }
    if let Some(ascii) = extra_lookalike(c) {
        out.push(ascii);
        return;
    }
    let skeleton: String = unicode_security::skeleton(c.encode_utf8(&mut [0; 4]))
        .map(|s| extra_lookalike(s).unwrap_or(s))
        .collect();
    // The skeleton drops only default-ignorable (invisible) characters.
    if skeleton.is_empty() {
        return;
    }
    // Only letter look-alikes are useful: Cyrillic `З` → `3` would turn a word into digits.
    if !skeleton.chars().all(|s| s.is_ascii_alphabetic()) {
        out.push(c);
        return;
    }
    if c.is_uppercase() {
        // The skeleton prototype of `I`-like capitals (Cyrillic `І`, Greek `Ι`, `Ⅰ`) is `l`.
        out.extend(skeleton.chars().map(|s| match s {
            'l' => 'I',
            other => other.to_ascii_uppercase(),
        }));
    } else {
        out.extend(skeleton.chars().map(|s| s.to_ascii_lowercase()));
    }
}

/// Look-alikes that the UTS #39 skeleton maps to a non-ASCII prototype (small capitals, IPA
/// letters) or not at all, but that read as an ASCII letter inside a Latin word.
fn extra_lookalike(c: char) -> Option<char> {
    Some(match c {
        'ε' | 'ꞓ' | 'є' => 'e',
        'κ' | 'ĸ' | 'к' => 'k',
        'τ' | 'ᴛ' | 'т' => 't',
        'χ' => 'x',
        'η' | 'п' => 'n',
        'ʙ' | 'в' => 'b',
        'ʜ' | 'н' => 'h',
        'ʍ' | 'м' => 'm',
        'ɡ' => 'g',
        'ł' | 'ƚ' => 'l',
        'ø' => 'o',
        'đ' | 'ð' => 'd',
        'ħ' => 'h',
        'ŧ' => 't',
        'ƀ' => 'b',
        'ɨ' => 'i',
        _ => return None,
    })
}

/// Format (Cf) and other default-ignorable code points: invisible, so they must not split or
/// change a name (`delete\u{200B}_file` is `delete_file`).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Splits camelCase/PascalCase words, lowercases, and turns runs of non-alphanumerics into a
/// single `_` with none at either end.
fn snake_case(chars: &[char]) -> String {
    let mut out = String::with_capacity(chars.len() + 8);
    let mut pending_separator = false;
    for (index, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            pending_separator = true;
            continue;
        }
        let previous = index.checked_sub(1).and_then(|i| chars.get(i)).copied();
        let next = chars.get(index + 1).copied();
        if let Some(previous) = previous.filter(|p| p.is_alphanumeric()) {
            let lower_to_upper =
                (previous.is_lowercase() || previous.is_numeric()) && c.is_uppercase();
            // `HTTPRequest` → `HTTP` + `Request`: the last capital of a run starts a word.
            let acronym_end =
                previous.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase);
            if lower_to_upper || acronym_end {
                pending_separator = true;
            }
        }
        if pending_separator && !out.is_empty() {
            out.push('_');
        }
        pending_separator = false;
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_name_spellings_normalise_to_the_same_words() {
        let cases: &[(&str, &str, bool)] = &[
            ("delete_file", "delete_file", false),
            ("DeleteFile", "delete_file", false),
            ("deleteFile", "delete_file", false),
            ("delete-file", "delete_file", false),
            ("delete.file", "delete_file", false),
            ("DELETE_FILE", "delete_file", false),
            ("__delete__file__", "delete_file", false),
            ("delete file", "delete_file", true),
            ("delete/file", "delete_file", true),
            ("fs:delete_file", "fs_delete_file", true),
            ("d\u{0435}lete_file", "delete_file", true), // Cyrillic е
            ("D\u{0415}LETE_FILE", "delete_file", true), // Cyrillic Е
            (
                "\u{FF44}\u{FF45}\u{FF4C}\u{FF45}\u{FF54}\u{FF45}_file",
                "delete_file",
                true,
            ), // fullwidth
            ("delete\u{200B}_file", "delete_file", true),
            ("del\u{200D}ete_file", "delete_file", true),
            ("delete\u{00AD}File", "delete_file", true),
            ("de\u{0301}lete_file", "delete_file", true), // combining acute
            ("dél\u{00E9}te_file", "delete_file", true),
            ("\u{1D41D}elete_file", "delete_file", true), // mathematical bold d
            ("\u{0456}nstall_package", "install_package", true), // Ukrainian і
            ("\u{0406}nstallPackage", "install_package", true), // Cyrillic capital І
            ("run_\u{0455}h\u{0435}ll", "run_shell", true),
            ("run_sh\u{03B5}ll", "run_shell", true), // Greek ε
            ("\u{0455}\u{0501}k_\u{043A}ey", "sdk_key", true),
            ("HTTPRequest", "http_request", false),
            ("getHTTPResponse", "get_http_response", false),
            ("s3Bucket", "s3_bucket", false),
            ("S3DeleteBucket", "s3_delete_bucket", false),
            ("mcp__github__delete_repo", "mcp_github_delete_repo", false),
            ("delete_file_v2", "delete_file_v2", false),
            ("", "", true),
            ("___", "", true),
            ("\u{200B}", "", true),
            ("削除", "削除", true),
        ];
        for (raw, expected, suspicious) in cases {
            assert_eq!(
                normalize_tool_name(raw),
                (expected.to_string(), *suspicious),
                "raw {raw:?}"
            );
        }
    }

    #[test]
    fn ascii_names_are_not_passed_through_the_skeleton() {
        // The UTS #39 skeleton of `Install` is `lnstall`; ASCII must stay as written.
        assert_eq!(normalize_tool_name("Install").0, "install");
        assert_eq!(normalize_tool_name("rm_rf").0, "rm_rf");
        assert_eq!(normalize_tool_name("O1").0, "o1");
    }

    #[test]
    fn digit_lookalike_letters_stay_letters() {
        // Cyrillic З looks like 3; turning it into a digit would not help any glob.
        let (normalized, suspicious) = normalize_tool_name("\u{0417}apis");
        assert!(suspicious);
        assert!(!normalized.starts_with('3'), "{normalized}");
    }

    fn single(body: Value) -> McpFacts {
        classify_jsonrpc(&body).unwrap()
    }

    #[test]
    fn tools_call_extracts_tool_and_arguments() {
        let facts = single(json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "DeleteFile", "arguments": {"path": "/etc/passwd", "opts": {"recursive": true, "paths": ["/a", {"b": 1}]}}}
        }));
        assert!(!facts.batch);
        assert!(facts.malformed.is_empty(), "{:?}", facts.malformed);
        let message = &facts.messages[0];
        assert_eq!(message.method, "tools/call");
        assert_eq!(message.id, Some(json!(7)));
        assert_eq!(message.tool.as_deref(), Some("DeleteFile"));
        assert_eq!(message.tool_normalized.as_deref(), Some("delete_file"));
        assert!(!message.tool_name_suspicious);
        assert_eq!(
            message.arguments.as_ref().unwrap()["opts"]["paths"][1]["b"],
            json!(1)
        );
        assert_eq!(message.resource_uri, None);
    }

    #[test]
    fn resources_read_and_prompts_get() {
        let facts = single(
            json!({"jsonrpc": "2.0", "id": "r1", "method": "resources/read", "params": {"uri": "file:///etc/shadow"}}),
        );
        assert_eq!(
            facts.messages[0].resource_uri.as_deref(),
            Some("file:///etc/shadow")
        );
        assert_eq!(facts.messages[0].tool, None);

        let facts = single(
            json!({"jsonrpc": "2.0", "id": 2, "method": "prompts/get", "params": {"name": "code_review", "arguments": {"code": "x"}}}),
        );
        assert_eq!(facts.messages[0].prompt.as_deref(), Some("code_review"));
        assert_eq!(facts.messages[0].arguments, Some(json!({"code": "x"})));
        assert!(facts.malformed.is_empty());

        let facts = single(
            json!({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe", "params": {"uri": "db://prod"}}),
        );
        assert_eq!(facts.messages[0].resource_uri.as_deref(), Some("db://prod"));
    }

    #[test]
    fn notifications_and_other_methods_are_messages() {
        let facts = single(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert_eq!(facts.messages.len(), 1);
        assert_eq!(facts.messages[0].id, None);
        assert_eq!(facts.messages[0].method, "notifications/initialized");
        assert!(facts.malformed.is_empty());

        let facts = single(json!({"jsonrpc": "2.0", "id": null, "method": "tools/list"}));
        assert_eq!(facts.messages[0].id, Some(Value::Null));
        assert!(facts.malformed.is_empty());
    }

    #[test]
    fn non_jsonrpc_bodies_are_none() {
        let cases = [
            json!({"method": "card", "amount": 5}),
            json!({"method": "card", "id": "x"}),
            json!({"query": "{ a }"}),
            json!({"jsonrpc": "2.0", "id": 1, "result": {}}),
            json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "no"}}),
            json!([{"jsonrpc": "2.0", "id": 1, "result": {}}, {"jsonrpc": "2.0", "id": 2, "error": {}}]),
            json!([]),
            json!([1, "two", {"a": 3}]),
            json!("tools/call"),
            json!(null),
            json!(42),
        ];
        for body in cases {
            assert_eq!(classify_jsonrpc(&body), None, "{body}");
        }
    }

    #[test]
    fn batch_classifies_every_element() {
        let facts = single(json!([
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 2, "result": {"ok": true}},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "read_file", "arguments": {"path": "a"}}},
            {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}},
            {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "drop-database", "arguments": {"db": "prod"}}}
        ]));
        assert!(facts.batch);
        assert!(facts.malformed.is_empty(), "{:?}", facts.malformed);
        let methods: Vec<&str> = facts.messages.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(
            methods,
            [
                "tools/list",
                "tools/call",
                "notifications/progress",
                "tools/call"
            ]
        );
        let tools: Vec<&str> = facts
            .messages
            .iter()
            .filter_map(|m| m.tool_normalized.as_deref())
            .collect();
        assert_eq!(tools, ["read_file", "drop_database"]);
    }

    #[test]
    fn batch_with_malformed_and_foreign_elements() {
        let facts = single(json!([
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}},
            {"jsonrpc": "2.0", "id": 2, "method": 5},
            "garbage",
            {"method": "tools/call", "params": {"name": "rm"}},
            {"jsonrpc": "2.0", "id": 3}
        ]));
        assert_eq!(facts.messages.len(), 2);
        assert_eq!(facts.messages[1].tool.as_deref(), Some("rm"));
        assert_eq!(
            facts.malformed,
            [
                "element 1: `method` is not a string",
                "element 2: element is not a JSON-RPC 2.0 message",
                "element 3: no `jsonrpc` member (a JSON-RPC 2.0 message must have `\"jsonrpc\": \"2.0\"`)",
                "element 4: neither `method` nor `result`/`error` present",
            ]
        );
    }

    #[test]
    fn requests_without_a_version_are_still_classified() {
        for body in [
            json!({"method": "tools/call", "params": {"name": "delete_file", "arguments": {"path": "/"}}}),
            json!({"id": 1, "method": "tools/call", "params": {"name": "delete_file"}}),
            json!({"method": "TOOLS/CALL", "params": {"name": "delete_file"}, "meta": 1}),
            json!({"method": "custom", "params": {"name": "delete_file"}}),
            json!([{"method": "tools/call", "params": {"name": "delete_file"}}]),
        ] {
            let facts = classify_jsonrpc(&body).unwrap_or_else(|| panic!("{body}"));
            assert!(
                facts
                    .malformed
                    .iter()
                    .any(|m| m.contains("no `jsonrpc` member")),
                "{body}: {:?}",
                facts.malformed
            );
            assert_eq!(facts.messages.len(), 1, "{body}");
        }
        let facts = single(json!({"method": "tools/call", "params": {"name": "delete_file"}}));
        assert_eq!(
            facts.messages[0].tool_normalized.as_deref(),
            Some("delete_file")
        );
        let facts = single(json!({"id": 1, "method": "ping"}));
        assert_eq!(facts.messages[0].method, "ping");
        // A version other than 2.0 is classified too.
        let facts =
            single(json!({"jsonrpc": "1.0", "method": "tools/call", "params": {"name": "x"}}));
        assert_eq!(facts.messages[0].tool.as_deref(), Some("x"));
        assert!(!facts.malformed.is_empty());
    }

    #[test]
    fn code_execution_tools() {
        let runs = |name: &str, arguments: Value| {
            let facts = single(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": name, "arguments": arguments}}));
            facts.messages[0].code_execution
        };
        for name in [
            "run_python",
            "exec",
            "shell",
            "bash",
            "execute_command",
            "run_code",
            "eval",
            "terminal",
            "runShellCommand",
            "python_repl",
            "code_interpreter",
            "RunScript",
            "invoke-script",
            "node.run_js",
            "runpython",
            "sandbox_exec",
            "ssh_session",
            "system_command",
            "command_runner",
            "start_process",
            "run_c\u{043E}de",
            "\u{0435}x\u{0435}c",
        ] {
            assert!(runs(name, json!({})), "{name}");
        }
        for name in [
            "get_weather",
            "read_file",
            "search_code",
            "list_scripts",
            "run_query",
        ] {
            assert!(!runs(name, json!({"path": "/x", "query": "q"})), "{name}");
        }
        // Arguments that carry commands.
        assert!(runs("do_task", json!({"command": "rm -rf /"})));
        assert!(runs("helper", json!({"Shell_Command": "ls"})));
        assert!(runs("run", json!({"code": "print(1)"})));
        assert!(!runs("lookup", json!({"code": "ABC-123"})));
    }

    #[test]
    fn batch_of_only_malformed_claims_is_still_jsonrpc() {
        let facts = single(json!([{"jsonrpc": "2.0", "method": ["tools/call"]}]));
        assert!(facts.batch);
        assert!(facts.messages.is_empty());
        assert_eq!(facts.malformed.len(), 1);
    }

    #[test]
    fn nested_batch_is_malformed() {
        let facts = single(
            json!([[{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "rm"}}]]),
        );
        assert_eq!(facts.malformed, ["element 0: nested batch"]);
        assert!(facts.messages.is_empty());
        assert_eq!(classify_jsonrpc(&json!([[1, 2], [3]])), None);
    }

    #[test]
    fn malformed_single_messages() {
        let cases: &[(Value, &str)] = &[
            (
                json!({"jsonrpc": "2.0", "id": 1, "method": {"x": 1}}),
                "`method` is not a string",
            ),
            (
                json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": "rm -rf /"}),
                "`params` is not an object or array",
            ),
            (
                json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": null}),
                "`params` is not an object or array",
            ),
            (
                json!({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}),
                "`id` is not a string, number or null",
            ),
            (
                json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}),
                "`jsonrpc` is not \"2.0\"",
            ),
            (
                json!({"jsonrpc": 2.0, "id": 1, "method": "ping"}),
                "`jsonrpc` is not \"2.0\"",
            ),
            (
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 5}}),
                "tools/call without a string `params.name`",
            ),
            (
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}),
                "tools/call without a string `params.name`",
            ),
            (
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "arguments": "{\"path\":\"/\"}"}}),
                "tools/call `params.arguments` is not an object",
            ),
            (
                json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": ["a"]}}),
                "resources/read without a string `params.uri`",
            ),
            (
                json!({"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {}}),
                "prompts/get without a string `params.name`",
            ),
            (
                json!({"jsonrpc": "2.0"}),
                "neither `method` nor `result`/`error` present",
            ),
        ];
        for (body, reason) in cases {
            let facts = single(body.clone());
            assert_eq!(facts.malformed, [reason.to_string()], "{body}");
        }
    }

    #[test]
    fn tools_call_with_unreadable_params_reports_every_problem() {
        let facts = single(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "rm -rf /"}),
        );
        assert_eq!(
            facts.malformed,
            [
                "`params` is not an object or array",
                "tools/call without a string `params.name`"
            ]
        );
        assert_eq!(facts.messages[0].tool, None);

        let facts = single(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ["rm", {}]}),
        );
        assert_eq!(
            facts.malformed,
            [
                "tools/call `params` is not an object",
                "tools/call without a string `params.name`"
            ]
        );
    }

    #[test]
    fn wrong_version_still_reports_the_tool() {
        let facts = single(
            json!({"jsonrpc": "1.0", "id": 1, "method": "tools/call", "params": {"name": "exec_shell"}}),
        );
        assert_eq!(facts.malformed.len(), 1);
        assert_eq!(facts.messages[0].tool.as_deref(), Some("exec_shell"));
    }

    #[test]
    fn unusual_method_spelling_is_extracted_and_flagged() {
        let facts = single(
            json!({"jsonrpc": "2.0", "id": 1, "method": " Tools/Call", "params": {"name": "rm_rf"}}),
        );
        assert_eq!(facts.messages[0].method, " Tools/Call");
        assert_eq!(facts.messages[0].tool_normalized.as_deref(), Some("rm_rf"));
        assert_eq!(facts.malformed.len(), 1);
        assert!(facts.malformed[0].contains("unusual spelling"));
    }

    #[test]
    fn disguised_tool_name_is_suspicious_and_normalised() {
        let facts = single(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "d\u{0435}lete\u{200B}File"}}),
        );
        let message = &facts.messages[0];
        assert_eq!(message.tool.as_deref(), Some("d\u{0435}lete\u{200B}File"));
        assert_eq!(message.tool_normalized.as_deref(), Some("delete_file"));
        assert!(message.tool_name_suspicious);
        assert!(facts.malformed.is_empty());
    }

    #[test]
    fn null_or_missing_arguments_are_none() {
        let facts = single(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "arguments": null}}),
        );
        assert_eq!(facts.messages[0].arguments, None);
        assert!(facts.malformed.is_empty());
        let facts = single(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}}),
        );
        assert_eq!(facts.messages[0].arguments, None);
    }

    #[test]
    fn message_with_method_and_result_is_a_request() {
        let facts = single(
            json!([{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "result": {}, "params": {"name": "wipe"}}]),
        );
        assert_eq!(facts.messages[0].tool.as_deref(), Some("wipe"));
    }

    #[test]
    fn facts_serialise_as_json() {
        let facts = single(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "arguments": {}}}),
        );
        let text = serde_json::to_value(&facts).unwrap();
        assert_eq!(text["messages"][0]["tool_normalized"], json!("x"));
        assert_eq!(text["batch"], json!(false));
    }
}
