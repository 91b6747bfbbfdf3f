-- The clock of every rule that depends on time: session and API-key expiry,
-- the login window, anonymous request limits, erasure tokens, the erasures
-- an admin may carry out in an hour, and the erasure deadline. Queries ask lethe_now() (the transaction's time, like now()) or
-- lethe_clock() (the time of the call, like clock_timestamp()) instead of
-- PostgreSQL's functions, so that a test can move time forward by replacing
-- these two in its own schema (test/support/fixtures.hpp, test::SchemaClock) and
-- prove an expiry exactly, without sleeping. Here they are PostgreSQL's own
-- clock; a SQL function this simple is inlined into every query that calls
-- it, so it costs nothing.
CREATE FUNCTION lethe_now() RETURNS timestamptz
  LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT now() $$;
CREATE FUNCTION lethe_clock() RETURNS timestamptz
  LANGUAGE sql VOLATILE PARALLEL SAFE AS $$ SELECT clock_timestamp() $$;
ALTER TABLE login_failures ALTER COLUMN failed_at SET DEFAULT lethe_clock();
ALTER TABLE erasure_limits ALTER COLUMN erased_at SET DEFAULT lethe_clock();
