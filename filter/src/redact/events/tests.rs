use crate::content::Declared;
use crate::redact::{Direction, KnownSecret, Redactor};

/// A GitHub-token-shaped fake the default pack masks.
const TOKEN: &str = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";

fn declared(media: &str) -> Declared {
    Declared {
        media: media.to_string(),
        ..Declared::default()
    }
}

/// `text` cut into `parts` pieces of about equal size, cut inside the token.
fn split(text: &str, parts: usize) -> Vec<String> {
    let at = text.find(TOKEN).expect("the text holds the token");
    let mut cuts = vec![0, at + 3];
    for k in 1..parts - 1 {
        cuts.push(at + 3 + k * (TOKEN.len() - 3) / (parts - 1));
    }
    cuts.push(text.len());
    cuts.windows(2)
        .map(|w| text[w[0]..w[1]].to_string())
        .collect()
}

fn openai_event(delta: &str) -> String {
    let data = serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": null}]
    });
    format!("data: {data}\n\n")
}

fn anthropic_event(delta: &str) -> String {
    let data = serde_json::json!({
        "type": "content_block_delta", "index": 0,
        "delta": {"type": "text_delta", "text": delta}
    });
    format!("event: content_block_delta\ndata: {data}\n\n")
}

fn ollama_line(delta: &str) -> String {
    let data = serde_json::json!({
        "model": "llama3", "message": {"role": "assistant", "content": delta}, "done": false
    });
    format!("{data}\n")
}

fn text_event(delta: &str) -> String {
    format!("data: {delta}\r\n\r\n")
}

/// Masks `stream` chunk by chunk (`chunk` bytes each) and whole; both must agree on
/// what the client reads.
fn masked(r: &Redactor, media: &str, stream: &str, chunk: usize) -> (String, String) {
    let whole = r.redact_body(stream.as_bytes(), &declared(media), Direction::Response);
    let mut masker = r.body_masker(&declared(media), Direction::Response);
    let mut out = Vec::new();
    for piece in stream.as_bytes().chunks(chunk) {
        out.extend(masker.push(piece));
    }
    out.extend(masker.finish());
    (
        String::from_utf8(whole.body).expect("utf-8"),
        String::from_utf8(out).expect("utf-8"),
    )
}

/// No 6-character run of the token survives anywhere.
fn assert_no_token_left(out: &str) {
    for w in TOKEN.as_bytes().windows(6) {
        let w = std::str::from_utf8(w).unwrap_or_default();
        // The prefix is a rule keyword, not a secret.
        if w.starts_with("ghp_") {
            continue;
        }
        assert!(!out.contains(w), "{w} leaked in {out}");
    }
}

/// Every SSE event's data is valid JSON.
fn assert_well_formed_sse(out: &str) {
    for event in out.split("\n\n").filter(|e| !e.trim().is_empty()) {
        for line in event.lines().filter(|l| l.starts_with("data:")) {
            let data = line.trim_start_matches("data:").trim();
            serde_json::from_str::<serde_json::Value>(data)
                .unwrap_or_else(|e| panic!("{e}: {data}"));
        }
    }
}

#[test]
fn a_secret_split_over_llm_deltas_is_masked_in_every_format() {
    let r = Redactor::with_defaults().expect("default pack");
    let text = format!("Here is the token: {TOKEN} and some more text after it.");
    for parts in 2..=4 {
        let deltas = split(&text, parts);
        type Render = fn(&str) -> String;
        let formats: [(&str, Render); 4] = [
            ("text/event-stream", openai_event),
            ("text/event-stream", anthropic_event),
            ("application/x-ndjson", ollama_line),
            ("text/event-stream", text_event),
        ];
        for (media, render) in formats {
            let stream: String = deltas.iter().map(|d| render(d)).collect();
            for chunk in [1, 7, 64, stream.len()] {
                let (whole, streamed) = masked(&r, media, &stream, chunk);
                assert_no_token_left(&whole);
                assert_no_token_left(&streamed);
                assert!(whole.contains("[REDACTED:"), "{whole}");
                assert_eq!(whole, streamed, "{parts} parts, chunk {chunk}");
                if media == "text/event-stream" && !stream.starts_with("data: Here") {
                    assert_well_formed_sse(&whole);
                }
            }
        }
    }
}

#[test]
fn text_without_secrets_goes_on_byte_for_byte() {
    let r = Redactor::with_defaults().expect("default pack");
    let words = [
        "Hello", ",", " how", " can", " I", " help", " you", " today", "?",
    ];
    let stream: String =
        words.iter().map(|w| openai_event(w)).collect::<String>() + "data: [DONE]\n\n";
    let (whole, streamed) = masked(&r, "text/event-stream", &stream, 5);
    assert_eq!(whole, stream);
    assert_eq!(streamed, stream);
}

#[test]
fn only_an_open_word_is_held_and_a_flush_sends_it() {
    let r = Redactor::with_defaults().expect("default pack");
    let mut masker = r.body_masker(&declared("text/event-stream"), Direction::Response);
    let first = masker.push(openai_event("The key is").as_bytes());
    // `is` may continue in the next event: held.
    assert!(first.is_empty(), "{}", String::from_utf8_lossy(&first));
    assert!(masker.holds_events());
    let second = masker.push(openai_event(" ghp_9xQ2").as_bytes());
    // The space closed `is`: the first event goes; the second is open.
    assert_eq!(String::from_utf8_lossy(&second), openai_event("The key is"));
    let third = masker.push(openai_event(&TOKEN[8..]).as_bytes());
    assert!(third.is_empty());
    let flushed = String::from_utf8(masker.flush_events()).expect("utf-8");
    assert!(!masker.holds_events());
    assert_no_token_left(&flushed);
    assert!(flushed.contains("[REDACTED:"), "{flushed}");
    assert_well_formed_sse(&flushed);
}

#[test]
fn a_known_secret_split_over_events_is_masked() {
    let r = Redactor::with_defaults().expect("default pack");
    let secret = "injected-Cred-0b7e4d19a2";
    r.set_known_secrets(&[KnownSecret::new("upstream", secret)])
        .expect("known secret");
    let stream: String = ["echo: inj", "ected-Cr", "ed-0b7e", "4d19a2 done"]
        .iter()
        .map(|d| anthropic_event(d))
        .collect();
    let (whole, streamed) = masked(&r, "text/event-stream", &stream, 3);
    assert_eq!(whole, streamed);
    assert!(whole.contains("[REDACTED:known:upstream]"), "{whole}");
    for part in ["ected-Cr", "0b7e", "4d19a2"] {
        assert!(!whole.contains(part), "{part} leaked: {whole}");
    }
    assert_well_formed_sse(&whole);
}

#[test]
fn a_card_number_streamed_in_digit_groups_is_masked() {
    let r = Redactor::with_defaults().expect("default pack");
    let stream: String = ["Card", ":", " 4111", " 1111", " 1111", " 1111", " thanks"]
        .iter()
        .map(|d| openai_event(d))
        .collect();
    let (whole, _) = masked(&r, "text/event-stream", &stream, 11);
    assert!(!whole.contains("1111"), "{whole}");
}

#[test]
fn tool_call_arguments_are_one_channel_per_call() {
    let r = Redactor::with_defaults().expect("default pack");
    let call = |args: &str| {
        let data = serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": args}}]}}]});
        format!("data: {data}\n\n")
    };
    let args = format!("{{\"token\": \"{TOKEN}\"}}");
    let stream: String = split(&args, 3).iter().map(|a| call(a)).collect();
    let (whole, streamed) = masked(&r, "text/event-stream", &stream, 9);
    assert_eq!(whole, streamed);
    assert_no_token_left(&whole);
    assert_well_formed_sse(&whole);
}

#[test]
fn base64_payloads_in_events_and_lines_are_masked_where_they_sit() {
    use base64::Engine as _;
    let r = Redactor::with_defaults().expect("default pack");
    let file = format!("# .env\nGITHUB_TOKEN={TOKEN}\nREGION=eu-west-1\n");
    let blob = base64::engine::general_purpose::STANDARD.encode(&file);
    // The MCP streamable HTTP transport answers `resources/read` in an SSE event; a
    // JSON Lines feed carries the same result one document per line.
    let result = serde_json::json!({
        "jsonrpc": "2.0", "id": 4,
        "result": {"contents": [{"uri": "file:///app/.env", "mimeType": "text/plain", "blob": blob}]}
    });
    // An agent uploading the file to an LLM API as a data URL.
    let url = format!("data:text/plain;base64,{blob}");
    let input = serde_json::json!({"input": [{"type": "input_file", "file_data": url}]});
    for (media, stream) in [
        (
            "text/event-stream",
            format!("event: message\ndata: {result}\n\n"),
        ),
        (
            "application/x-ndjson",
            format!("{result}\n{{\"done\":true}}\n"),
        ),
        ("application/x-ndjson", format!("{input}\n")),
    ] {
        for chunk in [1, 5, 64, stream.len()] {
            let (whole, streamed) = masked(&r, media, &stream, chunk);
            assert_eq!(whole, streamed, "{media}, chunk {chunk}");
            let doc = whole
                .lines()
                .find(|l| l.contains("blob") || l.contains("file_data"))
                .expect("the result")
                .trim_start_matches("data: ");
            let v: serde_json::Value = serde_json::from_str(doc).expect("valid JSON");
            let blob = v
                .pointer("/result/contents/0/blob")
                .or_else(|| v.pointer("/input/0/file_data"))
                .and_then(|b| b.as_str())
                .expect("blob");
            let blob = blob.trim_start_matches("data:text/plain;base64,");
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(blob)
                .expect("still base64");
            let text = String::from_utf8(decoded).expect("text");
            assert_no_token_left(&text);
            assert!(
                text.contains("GITHUB_TOKEN=[REDACTED:") && text.contains("REGION=eu-west-1"),
                "{media}: {text}"
            );
        }
    }
}
