-- Quarantine: what signed POSTs held that wapipe could not read, for operators.
-- wapipe.replay_quarantine ingests held items again (after an upgrade taught wapipe
-- to read them); wapipe.cleanup_quarantine is the retention.

-- wapipe.replay_quarantine: ingest held quarantine items again, each alone in a webhook
-- envelope. Returns one row per chosen item: its id and what the replay did
-- (replayed with the new event id, still_unreadable, or would_replay on a dry run).
CREATE OR REPLACE FUNCTION wapipe.replay_quarantine(
  ids bigint[] DEFAULT NULL, reason_like text DEFAULT NULL, since timestamptz DEFAULT NULL,
  max_count integer DEFAULT 1000, dry_run boolean DEFAULT false)
RETURNS TABLE (quarantine_id bigint, outcome text, event_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
  q        record;
  v_event  bigint;
  v_still  integer;
BEGIN
  IF replay_quarantine.ids IS NULL AND replay_quarantine.reason_like IS NULL
     AND replay_quarantine.since IS NULL THEN
    RAISE EXCEPTION 'choose quarantined items: ids or a filter (reason_like, since)'
      USING ERRCODE = '22023';
  END IF;
  IF replay_quarantine.max_count IS NULL OR replay_quarantine.max_count NOT BETWEEN 1 AND 100000 THEN
    RAISE EXCEPTION 'max_count must be between 1 and 100000, got %',
      coalesce(replay_quarantine.max_count::text, 'NULL') USING ERRCODE = '22023';
  END IF;

  FOR q IN
    SELECT x.id, x.replay_payload
    FROM wapipe.quarantine x
    WHERE x.status = 'held'
      AND (replay_quarantine.ids IS NULL OR x.id = ANY (replay_quarantine.ids))
      AND (replay_quarantine.reason_like IS NULL OR x.reason ILIKE replay_quarantine.reason_like)
      AND (replay_quarantine.since IS NULL OR x.received_at >= replay_quarantine.since)
    ORDER BY x.received_at, x.id
    LIMIT replay_quarantine.max_count
    FOR UPDATE SKIP LOCKED
  LOOP
    quarantine_id := q.id;
    event_id := NULL;
    IF replay_quarantine.dry_run THEN
      SELECT count(*) FILTER (WHERE it.kind = 'quarantine')::integer INTO v_still
      FROM wapipe._webhook_items(ARRAY[q.replay_payload]) it;
      outcome := CASE WHEN v_still > 0 THEN 'still_unreadable' ELSE 'would_replay' END;
      RETURN NEXT;
      CONTINUE;
    END IF;
    IF EXISTS (SELECT 1 FROM wapipe._webhook_items(ARRAY[q.replay_payload]) it
               WHERE it.kind = 'quarantine') THEN
      outcome := 'still_unreadable';
      RETURN NEXT;
      CONTINUE;
    END IF;
    SELECT r.event_id INTO v_event
    FROM wapipe.ingest_webhooks(ARRAY[q.replay_payload], ARRAY['quarantine-replay:' || q.id]) r;
    UPDATE wapipe.quarantine x SET status = 'replayed', resolved_at = now(), replay_event_id = v_event
    WHERE x.id = q.id;
    outcome := 'replayed';
    event_id := v_event;
    RETURN NEXT;
  END LOOP;
END
$$;
COMMENT ON FUNCTION wapipe.replay_quarantine(bigint[], text, timestamptz, integer, boolean) IS
  'Operators: ingest held quarantine items again (chosen by ids and/or reason_like ILIKE / since, at most max_count), each alone in a webhook envelope; an item still unreadable stays held. Returns (quarantine_id, outcome replayed|still_unreadable|would_replay, event_id). dry_run changes nothing. Raises 22023 without ids or a filter.';
REVOKE ALL ON FUNCTION wapipe.replay_quarantine(bigint[], text, timestamptz, integer, boolean) FROM PUBLIC;


-- wapipe.cleanup_quarantine: delete quarantine items and non-message updates past their
-- retention (settings quarantine.retention_days, updates.retention_days). Returns rows deleted.
CREATE OR REPLACE FUNCTION wapipe.cleanup_quarantine()
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  v_q integer;
  v_u integer;
BEGIN
  DELETE FROM wapipe.quarantine
  WHERE received_at < now() - make_interval(days => wapipe._setting_num('quarantine.retention_days')::integer);
  GET DIAGNOSTICS v_q = ROW_COUNT;
  DELETE FROM wapipe.webhook_updates
  WHERE received_at < now() - make_interval(days => wapipe._setting_num('updates.retention_days')::integer);
  GET DIAGNOSTICS v_u = ROW_COUNT;
  RETURN v_q + v_u;
END
$$;
COMMENT ON FUNCTION wapipe.cleanup_quarantine() IS
  'Retention: delete quarantine items older than quarantine.retention_days and webhook_updates older than updates.retention_days. Returns how many rows it deleted.';
REVOKE ALL ON FUNCTION wapipe.cleanup_quarantine() FROM PUBLIC;


-- wapipe.discard_quarantine: an operator's verdict that held items need nothing more
-- (seen, not worth a replay): they stop counting in system_health and stay until
-- retention. Returns how many it discarded.
CREATE OR REPLACE FUNCTION wapipe.discard_quarantine(ids bigint[] DEFAULT NULL, reason_like text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  v_n integer;
BEGIN
  IF discard_quarantine.ids IS NULL AND discard_quarantine.reason_like IS NULL THEN
    RAISE EXCEPTION 'choose quarantined items: ids or reason_like' USING ERRCODE = '22023';
  END IF;
  UPDATE wapipe.quarantine x SET status = 'discarded', resolved_at = now()
  WHERE x.status = 'held'
    AND (discard_quarantine.ids IS NULL OR x.id = ANY (discard_quarantine.ids))
    AND (discard_quarantine.reason_like IS NULL OR x.reason ILIKE discard_quarantine.reason_like);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION wapipe.discard_quarantine(bigint[], text) IS
  'Operators: mark held quarantine items (by ids and/or reason_like ILIKE) discarded: no longer counted by system_health, kept until quarantine.retention_days. Returns how many. Raises 22023 without ids or a filter.';
REVOKE ALL ON FUNCTION wapipe.discard_quarantine(bigint[], text) FROM PUBLIC;
