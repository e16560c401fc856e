-- Callback requests: a caller in a queue asks to be called back instead of waiting.
-- Same columns as migrations/sqlite/0006_callbacks.sql. Times are Unix milliseconds.
-- Counters are BIGINT, like every integer here: sqlx's Any driver reads them as i64.
CREATE TABLE callbacks (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue         TEXT NOT NULL,
    number        TEXT NOT NULL,                -- E.164
    requested_at  BIGINT NOT NULL,
    entered_at    BIGINT NOT NULL,              -- the caller's place in the queue
    priority      BIGINT NOT NULL,
    due_at        BIGINT NOT NULL,              -- next time it may be placed
    chosen_at     BIGINT,                       -- the time the caller chose, if any
    state         TEXT NOT NULL
                  CHECK (state IN ('pending', 'placing', 'completed', 'failed', 'closed')),
    attempts      BIGINT NOT NULL DEFAULT 0,
    close_reason  TEXT CHECK (close_reason IN ('served', 'cancelled')),
    ticket_id     BIGINT REFERENCES tickets (id),
    call_id       TEXT,                         -- SIP Call-ID of the request call
    updated_at    BIGINT NOT NULL
);
CREATE INDEX callbacks_pending_by_number ON callbacks (number, queue, state);
CREATE INDEX callbacks_by_state ON callbacks (state, entered_at);
-- One open request per number and queue, refused by the database itself.
CREATE UNIQUE INDEX callbacks_one_open ON callbacks (number, queue)
    WHERE state IN ('pending', 'placing');

CREATE TABLE callback_attempts (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    callback_id   BIGINT NOT NULL REFERENCES callbacks (id),
    attempt       BIGINT NOT NULL,
    started_at    BIGINT NOT NULL,
    ended_at      BIGINT NOT NULL,
    sip_status    BIGINT,                       -- final SIP status, none if no response
    outcome       TEXT NOT NULL                 -- answered, busy, no_answer, failed, rejected…
);
CREATE INDEX callback_attempts_by_callback ON callback_attempts (callback_id, attempt);
