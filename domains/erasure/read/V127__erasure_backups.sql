-- Until when a backup taken before the erasure could still open the
-- person's key (user.erased readable_in_backups_until): one retention
-- window after the master key version of the day is rotated out.
ALTER TABLE erasure_requests ADD COLUMN readable_in_backups_until timestamptz;
