-- wapipe.pending_dead_letters: the dead letters an operator may still replay (operators only).
-- Returns those rows of wapipe.dead_letters, oldest first, matching every filter given, at most max_count.
--
-- The one "pending" rule: not replayed yet, its message still dead (a message
-- served again by other means is not replayed twice), and the latest such dead
-- letter of its message (one per message). requeue_dead_letters replays what this
-- returns, and `wapipe dlq list/replay` lists and counts it, so the CLI never
-- shows a dead letter the replay would refuse. Filters (NULL: no filter):
-- ids; error_code, the parsed code, or the start of the last error when it has
-- none (case-insensitive); error_like, an ILIKE pattern on the last error;
-- message_type; since (dead_at >= since). max_count NULL: all.
CREATE OR REPLACE FUNCTION wapipe.pending_dead_letters(
  ids bigint[] DEFAULT NULL, error_code text DEFAULT NULL, error_like text DEFAULT NULL,
  message_type text DEFAULT NULL, since timestamptz DEFAULT NULL, max_count integer DEFAULT NULL)
RETURNS SETOF wapipe.dead_letters
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
AS $$
  SELECT d.*
  FROM wapipe.dead_letters d
  JOIN wapipe.processed_messages m ON m.id = d.message_id AND m.status = 'dead'
  WHERE d.replayed_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM wapipe.dead_letters later
                    WHERE later.message_id = d.message_id AND later.replayed_at IS NULL
                      AND (later.dead_at, later.id) > (d.dead_at, d.id))
    AND (pending_dead_letters.ids IS NULL OR d.id = ANY (pending_dead_letters.ids))
    AND (pending_dead_letters.error_code IS NULL
         OR d.error_code = pending_dead_letters.error_code
         OR (d.error_code IS NULL AND d.last_error ILIKE pending_dead_letters.error_code || '%'))
    AND (pending_dead_letters.error_like IS NULL OR d.last_error ILIKE pending_dead_letters.error_like)
    AND (pending_dead_letters.message_type IS NULL OR d.message_type = pending_dead_letters.message_type)
    AND (pending_dead_letters.since IS NULL OR d.dead_at >= pending_dead_letters.since)
  ORDER BY d.dead_at, d.id
  LIMIT pending_dead_letters.max_count
$$;
COMMENT ON FUNCTION wapipe.pending_dead_letters(bigint[], text, text, text, timestamptz, integer) IS
  'Operators: the dead letters still replayable (not replayed, message still dead, the latest of its message), oldest first, filtered by ids, error_code (code, or start of the last error without one), error_like (ILIKE), message_type, since; at most max_count (NULL: all). The one rule requeue_dead_letters and wapipe dlq use.';
REVOKE ALL ON FUNCTION wapipe.pending_dead_letters(bigint[], text, text, text, timestamptz, integer) FROM PUBLIC;
