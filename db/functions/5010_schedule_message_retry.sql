-- wapipe.schedule_message_retry: record a failed attempt of a claimed message; back off or dead-letter it.
-- Returns the time of the next attempt, or NULL when the message went to the dead letters.
--
-- Backoff is least(initial x multiplier^(attempts-1), cap) from wapipe.settings
-- (retry.*), applied to the conversation's available_at (so the conversation
-- waits, in order) and to the pgmq visibility timeout. After retry.max_attempts,
-- or at once when not retryable, the message is archived into wapipe.dead_letters
-- with its error history and the conversation moves on to its next message.
CREATE OR REPLACE FUNCTION wapipe.schedule_message_retry(
  msg_id bigint, worker_id text, error text, retryable boolean DEFAULT true)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  msg        wapipe.processed_messages;
  history    jsonb;
  delay_secs numeric;
  next_at    timestamptz;
BEGIN
  msg := wapipe._claim_held(schedule_message_retry.msg_id, schedule_message_retry.worker_id);

  history := msg.error_history || jsonb_build_array(jsonb_build_object(
               'attempt', msg.attempts, 'error', error, 'at', now(), 'worker', worker_id));

  IF coalesce(retryable, true) AND msg.attempts < wapipe._setting_num('retry.max_attempts') THEN
    delay_secs := least(
      wapipe._setting_num('retry.initial_delay_seconds')
        * power(wapipe._setting_num('retry.multiplier'), greatest(msg.attempts - 1, 0)),
      wapipe._setting_num('retry.max_delay_seconds'));
    next_at := now() + make_interval(secs => delay_secs::double precision);
    UPDATE wapipe.processed_messages m
       SET status = 'queued', next_attempt_at = next_at, last_error = error, error_history = history,
           waiting_for = NULL  -- a real failure: backing off, no longer waiting for a service
     WHERE m.id = msg.id;
    PERFORM wapipe._release_conversation_lease(msg.conversation_key);
    PERFORM wapipe._inbound_set_vt(ARRAY[msg.queue_msg_id], next_at);
    RETURN next_at;
  END IF;

  INSERT INTO wapipe.dead_letters (
    message_id, wamid, conversation_key, message_type, queue_msg_id, last_error, error_code,
    error_history, attempts, correlation_id)
  VALUES (
    msg.id, msg.wamid, msg.conversation_key, msg.message_type, msg.queue_msg_id, error,
    -- a leading "code: ..." (Graph API code, exception name) becomes the error_code
    substring(error FROM '^\s*\[?([A-Za-z0-9_.-]{1,40})\]?:\s'),
    history, msg.attempts, msg.correlation_id);
  UPDATE wapipe.processed_messages m
     SET status = 'dead', processed_at = now(), next_attempt_at = NULL, waiting_for = NULL,
         last_error = error, error_history = history
   WHERE m.id = msg.id;
  PERFORM wapipe._inbound_archive(ARRAY[msg.queue_msg_id]);
  -- a coalesced turn goes as a whole: the texts it answered too (4010_conversation_turns)
  PERFORM wapipe._dead_letter_turn_followers(msg.id, error, worker_id);
  PERFORM wapipe._release_conversation_lease(msg.conversation_key);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION wapipe.schedule_message_retry(bigint, text, text, boolean) IS
  'Record a failed attempt of a message worker_id holds: back off (retry.* settings; returns the next attempt time) or, after retry.max_attempts or when not retryable, move it to wapipe.dead_letters (returns NULL) so the conversation moves on. Raises WA001 when worker_id does not hold the claim.';
REVOKE ALL ON FUNCTION wapipe.schedule_message_retry(bigint, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.schedule_message_retry(bigint, text, text, boolean) TO wapipe_worker;
