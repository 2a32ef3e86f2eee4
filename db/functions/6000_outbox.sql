-- The outbox sender's side of wapipe.outbox: claim rows to send, record each outcome.
--
-- Life cycle: pending -> sending (claimed: lease locked_by/locked_until, attempts + 1)
-- -> [start_outbox_send stamps send_started_at just before the HTTP call]
-- -> sent | failed | dry_run, or back to pending (retry with backoff, or given back).
--
-- Never sent twice blindly. A row still 'sending' after its lease either
-- - has no send_started_at: its sender died before calling Meta; the next claim takes
--   it at once and the lost claim is not counted as an attempt; or
-- - was started: the outcome is UNKNOWN (the sender died mid-call, or mark_outbox_unknown:
--   the call ended without an answer). A status webhook carrying its
--   biz_opaque_callback_data ('outbox:<id>', message_statuses.callback_data) proves
--   Meta accepted it: the row is marked sent with that wamid once its lease is over,
--   and from the moment the webhook is stored the recipient's later rows are no longer
--   held behind it. Without a webhook it is sent again only
--   outbox.unknown_outcome_grace_seconds after its lease ended.
-- Only that recipient's later rows wait for it: the claim's one-row-per-recipient rule
-- is per (phone_number_id, to_wa_id), and rows of other recipients claimed in the same
-- batch were not started, so they are free when the lease ends.
-- Remaining window (documented in worker/sender.py): a message Meta accepted whose
-- first status webhook has not been stored within lease + grace is sent again.
--
-- next_attempt_at of a claimed row is its lease end (mark_outbox_unknown: the end of
-- the grace), so one range scan of outbox_due_idx (next_attempt_at <= now()) finds due
-- pending rows, abandoned claims and unknown-outcome rows to settle; a started row
-- whose lease ended within the grace and has no webhook yet (at most one per sender
-- that died) is stepped over by each walk until it is settled.

-- wapipe._outbox_held: lock an outbox row the caller must hold (status sending, locked_by = worker).
-- Returns the row; raises WA001 (lease not held, db/README.md) when the worker does not hold it (an expired lease not yet taken counts as held).
CREATE OR REPLACE FUNCTION wapipe._outbox_held(outbox_id bigint, worker_id text)
RETURNS wapipe.outbox
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  o wapipe.outbox;
BEGIN
  SELECT x.* INTO o FROM wapipe.outbox x WHERE x.id = outbox_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'outbox row % does not exist', outbox_id USING ERRCODE = 'WA001';
  END IF;
  IF o.status IS DISTINCT FROM 'sending' OR o.locked_by IS DISTINCT FROM _outbox_held.worker_id THEN
    RAISE EXCEPTION 'worker % does not hold outbox row % (status %, held by %)',
      _outbox_held.worker_id, outbox_id, o.status, coalesce(o.locked_by, 'nobody')
      USING ERRCODE = 'WA001';
  END IF;
  RETURN o;
END
$$;
COMMENT ON FUNCTION wapipe._outbox_held(bigint, text) IS
  'Private: lock an outbox row and check that worker_id holds its sending lease; raises WA001 (lease not held) otherwise.';
REVOKE ALL ON FUNCTION wapipe._outbox_held(bigint, text) FROM PUBLIC;

-- wapipe.claim_outbox: claim up to `batch` outbox rows to send, and settle unknown-outcome rows.
-- Returns the claimed rows (status now 'sending', leased to worker_id) with the 24-hour window state.
--
-- Candidates, oldest next_attempt_at first, FOR UPDATE SKIP LOCKED: pending rows
-- that are due, and 'sending' rows whose lease ended and that were never started,
-- or have a status webhook, or were started and the grace has passed. A row is a
-- candidate only when no earlier unfinished row for the same recipient exists that
-- Meta has not reported a status for (replies to one user go out in order, one at a
-- time). A candidate that was attempted before and has a status webhook with
-- callback_data 'outbox:<id>' is marked sent with that wamid (not returned); a started
-- unknown-outcome row already at outbox.max_attempts is failed (not sent again); the
-- rest are claimed.
-- window_open: the 24-hour customer-service window of the conversation
-- (phone_number_id:to_wa_id) is open: wapipe._window_closes_at (the user's last
-- message or reaction + 24 h) is in the future. last_inbound_at = closes_at - 24 h.
-- Plans: generic, and never a sequential scan, a bitmap scan or a sort: the candidates
-- are read from outbox_due_idx in the claim's order and the walk stops at `batch`,
-- and every later statement finds its rows by primary key (its status tests written
-- so that they cannot select outbox_due_idx, which holds every waiting row). (A plan made while the
-- outbox was small bitmap-scanned every due row and sorted them: O(backlog) per
-- claim, 42 ms at 19,000 waiting, so after an outage the sender fell further behind.)
CREATE OR REPLACE FUNCTION wapipe.claim_outbox(worker_id text, batch integer DEFAULT 20, lock_seconds integer DEFAULT 30)
RETURNS TABLE (
  id bigint, source_key text, seq smallint, phone_number_id text, to_wa_id text, body jsonb,
  attempts integer, correlation_id text, window_open boolean, last_inbound_at timestamptz,
  locked_until timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_bitmapscan = off SET enable_sort = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
#variable_conflict use_column
DECLARE
  grace        interval := make_interval(secs => wapipe._setting_num('outbox.unknown_outcome_grace_seconds'));
  max_attempts integer := wapipe._setting_num('outbox.max_attempts')::integer;
  lease_end    timestamptz;
  candidates   bigint[];
  settled      bigint[];
BEGIN
  IF coalesce(btrim(claim_outbox.worker_id), '') = '' THEN
    RAISE EXCEPTION 'worker_id must be a non-empty text' USING ERRCODE = '22023';
  END IF;
  IF claim_outbox.batch IS NULL OR claim_outbox.batch NOT BETWEEN 1 AND 1000 THEN
    RAISE EXCEPTION 'batch must be between 1 and 1000, got %', coalesce(claim_outbox.batch::text, 'NULL')
      USING ERRCODE = '22023';
  END IF;
  IF claim_outbox.lock_seconds IS NULL OR claim_outbox.lock_seconds NOT BETWEEN 1 AND 3600 THEN
    RAISE EXCEPTION 'lock_seconds must be between 1 and 3600, got %',
      coalesce(claim_outbox.lock_seconds::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  lease_end := now() + make_interval(secs => claim_outbox.lock_seconds);

  SELECT array_agg(c.id) INTO candidates
  FROM (
    SELECT o.id
    FROM wapipe.outbox o
    WHERE o.status IN ('pending', 'sending')
      AND o.next_attempt_at <= now()
      AND (o.status = 'pending' OR o.locked_until IS NULL
           OR (o.locked_until <= now()
               AND (o.send_started_at IS NULL               -- never called Meta
                    OR o.locked_until <= now() - grace       -- no webhook within the grace
                    OR EXISTS (SELECT 1 FROM wapipe.message_statuses s
                               WHERE s.callback_data = 'outbox:' || o.id))))
      -- the recipient's earlier unfinished rows hold it back, unless Meta already
      -- reported a status for them (accepted: the order is kept)
      AND NOT EXISTS (
        SELECT 1 FROM wapipe.outbox e
        WHERE e.phone_number_id = o.phone_number_id AND e.to_wa_id = o.to_wa_id
          AND e.status IN ('pending', 'sending') AND e.id < o.id
          AND NOT EXISTS (SELECT 1 FROM wapipe.message_statuses s
                          WHERE s.callback_data = 'outbox:' || e.id))
    ORDER BY o.next_attempt_at, o.id
    LIMIT claim_outbox.batch
    FOR UPDATE OF o SKIP LOCKED
  ) c;
  IF candidates IS NULL THEN
    RETURN;
  END IF;

  -- Meta already reported a status for an earlier attempt: it was sent.
  WITH reported AS (
    SELECT DISTINCT ON (o.id) o.id AS outbox_id, s.wamid, s.status_at
    FROM wapipe.outbox o
    JOIN wapipe.message_statuses s ON s.callback_data = 'outbox:' || o.id
    WHERE o.id = ANY (candidates) AND o.attempts > 0
    ORDER BY o.id, s.status_rank DESC, s.updated_at DESC
  ), recovered AS (
    UPDATE wapipe.outbox o
       SET status = 'sent', sent_wamid = r.wamid, sent_at = coalesce(r.status_at, now()),
           locked_until = NULL,
           last_error = 'send outcome was unknown; recovered from a status webhook ('
                        || coalesce(o.last_error, 'no error recorded') || ')'
      FROM reported r
     WHERE o.id = r.outbox_id
    RETURNING o.id
  )
  SELECT coalesce(array_agg(r.id), '{}') INTO settled FROM recovered r;

  -- Outcome unknown and no attempts left: never send it again.
  UPDATE wapipe.outbox o
     SET status = 'failed', locked_until = NULL,
         last_error = format('send outcome unknown after %s attempts and no status webhook for outbox:%s; not re-sent (last error: %s)',
                             o.attempts, o.id, coalesce(o.last_error, 'none'))
   WHERE o.id = ANY (candidates) AND NOT o.id = ANY (settled)
     -- (... IS TRUE: a status test the planner cannot match with outbox_due_idx's
     -- predicate, so the rows are found by primary key, not by walking every due row)
     AND (o.status = 'sending') IS TRUE AND o.send_started_at IS NOT NULL AND o.attempts >= max_attempts;

  RETURN QUERY
  WITH claimed AS (
    UPDATE wapipe.outbox o
       SET status = 'sending', locked_by = claim_outbox.worker_id, locked_until = lease_end,
           -- a claim that died before calling Meta was no attempt
           attempts = o.attempts + CASE WHEN o.status = 'sending' AND o.send_started_at IS NULL
                                        THEN 0 ELSE 1 END,
           next_attempt_at = lease_end, send_started_at = NULL
     WHERE o.id = ANY (candidates) AND (o.status IN ('pending', 'sending')) IS TRUE  -- by primary key
       AND NOT o.id = ANY (settled)
    RETURNING o.*
  )
  , windows AS MATERIALIZED (  -- (one call of the window rule for the batch)
    SELECT w.conversation_key, w.closes_at
    FROM wapipe._windows_close_at(ARRAY(SELECT c.phone_number_id || ':' || c.to_wa_id FROM claimed c)) w
  )
  SELECT c.id, c.source_key, c.seq, c.phone_number_id, c.to_wa_id, c.body, c.attempts,
         c.correlation_id, coalesce(w.closes_at > now(), false), w.closes_at - interval '24 hours',
         c.locked_until
  FROM claimed c
  LEFT JOIN windows w ON w.conversation_key = c.phone_number_id || ':' || c.to_wa_id
  ORDER BY c.id;
END
$$;
COMMENT ON FUNCTION wapipe.claim_outbox(text, integer, integer) IS
  'Sender: claim up to batch outbox rows (due pending rows, abandoned claims never started (no attempt counted), and started '
  'rows whose lease ended with a status webhook for outbox:<id> or past outbox.unknown_outcome_grace_seconds; oldest first, '
  'FOR UPDATE SKIP LOCKED, one row per recipient at a time in id order, a row reported by a status webhook no longer holding '
  'its recipient back): status sending, lease of lock_seconds, attempts + 1. Rows with a status webhook for outbox:<id> are '
  'marked sent instead; started unknown-outcome rows at max attempts are failed. '
  'Returns the claimed rows with window_open (last inbound message < 24 h old) and last_inbound_at.';
REVOKE ALL ON FUNCTION wapipe.claim_outbox(text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.claim_outbox(text, integer, integer) TO wapipe_worker;

-- wapipe.start_outbox_send: take a send token of the row's business number and, when one is free, mark the row started.
-- Returns 0 when the caller may call Meta now (send_started_at stamped), else milliseconds to wait for a token.
--
-- The stamp is what tells an abandoned claim (never started: claimed again at once)
-- from a send whose outcome is unknown (started: waits for its status webhook or the
-- grace). Token and stamp in one round trip: the sender asks once per row anyway.
-- The token bucket is check_rate_limit('send:<phone_number_id>', max_per_window, per).
-- Raises WA001 when worker_id does not hold the row or its lease has ended: a send
-- must start while the lease lives, or another sender may already have taken the row.
CREATE OR REPLACE FUNCTION wapipe.start_outbox_send(id bigint, worker_id text, max_per_window integer, per interval)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  o    wapipe.outbox;
  rate record;
BEGIN
  o := wapipe._outbox_held(start_outbox_send.id, start_outbox_send.worker_id);
  IF o.locked_until IS NULL OR o.locked_until <= now() THEN
    RAISE EXCEPTION 'the lease of worker % on outbox row % has ended; not started', start_outbox_send.worker_id, o.id
      USING ERRCODE = 'WA001';
  END IF;
  SELECT r.allowed, r.retry_after_ms INTO rate
  FROM wapipe.check_rate_limit('send:' || o.phone_number_id, start_outbox_send.max_per_window,
                               start_outbox_send.per) r;
  IF NOT rate.allowed THEN
    RETURN greatest(rate.retry_after_ms, 1);
  END IF;
  UPDATE wapipe.outbox x SET send_started_at = now() WHERE x.id = o.id;
  RETURN 0;
END
$$;
COMMENT ON FUNCTION wapipe.start_outbox_send(bigint, text, integer, interval) IS
  'Sender, right before the Graph API call of a claimed outbox row: take a token of check_rate_limit(''send:<phone_number_id>'', '
  'max_per_window, per); with one, stamp send_started_at (from now on the outcome counts as unknown until recorded) and return 0, '
  'else return the milliseconds to wait. Raises WA001 when worker_id does not hold the row or its lease has ended.';
REVOKE ALL ON FUNCTION wapipe.start_outbox_send(bigint, text, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.start_outbox_send(bigint, text, integer, interval) TO wapipe_worker;

-- wapipe.mark_outbox_sent: record that Meta accepted a claimed row, with the wamid it returned.
-- Returns nothing; a repeat with the same wamid is a no-op; raises WA001 when worker_id does not hold the row.
CREATE OR REPLACE FUNCTION wapipe.mark_outbox_sent(id bigint, worker_id text, wamid text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  IF coalesce(btrim(mark_outbox_sent.wamid), '') = '' THEN
    RAISE EXCEPTION 'wamid must be a non-empty text' USING ERRCODE = '22023';
  END IF;
  IF EXISTS (SELECT 1 FROM wapipe.outbox o
             WHERE o.id = mark_outbox_sent.id AND o.status = 'sent'
               AND o.sent_wamid = mark_outbox_sent.wamid
               AND o.locked_by = mark_outbox_sent.worker_id) THEN
    RETURN;  -- the first call committed but its answer was lost
  END IF;
  PERFORM wapipe._outbox_held(mark_outbox_sent.id, mark_outbox_sent.worker_id);
  -- Meta accepted the send whatever the wamid: one already recorded for another row (never
  -- seen from Meta; a test double restarted) must not refuse the record, or the sender would
  -- try to record it for ever. The row is sent, without the wamid, and says why.
  UPDATE wapipe.outbox o
     SET status = 'sent', sent_at = now(), locked_until = NULL,
         sent_wamid = CASE WHEN d.id IS NULL THEN mark_outbox_sent.wamid END,
         last_error = CASE WHEN d.id IS NULL THEN o.last_error
                           ELSE format('sent, but Meta returned wamid %s, already recorded for outbox row %s: not stored',
                                       mark_outbox_sent.wamid, d.id) END
    FROM (SELECT NULL::bigint) AS one(nothing)
    LEFT JOIN wapipe.outbox d ON d.sent_wamid = mark_outbox_sent.wamid AND d.id <> mark_outbox_sent.id
   WHERE o.id = mark_outbox_sent.id;
END
$$;
COMMENT ON FUNCTION wapipe.mark_outbox_sent(bigint, text, text) IS
  'Sender: mark a claimed outbox row sent and store the wamid Meta returned (status webhooks link to it). '
  'Idempotent for the same worker and wamid; a wamid already recorded for another row is not stored (the row is sent, last_error says why); '
  'raises WA001 when worker_id does not hold the row, 22023 for an empty wamid.';
REVOKE ALL ON FUNCTION wapipe.mark_outbox_sent(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.mark_outbox_sent(bigint, text, text) TO wapipe_worker;

-- wapipe.mark_outbox_failed: record a failed send of a claimed row; schedule a retry or fail it for good.
-- Returns the next attempt time, or NULL when the row is failed for good (not retryable, or max attempts reached).
--
-- Backoff after attempt n: least(outbox.initial_delay_seconds * 2^(n-1), outbox.max_delay_seconds),
-- at least outbox.pair_backoff_seconds for 131056 (pair rate limit); retry_after_seconds,
-- when given, replaces it. The recipient's later rows wait behind this one (claim order).
CREATE OR REPLACE FUNCTION wapipe.mark_outbox_failed(
  id bigint, worker_id text, error_code integer, error text, retryable boolean,
  retry_after_seconds integer DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  o          wapipe.outbox;
  delay_secs numeric;
  next_at    timestamptz;
BEGIN
  IF mark_outbox_failed.retryable IS NULL THEN
    RAISE EXCEPTION 'retryable must be true or false' USING ERRCODE = '22023';
  END IF;
  IF mark_outbox_failed.retry_after_seconds < 0 THEN
    RAISE EXCEPTION 'retry_after_seconds must be >= 0, got %', mark_outbox_failed.retry_after_seconds
      USING ERRCODE = '22023';
  END IF;
  o := wapipe._outbox_held(mark_outbox_failed.id, mark_outbox_failed.worker_id);

  IF NOT mark_outbox_failed.retryable OR o.attempts >= wapipe._setting_num('outbox.max_attempts') THEN
    UPDATE wapipe.outbox x
       SET status = 'failed', locked_until = NULL, error_code = mark_outbox_failed.error_code,
           last_error = left(coalesce(mark_outbox_failed.error, 'failed'), 2000)
     WHERE x.id = o.id;
    RETURN NULL;
  END IF;

  delay_secs := coalesce(
    mark_outbox_failed.retry_after_seconds,
    greatest(
      least(wapipe._setting_num('outbox.initial_delay_seconds') * power(2::numeric, greatest(o.attempts - 1, 0)),
            wapipe._setting_num('outbox.max_delay_seconds')),
      CASE WHEN mark_outbox_failed.error_code = 131056
           THEN wapipe._setting_num('outbox.pair_backoff_seconds') ELSE 0 END));
  next_at := now() + make_interval(secs => delay_secs);
  UPDATE wapipe.outbox x
     SET status = 'pending', locked_by = NULL, locked_until = NULL, next_attempt_at = next_at,
         error_code = mark_outbox_failed.error_code,
         last_error = left(coalesce(mark_outbox_failed.error, 'failed'), 2000)
   WHERE x.id = o.id;
  RETURN next_at;
END
$$;
COMMENT ON FUNCTION wapipe.mark_outbox_failed(bigint, text, integer, text, boolean, integer) IS
  'Sender: record a failed send of a claimed outbox row. Retryable and under outbox.max_attempts: back to pending after '
  'least(initial * 2^(attempts-1), cap) (>= outbox.pair_backoff_seconds for 131056; retry_after_seconds overrides) and '
  'returns that time; otherwise status failed with the error code and returns NULL. Raises WA001 when worker_id does not hold the row.';
REVOKE ALL ON FUNCTION wapipe.mark_outbox_failed(bigint, text, integer, text, boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.mark_outbox_failed(bigint, text, integer, text, boolean, integer) TO wapipe_worker;

-- wapipe.mark_outbox_unknown: record that a send of a claimed row ended without an answer (timeout, dropped connection).
-- Returns the time after which a claim settles the row (status webhook found: sent; else sent again).
--
-- The row stays 'sending' (started) with its lease ended now: exactly the state a worker
-- killed mid-call leaves behind. The recipient's later rows go as soon as a status
-- webhook for outbox:<id> is stored; claim_outbox settles the row itself after the grace.
CREATE OR REPLACE FUNCTION wapipe.mark_outbox_unknown(id bigint, worker_id text, error text)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  next_at timestamptz := now()
    + make_interval(secs => wapipe._setting_num('outbox.unknown_outcome_grace_seconds'));
BEGIN
  PERFORM wapipe._outbox_held(mark_outbox_unknown.id, mark_outbox_unknown.worker_id);
  UPDATE wapipe.outbox x
     SET locked_until = now(), next_attempt_at = next_at, error_code = NULL,
         send_started_at = coalesce(x.send_started_at, now()),
         last_error = left(coalesce(mark_outbox_unknown.error, 'send outcome unknown'), 2000)
   WHERE x.id = mark_outbox_unknown.id;
  RETURN next_at;
END
$$;
COMMENT ON FUNCTION wapipe.mark_outbox_unknown(bigint, text, text) IS
  'Sender: the send of a claimed outbox row ended without an answer (Meta may have accepted it). The row stays sending with '
  'its lease ended; a status webhook for outbox:<id> frees the recipient''s later rows at once; claim_outbox settles it after '
  'outbox.unknown_outcome_grace_seconds (returned time): sent when a status webhook came, else sent again. '
  'Raises WA001 when worker_id does not hold the row.';
REVOKE ALL ON FUNCTION wapipe.mark_outbox_unknown(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.mark_outbox_unknown(bigint, text, text) TO wapipe_worker;

-- wapipe.mark_outbox_dry_run: record that a claimed row was not sent because no access token is configured.
-- Returns nothing; the row stays in the outbox with status 'dry_run'; raises WA001 when worker_id does not hold it.
CREATE OR REPLACE FUNCTION wapipe.mark_outbox_dry_run(id bigint, worker_id text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  PERFORM wapipe._outbox_held(mark_outbox_dry_run.id, mark_outbox_dry_run.worker_id);
  UPDATE wapipe.outbox x SET status = 'dry_run', locked_until = NULL WHERE x.id = mark_outbox_dry_run.id;
END
$$;
COMMENT ON FUNCTION wapipe.mark_outbox_dry_run(bigint, text) IS
  'Sender without WHATSAPP_ACCESS_TOKEN: mark a claimed outbox row dry_run (kept, never sent). '
  'Raises WA001 when worker_id does not hold the row.';
REVOKE ALL ON FUNCTION wapipe.mark_outbox_dry_run(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.mark_outbox_dry_run(bigint, text) TO wapipe_worker;

-- wapipe.release_outbox: give claimed rows back unsent (breaker open, pacing past the lease, shutdown).
-- Returns how many rows were released; raises WA001 (nothing released) when worker_id does not hold one of them.
--
-- Only for rows this worker has NOT sent in this claim: they go back to pending
-- after retry_after_seconds and the claim does not count as an attempt.
CREATE OR REPLACE FUNCTION wapipe.release_outbox(ids bigint[], worker_id text, retry_after_seconds integer DEFAULT 0)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  outbox_id bigint;
  released  integer;
BEGIN
  IF release_outbox.retry_after_seconds IS NULL OR release_outbox.retry_after_seconds < 0 THEN
    RAISE EXCEPTION 'retry_after_seconds must be >= 0' USING ERRCODE = '22023';
  END IF;
  FOREACH outbox_id IN ARRAY coalesce(release_outbox.ids, '{}') LOOP
    PERFORM wapipe._outbox_held(outbox_id, release_outbox.worker_id);
  END LOOP;
  UPDATE wapipe.outbox x
     SET status = 'pending', locked_by = NULL, locked_until = NULL, send_started_at = NULL,
         attempts = greatest(x.attempts - 1, 0),
         next_attempt_at = now() + make_interval(secs => release_outbox.retry_after_seconds)
   WHERE x.id = ANY (release_outbox.ids);
  GET DIAGNOSTICS released = ROW_COUNT;
  RETURN released;
END
$$;
COMMENT ON FUNCTION wapipe.release_outbox(bigint[], text, integer) IS
  'Sender: give claimed, unsent outbox rows back (pending again after retry_after_seconds; the claim is not counted as an attempt). '
  'Returns rows released; raises WA001 when worker_id does not hold one of them.';
REVOKE ALL ON FUNCTION wapipe.release_outbox(bigint[], text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.release_outbox(bigint[], text, integer) TO wapipe_worker;

-- wapipe.mark_outbox_window_closed: record that a claimed row was not sent because the 24-hour window is closed.
-- Returns nothing; the row ends 'window_closed' with the reason (never retried); raises WA001 when worker_id does not hold it.
--
-- The sender calls it for a free-form row outside the window that carries no
-- outside_window template (checked before calling Meta: error_code NULL), and for a
-- row Meta refused with 131047 (the window closed between the check and the send)
-- when no fallback is left. Not 'failed': nothing went wrong that a retry could fix,
-- and operators list these apart (wapipe window list) to follow up with a template.
CREATE OR REPLACE FUNCTION wapipe.mark_outbox_window_closed(id bigint, worker_id text, error_code integer, reason text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  PERFORM wapipe._outbox_held(mark_outbox_window_closed.id, mark_outbox_window_closed.worker_id);
  UPDATE wapipe.outbox x
     SET status = 'window_closed', locked_until = NULL,
         error_code = mark_outbox_window_closed.error_code,
         last_error = left(coalesce(mark_outbox_window_closed.reason,
                                    '24-hour customer service window closed; not sent'), 2000)
   WHERE x.id = mark_outbox_window_closed.id;
END
$$;
COMMENT ON FUNCTION wapipe.mark_outbox_window_closed(bigint, text, integer, text) IS
  'Sender: a claimed outbox row was not sent because the 24-hour customer-service window is closed (checked before sending: error_code NULL; or Meta''s 131047) and it has no outside_window template left: status window_closed, never retried, with the reason. Raises WA001 when worker_id does not hold the row.';
REVOKE ALL ON FUNCTION wapipe.mark_outbox_window_closed(bigint, text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.mark_outbox_window_closed(bigint, text, integer, text) TO wapipe_worker;

-- wapipe.use_outbox_window_fallback: the window is closed: send the row's outside_window template instead of its body.
-- Returns the template message object to send; raises 22023 when the row has none (or it is not a template), WA001 when worker_id does not hold the row.
--
-- The fallback travels in the row's body (body.outside_window, put there by the
-- worker from the agent's answer) and is never sent while the window is open.
-- window_fallback_at is stamped, so the row says what the user got.
CREATE OR REPLACE FUNCTION wapipe.use_outbox_window_fallback(id bigint, worker_id text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  o wapipe.outbox;
BEGIN
  o := wapipe._outbox_held(use_outbox_window_fallback.id, use_outbox_window_fallback.worker_id);
  IF jsonb_typeof(o.body->'outside_window') IS DISTINCT FROM 'object'
     OR o.body->'outside_window'->>'type' IS DISTINCT FROM 'template' THEN
    RAISE EXCEPTION 'outbox row % has no outside_window template', o.id USING ERRCODE = '22023';
  END IF;
  UPDATE wapipe.outbox x SET window_fallback_at = now() WHERE x.id = o.id;
  RETURN o.body->'outside_window';
END
$$;
COMMENT ON FUNCTION wapipe.use_outbox_window_fallback(bigint, text) IS
  'Sender, 24-hour window closed: stamp window_fallback_at on a claimed outbox row and return its body.outside_window template, to send in place of the free-form body. Raises 22023 when there is no outside_window template, WA001 when worker_id does not hold the row.';
REVOKE ALL ON FUNCTION wapipe.use_outbox_window_fallback(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.use_outbox_window_fallback(bigint, text) TO wapipe_worker;
