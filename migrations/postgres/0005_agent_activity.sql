-- Agents' activity (issue #10): every state change, pause reason and missed offer.
-- Same columns as migrations/sqlite/0005_agent_activity.sql.
CREATE TABLE agent_activity (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    extension   TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX agent_activity_by_extension ON agent_activity (extension, at);
