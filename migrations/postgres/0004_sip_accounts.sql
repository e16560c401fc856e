-- SIP accounts and registrations (issue #8). Same columns as migrations/sqlite/0004_sip_accounts.sql.
-- An operator's extension and digest HA1 values (never the password), with a SIP lock of
-- its own, apart from the web login's failed_count/locked_until.
CREATE TABLE sip_accounts (
    extension      TEXT PRIMARY KEY,
    login          TEXT NOT NULL UNIQUE REFERENCES staff (login),
    realm          TEXT NOT NULL,
    ha1_md5        TEXT NOT NULL,
    ha1_sha256     TEXT NOT NULL,
    failed_count   BIGINT NOT NULL DEFAULT 0,
    locked_until   BIGINT,
    updated_at     BIGINT NOT NULL
);

-- Where each extension's softphones are (RFC 3261 §10.3); kept across restarts.
CREATE TABLE sip_registrations (
    extension      TEXT NOT NULL REFERENCES sip_accounts (extension) ON DELETE CASCADE,
    contact        TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    call_id        TEXT NOT NULL,
    cseq           BIGINT NOT NULL,
    transport      TEXT NOT NULL,
    source         TEXT NOT NULL,
    conn           BIGINT,
    user_agent     TEXT,
    PRIMARY KEY (extension, contact)
);
