-- The lease index covers the rows that have a lease (exactly the running
-- ones: every change out of running clears lease_until) instead of naming
-- state = 'running' in its predicate. With the state predicate, a statement
-- that names running jobs by id (a finish, a lease extension) could be
-- planned, when the statistics predate the running jobs, as a walk over the
-- whole index filtered by id instead of a primary-key lookup per job: a
-- cost that grew with every job ever run until a vacuum (decision 0008).
-- The rescuer's lease_until < $1 implies lease_until IS NOT NULL, so it
-- still uses the index.
DROP INDEX jobs_lease;
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE lease_until IS NOT NULL;
