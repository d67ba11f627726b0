-- Session recording: one row per audited exchange, written by the audit writer's
-- session output (filter/src/store/recorder.rs) after the record is chained. `record`
-- is the chained record as JSON (seq, hashes and the audit record), `capture` the
-- masked headers and bodies (NULL when only metadata was recorded); the other columns
-- are copies for lookups. Rows are only inserted and, by retention, deleted.
CREATE TABLE session_exchanges (
    instance   TEXT    NOT NULL,   -- the Warden instance whose chain this is
    seq        BIGINT  NOT NULL,   -- position in that chain
    request_id TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    subject    TEXT    NOT NULL,   -- '' for an anonymous request
    started_at BIGINT  NOT NULL,   -- milliseconds since the Unix epoch
    outcome    TEXT    NOT NULL,   -- allow | deny | hold | error | incomplete
    rule       TEXT    NOT NULL,   -- the deciding policy rule, '' for none
    record     TEXT    NOT NULL,
    capture    TEXT,
    size       BIGINT  NOT NULL,   -- bytes of record + capture, for retention
    PRIMARY KEY (instance, seq)
);

-- One session in time order; sessions by time; sessions of one identity.
CREATE INDEX session_exchanges_by_session ON session_exchanges (session_id, started_at);
CREATE INDEX session_exchanges_by_time ON session_exchanges (started_at);
CREATE INDEX session_exchanges_by_subject ON session_exchanges (subject, started_at);

-- Signed checkpoints of each instance's chain, as the writer produced them.
CREATE TABLE session_checkpoints (
    instance  TEXT    NOT NULL,
    seq       BIGINT  NOT NULL,
    reason    TEXT    NOT NULL,
    signed_at TEXT    NOT NULL,
    doc       TEXT    NOT NULL,   -- the checkpoint as JSON
    PRIMARY KEY (instance, seq, reason)
);
