-- wapipe.admit_typing_indicator: may the worker send a read receipt + typing indicator
-- for a message to this business number now? One round trip for the two checks a send has.
-- Returns 'go' (a token of the number's send bucket was taken), 'breaker_open' (the
-- breaker is not closed: no token taken) or 'paced' (no token free now).
--
-- The breaker is only read: typing never takes a half-open trial slot, which belongs to
-- the sends that decide whether the Graph API is back. The bucket is the sender's
-- (check_rate_limit('send:<phone_number_id>', max_per_window, per), see
-- start_outbox_send): Meta counts these calls against the number's throughput, so
-- they share its pacing, and the caller passes the sender's bucket parameters.
CREATE OR REPLACE FUNCTION wapipe.admit_typing_indicator(
  phone_number_id text, breaker text, max_per_window integer, per interval)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  state text;
BEGIN
  IF coalesce(admit_typing_indicator.phone_number_id, '') = '' THEN
    RAISE EXCEPTION 'admit_typing_indicator: phone_number_id must not be empty' USING ERRCODE = '22023';
  END IF;
  SELECT b.state INTO state FROM wapipe.breakers b WHERE b.name = admit_typing_indicator.breaker;
  IF coalesce(state, 'closed') <> 'closed' THEN
    RETURN 'breaker_open';
  END IF;
  IF (SELECT r.allowed FROM wapipe.check_rate_limit(
        'send:' || admit_typing_indicator.phone_number_id, admit_typing_indicator.max_per_window,
        admit_typing_indicator.per) r) THEN
    RETURN 'go';
  END IF;
  RETURN 'paced';
END
$$;
COMMENT ON FUNCTION wapipe.admit_typing_indicator(text, text, integer, interval) IS
  'Worker, before a read receipt + typing indicator call: go (a token of the number''s send bucket taken), '
  'breaker_open (the breaker is not closed; read only, no trial slot taken) or paced (no token now). '
  'Raises 22023 for an empty phone_number_id (and what check_rate_limit raises).';
REVOKE ALL ON FUNCTION wapipe.admit_typing_indicator(text, text, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.admit_typing_indicator(text, text, integer, interval) TO wapipe_worker;
