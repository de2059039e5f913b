-- The durable event log (store.EventLog) behind GET /v1/events.
--
-- event_log has one row: last_id is the id of the newest event ever
-- appended. An append raises it in the transaction that inserts the
-- events, so ids are consecutive and survive pruning. at is INTEGER
-- microseconds since the Unix epoch; data is the event as JSON.

CREATE TABLE event_log (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    last_id INTEGER NOT NULL
) STRICT;

INSERT INTO event_log (one, last_id) VALUES (1, 0);

CREATE TABLE events (
    id   INTEGER PRIMARY KEY,
    type TEXT    NOT NULL,
    node TEXT    NOT NULL,
    at   INTEGER NOT NULL,
    data TEXT    NOT NULL
) STRICT;
