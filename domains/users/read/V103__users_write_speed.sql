-- The users read model is written far more than it is searched by email:
-- lookups by email go through the write side's blind index, never this
-- table. Without the email index, and with room left on each page, a rename
-- or role change is a HOT update (no index touched).
DROP INDEX IF EXISTS users_email;
ALTER TABLE users SET (fillfactor = 80);
