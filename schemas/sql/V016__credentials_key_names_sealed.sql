-- An API key's name is what its person wrote ("Rosa's laptop"): the event
-- carries it sealed under their key, and credentials keep only the sealed
-- text of that field (opened when keys are listed), so no name outlives the
-- erasure in dead tuples or the WAL. Names stored in clear before are
-- dropped.
UPDATE credentials SET name = NULL WHERE name IS NOT NULL AND name NOT LIKE '{"sealed":%';
COMMENT ON COLUMN credentials.name IS 'sealed text of user.api_key_issued name';
