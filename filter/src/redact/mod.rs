//! Secret and PII detection and masking (see issue 4).
