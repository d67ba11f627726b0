//! Strict JSON reading for classification: duplicate object keys are an error.
//!
//! `{"query": "DELETE FROM t", "query": "SELECT 1"}` is valid JSON to most parsers,
//! but they disagree on which value wins (serde_json keeps the last, many others the
//! first). A classifier that reads one value while the upstream acts on the other is
//! bypassed, so a body with a repeated key is not classified at all: it is reported
//! as unreadable, which the policy never treats as harmless.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses `bytes` as one JSON document, refusing duplicate keys in any object.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice::<StrictValue>(bytes)
        .map(|strict| strict.0)
        .map_err(|err| err.to_string())
}

/// Parses `bytes` as a stream of YAML documents (`---`-separated), each into a JSON
/// value, refusing duplicate keys in any mapping, as [`parse_strict`] does for JSON.
/// Keys must be strings (a Kubernetes object has no other kind).
pub fn parse_yaml_documents(bytes: &[u8]) -> Result<Vec<Value>, String> {
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_slice(bytes) {
        let StrictValue(value) = StrictValue::deserialize(document).map_err(|e| e.to_string())?;
        documents.push(value);
    }
    Ok(documents)
}

/// A JSON value whose objects were checked for duplicate keys while parsing.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {key:?} in a JSON object (ambiguous: parsers disagree on which value wins)"
                )));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ordinary_json_like_serde_json() {
        let text = br#"{"a": [1, -2, 3.5, true, null, "x"], "b": {"c": {}}}"#;
        let strict = parse_strict(text).unwrap();
        let plain: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(strict, plain);
    }

    #[test]
    fn refuses_duplicate_keys_at_any_depth() {
        for text in [
            r#"{"query": "DELETE FROM t", "query": "SELECT 1"}"#,
            r#"{"a": {"b": 1, "b": 2}}"#,
            r#"[{"x": 1}, {"y": 1, "y": 1}]"#,
        ] {
            let err = parse_strict(text.as_bytes()).unwrap_err();
            assert!(err.contains("duplicate key"), "{text}: {err}");
        }
        // The same key in sibling objects is fine.
        assert!(parse_strict(br#"[{"x": 1}, {"x": 2}]"#).is_ok());
    }

    #[test]
    fn refuses_malformed_json() {
        assert!(parse_strict(b"{\"a\": ").is_err());
        assert!(parse_strict(b"{} trailing").is_err());
    }
}
