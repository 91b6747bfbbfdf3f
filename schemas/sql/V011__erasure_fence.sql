-- The erasure fence inside the append itself: an event that names an erased
-- person (other than the erasure's own steps) is refused by the statement
-- that inserts it, with SQLSTATE LE410, so the check costs no round trip of
-- its own. `ids` are the people the event names; empty: nothing to check.
CREATE FUNCTION lethe_refuse_erased(ids text[]) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
  gone text;
BEGIN
  IF cardinality(ids) = 0 THEN
    RETURN true;
  END IF;
  SELECT subject INTO gone FROM erased_persons WHERE subject = ANY (ids) LIMIT 1;
  IF gone IS NOT NULL THEN
    RAISE EXCEPTION 'person % is erased', gone USING ERRCODE = 'LE410';
  END IF;
  RETURN true;
END $$;
