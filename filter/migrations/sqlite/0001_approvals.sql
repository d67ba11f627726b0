-- Approvals: one row per approval request. `doc` is the whole approval as JSON (the
-- source of truth); the other columns are copies of its fields for lookups, written
-- together with `doc` by the store (filter/src/store/db.rs, `Columns`).
CREATE TABLE approvals (
    id          TEXT    PRIMARY KEY NOT NULL,
    status      TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    kind        TEXT    NOT NULL,   -- operation | grant
    scope       TEXT    NOT NULL,   -- a grant's hold scope; '' for an operation
    created_at  INTEGER NOT NULL,   -- milliseconds since the Unix epoch
    expires_at  INTEGER NOT NULL,
    valid_until INTEGER,
    doc         TEXT    NOT NULL
);

-- At most one pending request per requester and operation: what makes open_hold
-- race-free.
CREATE UNIQUE INDEX approvals_one_pending
    ON approvals (subject, fingerprint, kind, scope) WHERE status = 'pending';

-- take_approved and active_grant.
CREATE INDEX approvals_approved
    ON approvals (subject, kind, fingerprint, scope) WHERE status = 'approved';

-- expire_due.
CREATE INDEX approvals_pending_due ON approvals (expires_at) WHERE status = 'pending';
CREATE INDEX approvals_approved_due ON approvals (valid_until) WHERE status = 'approved';

-- list (newest first, optionally by status or requester).
CREATE INDEX approvals_by_created ON approvals (created_at);
CREATE INDEX approvals_by_status ON approvals (status, created_at);
CREATE INDEX approvals_by_subject ON approvals (subject, created_at);
