-- A file's name ("passport-....pdf") is its owner's personal data: sealed in
-- the event, and this column keeps the sealed text of the event's field
-- (lethe:sealed), opened only when a query answers.
ALTER TABLE files ALTER COLUMN name DROP NOT NULL;
COMMENT ON COLUMN files.name IS 'lethe:sealed';
