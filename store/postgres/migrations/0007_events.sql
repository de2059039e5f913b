-- The durable event log (store.EventLog) behind GET /v1/events.
--
-- event_log has one row: last_id is the id of the newest event ever
-- appended. An append raises it first in the transaction that inserts the
-- events: the row lock serializes the appenders of every node until they
-- commit, so ids are consecutive and become visible in order (a reader
-- never sees id 11 before id 10), unlike ids from a sequence.

CREATE TABLE event_log (
    one     int    PRIMARY KEY CHECK (one = 1),
    last_id bigint NOT NULL
);

INSERT INTO event_log (one, last_id) VALUES (1, 0);

CREATE TABLE events (
    id   bigint      PRIMARY KEY,
    type text        NOT NULL,
    node text        NOT NULL,
    at   timestamptz NOT NULL,
    data jsonb       NOT NULL
);
