-- Service desk core (issue #4). Times are Unix milliseconds (UTC); enums use the string forms
-- of src/tickets/model.rs. Same columns as migrations/postgres/0001_service_desk.sql.
CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY,
    name          TEXT,
    organisation  TEXT,
    phone         TEXT NOT NULL,
    iin           TEXT,
    bin           TEXT,
    language      TEXT NOT NULL DEFAULT 'ru',
    do_not_contact INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);
CREATE INDEX contacts_phone ON contacts (phone);
CREATE INDEX contacts_iin ON contacts (iin);

CREATE TABLE ticket_counters (
    year BIGINT PRIMARY KEY,
    last BIGINT NOT NULL
);

CREATE TABLE tickets (
    id            INTEGER PRIMARY KEY,
    number        TEXT NOT NULL UNIQUE,
    year          BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    channel       TEXT NOT NULL,
    subject       TEXT NOT NULL,
    description   TEXT NOT NULL,
    impact        TEXT NOT NULL,
    urgency       TEXT NOT NULL,
    priority      BIGINT NOT NULL,
    service_level TEXT NOT NULL,
    criticality   TEXT,
    line          BIGINT NOT NULL DEFAULT 1,
    department    TEXT,
    eta_text      TEXT,
    status        TEXT NOT NULL,
    reason        TEXT,
    resolution    TEXT,
    contact_id    BIGINT REFERENCES contacts (id),
    assignee      TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    first_response_at BIGINT,
    resolved_at   BIGINT,
    waiting_since BIGINT,
    first_response_due BIGINT NOT NULL,
    resolve_due   BIGINT NOT NULL,
    fix_earliest  BIGINT,
    fix_due       BIGINT,
    review_due    BIGINT,
    breaches      TEXT NOT NULL DEFAULT '',
    UNIQUE (year, seq)
);
CREATE INDEX tickets_status ON tickets (status, priority);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action    TEXT NOT NULL,
    field     TEXT,
    before    TEXT,
    after     TEXT
);
CREATE INDEX audit_entity ON audit_log (entity, entity_id);
