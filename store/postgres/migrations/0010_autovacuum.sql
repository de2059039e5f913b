-- Autovacuum for the tables that churn (decision 0023). Every job is
-- inserted once and updated at least twice, and the event log is appended
-- to and pruned from its head: both leave dead row versions, and the claim
-- index keeps an entry for every job claimed since the last vacuum, which
-- each claim steps over. PostgreSQL's default waits for a fifth of a table
-- to be dead before it vacuums it, a long wait on a table that keeps
-- weeks of finished jobs; these tables are vacuumed and analyzed after a
-- fiftieth. Only where autovacuum runs (the server's setting); a DBA may
-- change them (ALTER TABLE ... SET or RESET), and no later migration
-- touches them.

ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE event_log SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
