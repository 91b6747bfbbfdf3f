-- Every switch between versions of a read model (`lethe project rebuild`,
-- `cut-over`, `rollback`; consumers/versions.hpp): when, which way, and per
-- table the rows now live and how many columns were proven equal. The
-- versions themselves live in schemas beside this one:
-- <schema>_next_<projection> while rebuilt, <schema>_prev_<projection> kept
-- after a switch until dropped.
CREATE TABLE projection_versions (
  projection  text        NOT NULL,
  switched_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  action      text        NOT NULL CHECK (action IN ('cut-over', 'rollback')),
  tables      jsonb       NOT NULL,
  PRIMARY KEY (projection, switched_at)
);
