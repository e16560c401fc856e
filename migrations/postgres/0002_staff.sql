-- Staff accounts (MISSION §6). Same columns as migrations/sqlite/0002_staff.sql.
CREATE TABLE staff (
    login          TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL,
    language       TEXT NOT NULL DEFAULT 'ru',
    accessibility  BIGINT NOT NULL DEFAULT 0,
    must_change_password BIGINT NOT NULL DEFAULT 0,
    failed_count   BIGINT NOT NULL DEFAULT 0,
    locked_until   BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
