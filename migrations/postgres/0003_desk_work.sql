-- Ticket work (issue #4): optimistic versions, complaints, escalation history, notes, links,
-- API sessions. Same columns as migrations/sqlite/0003_desk_work.sql.
ALTER TABLE tickets ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN complaint_category TEXT;
ALTER TABLE tickets ADD COLUMN complaint_outcome TEXT;
ALTER TABLE contacts ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE staff ADD COLUMN active BIGINT NOT NULL DEFAULT 1;
CREATE INDEX tickets_contact ON tickets (contact_id);
CREATE INDEX audit_at ON audit_log (at);

CREATE TABLE ticket_escalations (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    from_line  BIGINT NOT NULL,
    to_line    BIGINT NOT NULL,
    by_login   TEXT NOT NULL,
    at         BIGINT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX ticket_escalations_ticket ON ticket_escalations (ticket_id);

CREATE TABLE ticket_notes (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    at         BIGINT NOT NULL,
    author     TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX ticket_notes_ticket ON ticket_notes (ticket_id);

CREATE TABLE ticket_links (
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    other_id   BIGINT NOT NULL REFERENCES tickets (id),
    kind       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    by_login   TEXT NOT NULL,
    PRIMARY KEY (ticket_id, other_id)
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    login      TEXT NOT NULL REFERENCES staff (login),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_login ON sessions (login);
