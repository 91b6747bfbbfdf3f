-- An API key's name is what its person wrote ("Rosa's laptop"): the event
-- carries it sealed under their key, and the users read model keeps it
-- sealed. The write side never read it back, so it keeps no copy at all:
-- a name here would outlive the erasure in dead tuples and the WAL.
ALTER TABLE credentials DROP COLUMN name;
