//! The pipeline's audit hook: a queue slot reserved when a request begins, the
//! record (and session capture) sent into it when the exchange ends.

use super::{Exchange, FinishedExchange, LocalReply, Pipeline};
use crate::audit::{AuditEntry, AuditRecord, AuditSink, NoSlot, RecordSource};

impl Pipeline {
    /// Adds the audit trail: every exchange's record goes to `sink`.
    pub fn with_audit(mut self, sink: AuditSink) -> Pipeline {
        self.audit = Some(sink);
        self.refresh_audit_context();
        self
    }

    /// Gives the audit sink what building entries needs from the pipeline (the
    /// credential headers, the redactor); called again when identity changes them.
    pub(crate) fn refresh_audit_context(&mut self) {
        if let Some(sink) = self.audit.take() {
            self.audit = Some(sink.with_entry_context(
                std::sync::Arc::clone(&self.credential_headers),
                self.redactor.clone(),
            ));
        }
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

    /// The audit entry of a finished exchange (what the writer builds).
    pub fn audit_entry(&self, exchange: &FinishedExchange, source: RecordSource) -> AuditEntry {
        match &self.audit {
            Some(sink) => sink.builder().build(exchange, source),
            None => AuditEntry {
                record: AuditRecord::from_exchange(exchange, source, None),
                capture: None,
            },
        }
    }

    /// Hands the finished exchange to the audit writer through its reserved slot; the
    /// record is built there, off the data path. Without a slot (auditing off, or the
    /// record was dropped under `on_queue_full: drop`) the exchange is just dropped.
    /// Either way its decision and findings are counted in the metrics, here, once.
    pub fn finish_audit(&self, mut exchange: Exchange, source: RecordSource) {
        self.metrics.count_exchange(source.into(), &exchange);
        if let Some(slot) = exchange.take_audit_slot() {
            // Only what the record and capture read waits in the queue; the rest is
            // freed here, while it is hot in this core's cache and the allocator can
            // hand it to the next request ([`FinishedExchange`]).
            slot.send(exchange.into_finished(), source);
        }
    }
}
