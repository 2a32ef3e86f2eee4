-- wapipe._status_rank: how far an outbound message has got, so statuses never move backwards.
-- Returns 1 sent, 2 delivered, 3 read/played, 4 failed/deleted, 0 for anything else.
-- (A pure expression: plain SQL, inlined where it is used; db/README.md house rules.)
CREATE OR REPLACE FUNCTION wapipe._status_rank(status text)
RETURNS smallint
LANGUAGE sql IMMUTABLE
RETURN (CASE status
          WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
          WHEN 'read' THEN 3 WHEN 'played' THEN 3
          WHEN 'failed' THEN 4 WHEN 'deleted' THEN 4
          ELSE 0 END)::smallint;
COMMENT ON FUNCTION wapipe._status_rank(text) IS
  'Private (pure, inlined): rank of an outbound status (sent 1 < delivered 2 < read/played 3 < failed/deleted 4; unknown 0).';

REVOKE ALL ON FUNCTION wapipe._status_rank(text) FROM PUBLIC;
