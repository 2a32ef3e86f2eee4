-- wapipe.dead_letter_summary: the dead-letter queue grouped by error and message type.
CREATE VIEW wapipe.dead_letter_summary AS
SELECT coalesce(d.error_code, left(nullif(split_part(d.last_error, E'\n', 1), ''), 200), '(no error)')
         AS error,
       d.message_type,
       count(*) AS dead_letters,
       count(*) FILTER (WHERE d.replayed_at IS NULL) AS pending,
       count(*) FILTER (WHERE d.replayed_at IS NOT NULL) AS replayed,
       min(d.dead_at) AS oldest,
       max(d.dead_at) AS newest,
       min(d.dead_at) FILTER (WHERE d.replayed_at IS NULL) AS oldest_pending
FROM wapipe.dead_letters d
GROUP BY 1, 2
ORDER BY pending DESC, dead_letters DESC, 1, 2;

COMMENT ON VIEW wapipe.dead_letter_summary IS
  'Dead letters by error (error_code, else the first line of last_error, at most 200 characters) and '
  'message_type: dead_letters (all retained rows), pending (not replayed), replayed, oldest / newest '
  'dead_at, oldest_pending.';
GRANT SELECT ON wapipe.dead_letter_summary TO wapipe_monitor;
