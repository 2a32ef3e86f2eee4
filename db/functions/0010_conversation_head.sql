-- wapipe._conversation_rank: the claim order of a conversation head.
-- Returns received_at moved earlier by priority x aging_step (claim.priority_aging_seconds).
--
-- A pure expression, so plain SQL without SECURITY DEFINER/SET (db/README.md house
-- rules): PostgreSQL inlines it into the statements that use it, at no call cost per
-- row. The caller reads the setting once and passes the step.
CREATE OR REPLACE FUNCTION wapipe._conversation_rank(received_at timestamptz, priority smallint,
                                                     aging_step interval)
RETURNS timestamptz
LANGUAGE sql STABLE
RETURN received_at - priority * aging_step;
COMMENT ON FUNCTION wapipe._conversation_rank(timestamptz, smallint, interval) IS
  'Private (pure, inlined): claim order key of a conversation head, received_at - priority x aging_step (earlier = served first).';

REVOKE ALL ON FUNCTION wapipe._conversation_rank(timestamptz, smallint, interval) FROM PUBLIC;
