-- Who may write each partition of each projection. Several `lethe project`
-- processes share a projection's partitions through its consumer group; on
-- every assignment a process claims its partitions here, which raises their
-- epoch, and every batch it commits first checks the epochs it claimed,
-- holding an advisory lock per partition, shared, until it commits (a claim
-- takes those locks exclusively). A process that lost a partition while it
-- was frozen or cut off (a zombie) finds a newer epoch and commits nothing;
-- a claim waits for the batch of the previous owner still in flight, so the
-- new owner reads the offsets that batch stored. Rows are never deleted:
-- epochs only grow, across replays too.
CREATE TABLE projection_owners (
  projection text        NOT NULL,
  topic      text        NOT NULL,
  partition  int         NOT NULL,
  epoch      bigint      NOT NULL,
  owner      text        NOT NULL,  -- group instance, pid and host of the claimant
  claimed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, topic, partition)
);
