-- Callback requests: a caller in a queue asks to be called back instead of waiting.
-- Same columns as migrations/postgres/0006_callbacks.sql. Times are Unix milliseconds.
CREATE TABLE callbacks (
    id            INTEGER PRIMARY KEY,
    queue         TEXT NOT NULL,
    number        TEXT NOT NULL,                -- E.164
    requested_at  BIGINT NOT NULL,
    entered_at    BIGINT NOT NULL,              -- the caller's place in the queue
    priority      INTEGER NOT NULL,
    due_at        BIGINT NOT NULL,              -- next time it may be placed
    chosen_at     BIGINT,                       -- the time the caller chose, if any
    state         TEXT NOT NULL
                  CHECK (state IN ('pending', 'placing', 'completed', 'failed', 'closed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    close_reason  TEXT CHECK (close_reason IN ('served', 'cancelled')),
    ticket_id     INTEGER REFERENCES tickets (id),
    call_id       TEXT,                         -- SIP Call-ID of the request call
    updated_at    BIGINT NOT NULL
);
CREATE INDEX callbacks_pending_by_number ON callbacks (number, queue, state);
CREATE INDEX callbacks_by_state ON callbacks (state, entered_at);
-- One open request per number and queue, refused by the database itself.
CREATE UNIQUE INDEX callbacks_one_open ON callbacks (number, queue)
    WHERE state IN ('pending', 'placing');

CREATE TABLE callback_attempts (
    id            INTEGER PRIMARY KEY,
    callback_id   INTEGER NOT NULL REFERENCES callbacks (id),
    attempt       INTEGER NOT NULL,
    started_at    BIGINT NOT NULL,
    ended_at      BIGINT NOT NULL,
    sip_status    INTEGER,                      -- final SIP status, none if no response
    outcome       TEXT NOT NULL                 -- answered, busy, no_answer, failed, rejected…
);
CREATE INDEX callback_attempts_by_callback ON callback_attempts (callback_id, attempt);
