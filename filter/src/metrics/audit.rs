//! The audit trail's own health: how full its queue is, what was refused or dropped
//! for want of room (never silently), what the writer wrote and signed, and how often
//! an output (session store, OTLP) failed. Read from the trail's own counters at each
//! scrape, so the data path pays nothing extra for them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::audit::{AuditSink, WriterStats};

/// The audit trail's metrics, read from its counters at each scrape.
#[derive(Debug)]
pub struct AuditMetrics {
    sink: AuditSink,
    writer: Arc<WriterStats>,
}

impl AuditMetrics {
    /// Metrics of `sink` (the data path's end of the queue) and the writer's `stats`.
    pub fn new(sink: AuditSink, writer: Arc<WriterStats>) -> AuditMetrics {
        AuditMetrics { sink, writer }
    }
}

pub(super) fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

pub(super) fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for AuditMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.sink.stats();
        let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
        gauge(
            &mut encoder,
            "warden_audit_queue_depth",
            "Audit records waiting for the writer or reserved by requests in flight",
            i64::try_from(self.sink.depth()).unwrap_or(i64::MAX),
        )?;
        gauge(
            &mut encoder,
            "warden_audit_queue_capacity",
            "Room in the audit queue (audit.queue_capacity)",
            i64::try_from(self.sink.capacity()).unwrap_or(i64::MAX),
        )?;
        counter(
            &mut encoder,
            "warden_audit_requests_refused",
            "Requests refused (503) because the audit queue was full or the writer had stopped",
            load(&stats.refused),
        )?;
        counter(
            &mut encoder,
            "warden_audit_records_dropped",
            "Requests let through unrecorded because the queue was full (audit.on_queue_full: drop)",
            load(&stats.dropped),
        )?;
        counter(
            &mut encoder,
            "warden_audit_records_written",
            "Exchange records chained and written to the audit log",
            load(&self.writer.records_written),
        )?;
        counter(
            &mut encoder,
            "warden_audit_checkpoints_written",
            "Signed checkpoints written to the audit log",
            load(&self.writer.checkpoints_written),
        )?;
        counter(
            &mut encoder,
            "warden_audit_output_failures",
            "Failed hand-overs to an audit output (session store, OTLP), each retried",
            load(&self.writer.output_failures),
        )?;
        gauge(
            &mut encoder,
            "warden_audit_last_seq",
            "Sequence number of the newest line in this instance's chain",
            i64::try_from(load(&self.writer.last_seq)).unwrap_or(i64::MAX),
        )?;
        gauge(
            &mut encoder,
            "warden_audit_writer_stopped",
            "1 when the audit writer has stopped (every new request is refused)",
            i64::from(self.writer.stopped.load(Ordering::Relaxed)),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::QueueFullPolicy;
    use crate::metrics::{registry, render, Metrics};

    #[test]
    fn the_audit_queue_and_refusals_are_reported() {
        let (sink, _rx) = AuditSink::new(2, QueueFullPolicy::FailClosed, None);
        let writer = Arc::new(WriterStats::default());
        writer.records_written.store(41, Ordering::Relaxed);
        let _one = sink.reserve().expect("room");
        let _two = sink.reserve().expect("room");
        assert!(sink.reserve().is_err(), "full");
        let text = render(&registry(
            &Metrics::new(),
            Some(AuditMetrics::new(sink, writer)),
            None,
        ))
        .unwrap();
        assert!(text.contains("warden_audit_queue_depth 2\n"), "{text}");
        assert!(text.contains("warden_audit_queue_capacity 2\n"), "{text}");
        assert!(
            text.contains("warden_audit_requests_refused_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("warden_audit_records_written_total 41\n"),
            "{text}"
        );
        assert!(text.contains("warden_audit_writer_stopped 0\n"), "{text}");
    }
}
