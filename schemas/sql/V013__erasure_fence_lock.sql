-- The erasure fence, taken and checked by the statement that appends an
-- event (producers/src/event_store.cpp), so it costs no round trip of its
-- own. Replaces lethe_refuse_erased (V011, no longer called), which could
-- not see an erasure that committed while the command ran.
--   people: everyone the event names, the actor included. Each gets a
--     shared transaction lock that the erasure of that person takes
--     exclusively (lock_person: the same key), so an erasure waits for the
--     commands about the person in flight, and a command that comes after
--     it sees it: no event about a person commits after their erasure.
--   fenced: those of them the event ties to something anew (not only
--     referred to: "x-refers" in the event schemas); one that is erased
--     refuses the event with SQLSTATE LE410.
-- VOLATILE, so the check reads with a snapshot taken after the locks are
-- held (under READ COMMITTED), not the one the calling statement began with.
CREATE FUNCTION lethe_fence(people text[], fenced text[]) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  gone text;
BEGIN
  IF cardinality(people) > 0 THEN
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('erasure-person:' || p, 0))
      FROM (SELECT DISTINCT unnest(people) AS p ORDER BY 1) AS s;
  END IF;
  IF cardinality(fenced) > 0 THEN
    SELECT subject INTO gone FROM erased_persons WHERE subject = ANY (fenced) LIMIT 1;
    IF gone IS NOT NULL THEN
      RAISE EXCEPTION 'person % is erased', gone USING ERRCODE = 'LE410';
    END IF;
  END IF;
  RETURN true;
END $$;
