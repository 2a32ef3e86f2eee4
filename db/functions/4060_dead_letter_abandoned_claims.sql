-- wapipe._dead_letter_abandoned_claims: dead-letter heads whose last allowed attempt's lease expired.
-- Returns how many messages went to the dead letters.
--
-- Such a message crashed or hung every worker that took it (e.g. killed by OOM):
-- claiming it again would loop forever. cleanup_stale_message_locks runs it every
-- minute; the claim applies the same rule to the heads its walk reaches.
-- Expired leases are found in one pass over conversations (no index holds the lease
-- columns, so that claims stay HOT updates: migration 0020). Plan: generic
-- (a custom plan per call, for its timestamp, cost more than the statement).
CREATE OR REPLACE FUNCTION wapipe._dead_letter_abandoned_claims(expired_before timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  n integer;
BEGIN
  -- schedule_message_retry returns NULL once dead-lettered: count the calls, not the values
  SELECT count(wapipe.schedule_message_retry(
           m.queue_msg_id, c.locked_by,
           format('abandoned: the lease of attempt %s expired without a result (worker crashed or hung)',
                  m.attempts),
           false) IS NULL)
  INTO n
  FROM (SELECT c0.conversation_key, c0.locked_by, c0.head_message_id
        FROM wapipe.conversations c0
        WHERE c0.locked_by IS NOT NULL AND c0.locked_until <= expired_before
        ORDER BY c0.conversation_key
        FOR UPDATE SKIP LOCKED) c
  JOIN wapipe.processed_messages m
    ON m.id = c.head_message_id AND m.status = 'processing' AND m.claimed_by = c.locked_by
  WHERE m.attempts >= wapipe._setting_num('retry.max_attempts');
  RETURN n;
END
$$;
COMMENT ON FUNCTION wapipe._dead_letter_abandoned_claims(timestamptz) IS
  'Private: dead-letter heads whose lease (held by their claimer) expired before expired_before after their last allowed attempt; returns how many.';
REVOKE ALL ON FUNCTION wapipe._dead_letter_abandoned_claims(timestamptz) FROM PUBLIC;
