//! The pipeline's audit hook: a queue slot reserved when a request begins, the
//! record (and session capture) sent into it when the exchange ends.

use super::{Exchange, LocalReply, Pipeline};
use crate::audit::{AuditEntry, AuditRecord, AuditSink, ExchangeCapture, NoSlot, RecordSource};

impl Pipeline {
    /// Adds the audit trail: every exchange's record goes to `sink`.
    pub fn with_audit(mut self, sink: AuditSink) -> Pipeline {
        self.audit = Some(sink);
        self
    }

    /// The audit sink, when auditing is on.
    pub fn audit_sink(&self) -> Option<&AuditSink> {
        self.audit.as_ref()
    }

    /// Reserves the exchange's place in the audit queue. `Err` carries the reply for a
    /// request that must be refused because it could not be recorded.
    pub fn begin_audit(&self, exchange: &mut Exchange) -> Result<(), LocalReply> {
        let Some(sink) = &self.audit else {
            return Ok(());
        };
        match sink.reserve() {
            Ok(slot) => {
                exchange.set_audit_slot(slot);
                if let Some(settings) = sink.capture_settings() {
                    exchange.start_capture(settings);
                }
                Ok(())
            }
            Err(NoSlot::Dropped) => {
                tracing::warn!(
                    request_id = exchange.id(),
                    "audit queue full: this request goes unrecorded (audit.on_queue_full: drop)"
                );
                Ok(())
            }
            Err(NoSlot::Refuse | NoSlot::Closed) => {
                tracing::error!(
                    request_id = exchange.id(),
                    "audit queue full or writer stopped: refusing the request (fail closed)"
                );
                let reply = AuditSink::refusal(exchange.id());
                exchange.note_step(&super::Step::Reply(reply.clone()));
                Err(reply)
            }
        }
    }

    /// The audit entry of an exchange as it stands: its record and, when sessions are
    /// recorded, its masked capture (whose SHA-256 the record carries, so the chain
    /// covers what the replay shows).
    pub fn audit_entry(&self, exchange: &Exchange, source: RecordSource) -> AuditEntry {
        let redactor = self.audit.as_ref().and_then(|sink| sink.redactor());
        let mut record = AuditRecord::from_exchange(exchange, source, redactor);
        let capture = self.capture_of(exchange);
        record.capture_sha256 = capture.as_ref().map(ExchangeCapture::sha256);
        AuditEntry { record, capture }
    }

    /// Sends the exchange's record into its reserved slot (once; later calls do
    /// nothing).
    pub fn finish_audit(&self, exchange: &mut Exchange, source: RecordSource) {
        if let Some(slot) = exchange.take_audit_slot() {
            slot.send(self.audit_entry(exchange, source));
        }
    }
}
