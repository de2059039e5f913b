-- Positions of the readers of the event log (store.EventLog.EventCursor):
-- an event relay saves the id of the last record it delivered, and goes on
-- from there after a restart or on another node.

CREATE TABLE event_cursors (
    name    TEXT    PRIMARY KEY,
    last_id INTEGER NOT NULL,
    updated INTEGER NOT NULL
) STRICT;
