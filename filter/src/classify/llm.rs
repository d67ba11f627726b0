//! LLM API request classification: OpenAI Chat Completions, OpenAI Responses and Anthropic
//! Messages.
//!
//! An agent's own model calls say a lot about what it is about to do: which model it uses,
//! which tools it offers the model (a `bash` or `computer_use` tool means the model may drive
//! a shell or a desktop), and whether the conversation already carries tool calls or tool
//! results (data flowing back from tools into the model). This module reduces such a request
//! to [`LlmFacts`].
//!
//! Recognition: by path suffix (`/chat/completions`, `/responses`, `/messages` under any
//! prefix, e.g. `/v1`, `/openai/v1`, `/openai/deployments/x`, `/api/anthropic/v1`), or by body
//! shape on unfamiliar paths (`model` + `messages` → chat completions, or Anthropic messages
//! when the body carries `max_tokens` with Anthropic-only markers, or `anthropic_version`;
//! `model` + `input` → responses). Paths that clearly name another endpoint (embeddings,
//! moderations, audio, images, token counting) are never recognised by shape.
//!
//! Being conservative: tool declarations, tool calls and tool results are looked for in the
//! shapes of *all three* APIs whatever the detected API is, so mixing formats cannot hide a
//! tool; a tool entry that cannot be read is reported as [`UNREADABLE_TOOL`].

use serde_json::{Map, Value};

/// Reported in [`LlmFacts::tools`] for a tool declaration that has neither a name nor a type.
pub const UNREADABLE_TOOL: &str = "<unreadable>";

/// Which LLM API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmApi {
    /// OpenAI `POST /v1/chat/completions` (and compatible servers).
    OpenaiChatCompletions,
    /// OpenAI `POST /v1/responses`.
    OpenaiResponses,
    /// Anthropic `POST /v1/messages`.
    AnthropicMessages,
}

/// Facts about one LLM API request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LlmFacts {
    /// The API the request is for.
    pub api: LlmApi,
    /// The requested model (`model`), when it is a string.
    pub model: Option<String>,
    /// The request asks for a streamed response (`"stream": true`).
    pub stream: bool,
    /// Tools offered to the model, in declaration order, each listed once: function/custom
    /// tool names, and the `type` of built-in/server tools (e.g. `web_search`,
    /// `code_interpreter`, `bash_20250124`; both name and type when both are given). Remote
    /// MCP servers the provider should call are listed as `mcp:<label>`.
    pub tools: Vec<String>,
    /// The conversation carries tool output back to the model (`role: tool`/`function`
    /// messages, `*_output` input items, `tool_result` content blocks).
    pub tool_results_present: bool,
    /// The conversation carries tool calls made by the model (assistant `tool_calls`,
    /// `function_call` and other `*_call` items, `tool_use` content blocks).
    pub tool_calls_present: bool,
}

/// Path suffixes of the supported APIs (compared case-insensitively, after the query string
/// and trailing slashes are removed).
const API_PATH_SUFFIXES: [(&str, LlmApi); 3] = [
    ("/chat/completions", LlmApi::OpenaiChatCompletions),
    ("/responses", LlmApi::OpenaiResponses),
    ("/messages", LlmApi::AnthropicMessages),
];

/// Paths of other model endpoints whose bodies can look similar (`model` + `input` is also
/// an embeddings or speech request); these are never classified by body shape.
const OTHER_ENDPOINT_SUFFIXES: [&str; 8] = [
    "/embeddings",
    "/moderations",
    "/count_tokens",
    "/input_tokens",
    "/audio/speech",
    "/audio/transcriptions",
    "/audio/translations",
    "/images/generations",
];

/// Body members of which at least one must be present for a path match to count, so that an
/// unrelated `/messages` endpoint (a chat app, a mail API) is not reported as an LLM call.
const LLM_BODY_MEMBERS: [&str; 7] = [
    "model",
    "messages",
    "input",
    "tools",
    "functions",
    "anthropic_version",
    "system",
];

/// Classifies an LLM API request from its (normalised) path and parsed JSON body; `None`
/// when it is not one of the supported APIs.
pub fn classify_llm(path: &str, body: &Value) -> Option<LlmFacts> {
    let object = body.as_object()?;
    let path = comparable_path(path);
    let api = api_from_path(&path)
        .filter(|_| LLM_BODY_MEMBERS.iter().any(|m| object.contains_key(*m)))
        .or_else(|| api_from_shape(&path, object))?;

    let mut facts = LlmFacts {
        api,
        model: object
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_owned),
        stream: object.get("stream").and_then(Value::as_bool) == Some(true),
        tools: Vec::new(),
        tool_results_present: false,
        tool_calls_present: false,
    };
    collect_tools(object, &mut facts.tools);
    for conversation in ["messages", "input"] {
        if let Some(Value::Array(items)) = object.get(conversation) {
            for item in items {
                scan_conversation_item(item, &mut facts);
            }
        }
    }
    Some(facts)
}

/// Lowercased path without query string, fragment and trailing slashes.
fn comparable_path(path: &str) -> String {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    path.get(..end)
        .unwrap_or(path)
        .trim_end_matches('/')
        .to_ascii_lowercase()
}

fn api_from_path(path: &str) -> Option<LlmApi> {
    API_PATH_SUFFIXES
        .iter()
        .find(|(suffix, _)| path.ends_with(suffix))
        .map(|(_, api)| *api)
}

fn api_from_shape(path: &str, object: &Map<String, Value>) -> Option<LlmApi> {
    if OTHER_ENDPOINT_SUFFIXES
        .iter()
        .any(|suffix| path.ends_with(suffix))
    {
        return None;
    }
    let has = |member: &str| object.contains_key(member);
    if has("messages") && (has("model") || has("anthropic_version")) {
        return Some(if looks_anthropic(object) {
            LlmApi::AnthropicMessages
        } else {
            LlmApi::OpenaiChatCompletions
        });
    }
    if has("model") && has("input") {
        return Some(LlmApi::OpenaiResponses);
    }
    None
}

/// Anthropic Messages bodies always carry `max_tokens` (Bedrock/Vertex ones carry
/// `anthropic_version` instead of `model`) and use a top-level `system`, Anthropic-only
/// content blocks, or tools with an `input_schema`.
fn looks_anthropic(object: &Map<String, Value>) -> bool {
    if object.contains_key("anthropic_version") {
        return true;
    }
    if !object.contains_key("max_tokens") {
        return false;
    }
    let system_prompt = matches!(
        object.get("system"),
        Some(Value::String(_) | Value::Array(_))
    );
    let anthropic_tools = array_items(object.get("tools")).any(|tool| {
        tool.get("input_schema").is_some() || tool_type(tool).is_some_and(is_versioned_server_tool)
    });
    let anthropic_blocks = array_items(object.get("messages"))
        .flat_map(|message| array_items(message.get("content")))
        .any(is_anthropic_block);
    system_prompt || anthropic_tools || anthropic_blocks
}

/// Content blocks that only Anthropic's Messages API uses.
fn is_anthropic_block(block: &Value) -> bool {
    let Some(block_type) = block.get("type").and_then(Value::as_str) else {
        return false;
    };
    matches!(
        block_type,
        "tool_use"
            | "tool_result"
            | "thinking"
            | "redacted_thinking"
            | "document"
            | "search_result"
            | "container_upload"
    ) || block_type.ends_with("_tool_use")
        || block_type.ends_with("_tool_result")
        || (block_type == "image" && block.get("source").is_some())
        || block.get("cache_control").is_some()
}

/// Anthropic server tools are typed `<name>_<yyyymmdd>`, e.g. `bash_20250124`.
fn is_versioned_server_tool(tool_type: &str) -> bool {
    tool_type
        .rsplit_once('_')
        .is_some_and(|(_, date)| date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()))
}

fn array_items(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter())
        .into_iter()
        .flatten()
}

fn tool_type(tool: &Value) -> Option<&str> {
    tool.get("type").and_then(Value::as_str)
}

/// Tool declarations from `tools` (all three APIs), legacy `functions`, and Anthropic's
/// `mcp_servers`.
fn collect_tools(object: &Map<String, Value>, tools: &mut Vec<String>) {
    let mut push = |name: String| {
        if !tools.contains(&name) {
            tools.push(name);
        }
    };
    match object.get("tools") {
        None | Some(Value::Null) => {}
        Some(Value::Array(declarations)) => {
            for declaration in declarations {
                tool_names(declaration, &mut push);
            }
        }
        Some(_) => push(UNREADABLE_TOOL.to_owned()),
    }
    match object.get("functions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(functions)) => {
            for function in functions {
                match function.get("name").and_then(Value::as_str) {
                    Some(name) => push(name.to_owned()),
                    None => push(UNREADABLE_TOOL.to_owned()),
                }
            }
        }
        Some(_) => push(UNREADABLE_TOOL.to_owned()),
    }
    match object.get("mcp_servers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(servers)) => {
            for server in servers {
                let label = server.get("name").and_then(Value::as_str).unwrap_or("");
                push(format!("mcp:{label}"));
            }
        }
        Some(_) => push("mcp:".to_owned()),
    }
}

/// The names one `tools[]` entry contributes.
fn tool_names(declaration: &Value, push: &mut impl FnMut(String)) {
    let Some(declaration) = declaration.as_object() else {
        push(UNREADABLE_TOOL.to_owned());
        return;
    };
    let declared_type = declaration.get("type").and_then(Value::as_str);
    // Chat Completions nests the name (`function.name`, `custom.name`); Responses and
    // Anthropic put it at the top.
    let name = ["function", "custom"]
        .iter()
        .filter_map(|nested| declaration.get(*nested))
        .find_map(|nested| nested.get("name").and_then(Value::as_str))
        .or_else(|| declaration.get("name").and_then(Value::as_str));

    if let Some(name) = name {
        push(name.to_owned());
    }
    match declared_type {
        // A function/custom tool is known by its name alone; without one it is unreadable.
        Some("function" | "custom") | None => {
            if name.is_none() {
                push(UNREADABLE_TOOL.to_owned());
            }
        }
        Some(declared_type) => {
            if Some(declared_type) != name {
                push(declared_type.to_owned());
            }
        }
    }
    if declared_type == Some("mcp") {
        let label = declaration
            .get("server_label")
            .and_then(Value::as_str)
            .unwrap_or("");
        push(format!("mcp:{label}"));
    }
}

/// Looks for tool calls and tool results in one `messages[]`/`input[]` item and its content
/// blocks.
fn scan_conversation_item(item: &Value, facts: &mut LlmFacts) {
    let Some(item) = item.as_object() else {
        return;
    };
    if let Some(role) = item.get("role").and_then(Value::as_str) {
        if matches!(role, "tool" | "function") {
            facts.tool_results_present = true;
        }
    }
    let present = |member: &str| match item.get(member) {
        None | Some(Value::Null) => false,
        Some(Value::Array(calls)) => !calls.is_empty(),
        Some(_) => true,
    };
    if present("tool_calls") || present("function_call") {
        facts.tool_calls_present = true;
    }
    if let Some(item_type) = item.get("type").and_then(Value::as_str) {
        classify_block_type(item_type, facts);
    }
    for block in array_items(item.get("content")) {
        if let Some(block_type) = block.get("type").and_then(Value::as_str) {
            classify_block_type(block_type, facts);
        }
    }
}

/// Sets the tool flags for an item or content-block `type`.
fn classify_block_type(block_type: &str, facts: &mut LlmFacts) {
    if block_type == "tool_result"
        || block_type.ends_with("_tool_result")
        || block_type.ends_with("_output")
    {
        facts.tool_results_present = true;
    } else if block_type == "tool_use"
        || block_type.ends_with("_tool_use")
        || block_type.ends_with("_call")
    {
        facts.tool_calls_present = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn classify(path: &str, body: Value) -> LlmFacts {
        classify_llm(path, &body).unwrap_or_else(|| panic!("not recognised: {path} {body}"))
    }

    #[test]
    fn api_from_path_suffix() {
        let body = json!({"model": "m", "messages": [], "input": "x"});
        let cases: &[(&str, LlmApi)] = &[
            ("/v1/chat/completions", LlmApi::OpenaiChatCompletions),
            ("/openai/v1/chat/completions", LlmApi::OpenaiChatCompletions),
            (
                "/openai/deployments/gpt4/chat/completions?api-version=2024-10-21",
                LlmApi::OpenaiChatCompletions,
            ),
            ("/v1/chat/completions/", LlmApi::OpenaiChatCompletions),
            ("/V1/Chat/Completions", LlmApi::OpenaiChatCompletions),
            ("/v1/responses", LlmApi::OpenaiResponses),
            ("/openai/v1/responses", LlmApi::OpenaiResponses),
            ("/v1/messages", LlmApi::AnthropicMessages),
            ("/api/anthropic/v1/messages", LlmApi::AnthropicMessages),
            ("/v1/messages?beta=true", LlmApi::AnthropicMessages),
        ];
        for (path, api) in cases {
            assert_eq!(classify(path, body.clone()).api, *api, "{path}");
        }
    }

    #[test]
    fn api_from_body_shape() {
        let cases: &[(&str, Value, LlmApi)] = &[
            (
                "/proxy",
                json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
                LlmApi::OpenaiChatCompletions,
            ),
            (
                "/proxy",
                json!({"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "system", "content": "s"}]}),
                LlmApi::OpenaiChatCompletions,
            ),
            (
                "/proxy",
                json!({"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
                LlmApi::OpenaiChatCompletions,
            ),
            (
                "/proxy",
                json!({"model": "claude", "max_tokens": 5, "system": "be nice", "messages": []}),
                LlmApi::AnthropicMessages,
            ),
            (
                "/proxy",
                json!({"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]}),
                LlmApi::AnthropicMessages,
            ),
            (
                "/proxy",
                json!({"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}]}),
                LlmApi::AnthropicMessages,
            ),
            (
                "/proxy",
                json!({"model": "claude", "max_tokens": 5, "messages": [], "tools": [{"name": "x", "input_schema": {}}]}),
                LlmApi::AnthropicMessages,
            ),
            (
                "/model/claude/invoke",
                json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": []}),
                LlmApi::AnthropicMessages,
            ),
            (
                "/proxy",
                json!({"model": "gpt-5", "input": "hello"}),
                LlmApi::OpenaiResponses,
            ),
            (
                "/proxy",
                json!({"model": "gpt-5", "input": [{"role": "user", "content": "hi"}]}),
                LlmApi::OpenaiResponses,
            ),
        ];
        for (path, body, api) in cases {
            assert_eq!(classify(path, body.clone()).api, *api, "{body}");
        }
    }

    #[test]
    fn not_llm_requests() {
        let cases: &[(&str, Value)] = &[
            ("/v1/chat/completions", json!([{"model": "m"}])),
            ("/v1/chat/completions", json!("model")),
            ("/api/messages", json!({"text": "hello", "channel": "c"})),
            ("/survey/responses", json!({"answers": [1, 2]})),
            ("/proxy", json!({"messages": []})),
            ("/proxy", json!({"model": "m"})),
            (
                "/v1/embeddings",
                json!({"model": "text-embedding-3", "input": "x"}),
            ),
            (
                "/v1/audio/speech",
                json!({"model": "tts-1", "input": "x", "voice": "alloy"}),
            ),
            (
                "/v1/messages/count_tokens",
                json!({"model": "claude", "max_tokens": 1, "messages": []}),
            ),
            ("/v1/completions", json!({"model": "m", "prompt": "x"})),
        ];
        for (path, body) in cases {
            assert_eq!(classify_llm(path, body), None, "{path} {body}");
        }
    }

    #[test]
    fn model_and_stream() {
        let facts = classify(
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "stream": true, "messages": []}),
        );
        assert_eq!(facts.model.as_deref(), Some("gpt-4o"));
        assert!(facts.stream);
        let facts = classify(
            "/v1/chat/completions",
            json!({"model": 5, "stream": "true", "messages": []}),
        );
        assert_eq!(facts.model, None);
        assert!(!facts.stream);
        let facts = classify(
            "/openai/deployments/d/chat/completions",
            json!({"messages": []}),
        );
        assert_eq!(facts.model, None);
    }

    #[test]
    fn openai_chat_tools_calls_and_results() {
        let facts = classify(
            "/v1/chat/completions",
            json!({
                "model": "gpt-4o",
                "tools": [
                    {"type": "function", "function": {"name": "run_shell", "parameters": {}}},
                    {"type": "function", "function": {"name": "read_file"}},
                    {"type": "custom", "custom": {"name": "apply_patch"}}
                ],
                "functions": [{"name": "legacy_delete"}, {"name": "run_shell"}],
                "messages": [
                    {"role": "user", "content": "go"},
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "run_shell", "arguments": "{}"}}]},
                    {"role": "tool", "tool_call_id": "c1", "content": "root"}
                ]
            }),
        );
        assert_eq!(
            facts.tools,
            ["run_shell", "read_file", "apply_patch", "legacy_delete"]
        );
        assert!(facts.tool_calls_present);
        assert!(facts.tool_results_present);
    }

    #[test]
    fn openai_chat_without_tool_traffic() {
        let facts = classify(
            "/v1/chat/completions",
            json!({
                "model": "gpt-4o",
                "messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "hi", "tool_calls": []}]
            }),
        );
        assert!(facts.tools.is_empty());
        assert!(!facts.tool_calls_present);
        assert!(!facts.tool_results_present);
    }

    #[test]
    fn legacy_function_call_and_function_role() {
        let facts = classify(
            "/v1/chat/completions",
            json!({
                "model": "gpt-3.5-turbo",
                "messages": [
                    {"role": "assistant", "function_call": {"name": "x", "arguments": "{}"}},
                    {"role": "function", "name": "x", "content": "out"}
                ]
            }),
        );
        assert!(facts.tool_calls_present);
        assert!(facts.tool_results_present);
    }

    #[test]
    fn responses_tools_and_items() {
        let facts = classify(
            "/v1/responses",
            json!({
                "model": "gpt-5",
                "stream": true,
                "tools": [
                    {"type": "function", "name": "delete_branch", "parameters": {}},
                    {"type": "web_search"},
                    {"type": "code_interpreter", "container": {"type": "auto"}},
                    {"type": "computer_use_preview", "display_width": 1024},
                    {"type": "mcp", "server_label": "github", "server_url": "https://example.test/mcp"},
                    {"type": "custom", "name": "sql"}
                ],
                "input": [
                    {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                    {"type": "function_call", "call_id": "c1", "name": "delete_branch", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c1", "output": "done"}
                ]
            }),
        );
        assert_eq!(
            facts.tools,
            [
                "delete_branch",
                "web_search",
                "code_interpreter",
                "computer_use_preview",
                "mcp",
                "mcp:github",
                "sql"
            ]
        );
        assert!(facts.stream);
        assert!(facts.tool_calls_present);
        assert!(facts.tool_results_present);
    }

    #[test]
    fn responses_other_call_and_output_items() {
        let cases: &[(Value, bool, bool)] = &[
            (
                json!({"type": "computer_call", "call_id": "c"}),
                true,
                false,
            ),
            (
                json!({"type": "computer_call_output", "call_id": "c"}),
                false,
                true,
            ),
            (json!({"type": "local_shell_call"}), true, false),
            (json!({"type": "local_shell_call_output"}), false, true),
            (json!({"type": "mcp_call"}), true, false),
            (json!({"type": "custom_tool_call_output"}), false, true),
            (
                json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]}),
                false,
                false,
            ),
            (json!({"type": "reasoning", "summary": []}), false, false),
        ];
        for (item, calls, results) in cases {
            let facts = classify("/v1/responses", json!({"model": "m", "input": [item]}));
            assert_eq!(facts.tool_calls_present, *calls, "{item}");
            assert_eq!(facts.tool_results_present, *results, "{item}");
        }
    }

    #[test]
    fn responses_string_input_has_no_tool_traffic() {
        let facts = classify(
            "/v1/responses",
            json!({"model": "m", "input": "call the function_call tool_result"}),
        );
        assert!(!facts.tool_calls_present);
        assert!(!facts.tool_results_present);
    }

    #[test]
    fn anthropic_tools_and_blocks() {
        let facts = classify(
            "/v1/messages",
            json!({
                "model": "claude-sonnet-4",
                "max_tokens": 1024,
                "tools": [
                    {"name": "get_weather", "input_schema": {"type": "object"}},
                    {"type": "bash_20250124", "name": "bash"},
                    {"type": "computer_20250124", "name": "computer", "display_width_px": 1024},
                    {"type": "web_search_20250305", "name": "web_search"},
                    {"type": "custom", "name": "lookup", "input_schema": {}}
                ],
                "messages": [
                    {"role": "user", "content": "weather?"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "bash", "input": {"command": "ls"}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a b"}]}
                ]
            }),
        );
        assert_eq!(
            facts.tools,
            [
                "get_weather",
                "bash",
                "bash_20250124",
                "computer",
                "computer_20250124",
                "web_search",
                "web_search_20250305",
                "lookup"
            ]
        );
        assert!(facts.tool_calls_present);
        assert!(facts.tool_results_present);
    }

    #[test]
    fn anthropic_server_tool_blocks_and_mcp_servers() {
        let facts = classify(
            "/v1/messages",
            json!({
                "model": "claude",
                "max_tokens": 10,
                "mcp_servers": [{"type": "url", "url": "https://example.test/sse", "name": "crm"}],
                "messages": [
                    {"role": "assistant", "content": [
                        {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}},
                        {"type": "web_search_tool_result", "tool_use_id": "s", "content": []}
                    ]}
                ]
            }),
        );
        assert_eq!(facts.tools, ["mcp:crm"]);
        assert!(facts.tool_calls_present);
        assert!(facts.tool_results_present);
    }

    #[test]
    fn mixed_formats_are_all_scanned() {
        // An Anthropic-path body carrying OpenAI-style tool traffic is still seen.
        let facts = classify(
            "/v1/messages",
            json!({
                "model": "claude",
                "tools": [{"type": "function", "function": {"name": "exec"}}],
                "messages": [{"role": "tool", "content": "x"}],
                "input": [{"type": "function_call"}]
            }),
        );
        assert_eq!(facts.api, LlmApi::AnthropicMessages);
        assert_eq!(facts.tools, ["exec"]);
        assert!(facts.tool_results_present);
        assert!(facts.tool_calls_present);
    }

    #[test]
    fn unreadable_tool_declarations_are_reported() {
        let cases: &[(Value, &[&str])] = &[
            (
                json!({"model": "m", "messages": [], "tools": "bash"}),
                &[UNREADABLE_TOOL],
            ),
            (
                json!({"model": "m", "messages": [], "tools": [42, {"parameters": {}}]}),
                &[UNREADABLE_TOOL],
            ),
            (
                json!({"model": "m", "messages": [], "tools": [{"type": "function", "function": {"name": 5}}]}),
                &[UNREADABLE_TOOL],
            ),
            (
                json!({"model": "m", "messages": [], "functions": [{"description": "no name"}]}),
                &[UNREADABLE_TOOL],
            ),
            (json!({"model": "m", "messages": [], "tools": null}), &[]),
        ];
        for (body, expected) in cases {
            assert_eq!(
                classify("/v1/chat/completions", body.clone()).tools,
                *expected,
                "{body}"
            );
        }
    }

    #[test]
    fn facts_serialise_as_json() {
        let facts = classify("/v1/responses", json!({"model": "m", "input": "x"}));
        let value = serde_json::to_value(&facts).unwrap();
        assert_eq!(value["api"], json!("openai_responses"));
        assert_eq!(value["tool_calls_present"], json!(false));
    }
}
