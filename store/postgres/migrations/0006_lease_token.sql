-- The token of a remote lease (store.ClaimParams.LeaseToken): set by a
-- claim made for the lease protocol of `rota serve`, NULL for a node's own
-- claims. Finish and ExtendLeases compare it, so that a token of an
-- earlier claim of the same job (even one with the same attempt number,
-- which snooze and shutdown give back) ends or extends nothing. Every
-- change out of running clears it. Nullable without a default: adding it
-- rewrites no rows.
ALTER TABLE jobs ADD COLUMN lease_token text;
