-- The fire jobs a schedule change takes back (store.TakenBack) are found by
-- a range of their keys compared byte by byte: under the database's
-- collation (en_US.UTF-8, ICU) 'sched:a:~' may sort before
-- 'sched:a:2026-...', and the range would be empty. This index serves the
-- range in the "C" collation, for scheduled jobs with a fire job key only.

CREATE INDEX jobs_fire_key ON jobs (kind, (key COLLATE "C"))
    WHERE state = 'scheduled' AND key LIKE 'sched:%';
