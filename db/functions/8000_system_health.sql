-- wapipe._health_thresholds: the thresholds system_health judges by, checked and merged.
-- Returns a jsonb object: the built-in defaults, overridden by the health.* settings rows,
-- overridden by the caller's thresholds (numbers, or numeric strings). Raises 22023 for
-- thresholds that are not a JSON object, an unknown key (HINT lists the known ones) or a
-- value that is not a non-negative number.
CREATE OR REPLACE FUNCTION wapipe._health_thresholds(thresholds jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
  -- used when a health.* settings row was deleted by hand
  fallback constant jsonb := '{
    "oldest_age_degraded_seconds": 60, "oldest_age_critical_seconds": 300,
    "queue_depth_degraded": 1000, "queue_depth_critical": 10000,
    "retrying_degraded": 10, "retrying_critical": 100,
    "dead_letters_degraded": 1, "dead_letters_critical": 100,
    "breakers_open_degraded": 1, "breakers_open_critical": 3,
    "worker_heartbeat_stale_seconds": 30, "dead_worker_window_seconds": 3600,
    "stuck_workflow_grace_seconds": 120, "stuck_workflows_degraded": 1, "stuck_workflows_critical": 100,
    "stale_lock_seconds": 300, "stale_locks_degraded": 1,
    "outbox_age_degraded_seconds": 120, "outbox_age_critical_seconds": 900,
    "cron_failures_degraded": 1, "cron_failures_critical": 10,
    "cron_silence_degraded_seconds": 300}';
  t       jsonb;
  bad_key text;
BEGIN
  IF thresholds IS NULL THEN
    thresholds := '{}';
  END IF;
  IF jsonb_typeof(thresholds) <> 'object' THEN
    RAISE EXCEPTION 'thresholds must be a JSON object, got %', jsonb_typeof(thresholds)
      USING ERRCODE = '22023';
  END IF;
  SELECT k INTO bad_key FROM jsonb_object_keys(thresholds) k WHERE NOT fallback ? k ORDER BY k LIMIT 1;
  IF bad_key IS NOT NULL THEN
    RAISE EXCEPTION 'unknown health threshold "%"', bad_key
      USING ERRCODE = '22023', HINT = 'Known: ' || (SELECT string_agg(k, ', ' ORDER BY k)
                                                   FROM jsonb_object_keys(fallback) k);
  END IF;
  SELECT k INTO bad_key FROM jsonb_each(thresholds) e(k, v)
  WHERE NOT (jsonb_typeof(v) = 'number' AND (v #>> '{}')::numeric >= 0)
    AND NOT (jsonb_typeof(v) = 'string' AND v #>> '{}' ~ '^\s*[0-9]+(\.[0-9]+)?\s*$')
  ORDER BY k LIMIT 1;
  IF bad_key IS NOT NULL THEN
    RAISE EXCEPTION 'health threshold "%" must be a non-negative number, got %', bad_key, thresholds -> bad_key
      USING ERRCODE = '22023';
  END IF;
  t := fallback
       || coalesce((SELECT jsonb_object_agg(substr(s.key, 8), s.value) FROM wapipe.settings s
                    WHERE s.key LIKE 'health.%' AND fallback ? substr(s.key, 8)), '{}')
       || (SELECT coalesce(jsonb_object_agg(k, to_jsonb(trim_scale((v #>> '{}')::numeric))), '{}')
           FROM jsonb_each(thresholds) e(k, v));

  RETURN t;
END
$$;
COMMENT ON FUNCTION wapipe._health_thresholds(jsonb) IS
  'Private step of system_health: its thresholds (defaults < health.* settings < the argument), checked; raises 22023 for a bad argument.';
REVOKE ALL ON FUNCTION wapipe._health_thresholds(jsonb) FROM PUBLIC;

-- wapipe.system_health: one-row health summary of the pipeline (queue, retries, DLQ, breakers, workers, workflows, outbox, pg_cron).
-- Returns status ok | degraded | critical, the reasons (empty when ok), the key numbers and a details jsonb.
--
-- Thresholds come from wapipe.settings (health.*, migration 0011); the thresholds
-- argument overrides any of them by key without the prefix, e.g.
-- '{"oldest_age_degraded_seconds": 10}'. An unknown or non-numeric key raises 22023,
-- so a typo never silently leaves a default in place. Used by monitoring query 14,
-- `wapipe health` and status pages; every count reads a partial or time index.
CREATE OR REPLACE FUNCTION wapipe.system_health(thresholds jsonb DEFAULT '{}')
RETURNS TABLE (
  status text, reasons text[], queue_depth bigint, oldest_message_age interval, in_flight bigint,
  retrying bigint, dead_letters bigint, breakers_open integer, workers_alive integer,
  stuck_workflows bigint, cron_failures_last_hour bigint, last_cron_run timestamptz, details jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
  t             jsonb;
  crit          text[] := '{}';
  degr          text[] := '{}';
  queued        bigint;
  oldest_at     timestamptz;
  open_names    text[];
  half_open     text[];
  dead_workers  text[];
  stale_locks   bigint;
  outbox_oldest timestamptz;
  outbox_failed bigint;
  cron_jobs     jsonb;
  paused_jobs   text[];
  last_failure  text;
  age_secs      numeric;
  deferred      bigint;
  deferred_by   jsonb;
  active_oldest timestamptz;
  quarantined   bigint;
  window_closed bigint;
  handed_off    bigint;
BEGIN
  t := wapipe._health_thresholds(thresholds);

  -- inbound queue (unfinished = processed_at IS NULL): processed_messages_unfinished_idx /
  -- _unfinished_received_idx
  SELECT count(*) FILTER (WHERE m.status = 'queued'),
         count(*) FILTER (WHERE m.status = 'processing'),
         -- waiting for an unavailable service is not retrying (counted as deferred below)
         count(*) FILTER (WHERE m.status = 'queued' AND m.attempts > 0 AND m.waiting_for IS NULL)
    INTO queued, in_flight, retrying
  FROM wapipe.processed_messages m WHERE m.processed_at IS NULL;
  queue_depth := queued + in_flight;
  SELECT m.received_at INTO oldest_at FROM wapipe.processed_messages m
  WHERE m.processed_at IS NULL ORDER BY m.received_at LIMIT 1;
  oldest_message_age := now() - oldest_at;

  -- messages waiting for an unavailable service (defer_message): the deferred
  -- conversations (conversations_deferred_idx), each head's service, with the messages
  -- queued behind the head. A wait is degraded, never critical by itself: the age
  -- verdict below looks at the oldest message of the other conversations.
  SELECT coalesce(jsonb_object_agg(w.service, w.n), '{}'), coalesce(sum(w.n), 0)
    INTO deferred_by, deferred
  FROM (SELECT h.waiting_for AS service, count(*) AS n
        FROM wapipe.conversations c
        JOIN wapipe.processed_messages h ON h.id = c.head_message_id
        JOIN wapipe.processed_messages m
          ON m.conversation_key = c.conversation_key AND m.processed_at IS NULL
        WHERE c.deferred_until IS NOT NULL AND h.status = 'queued' AND h.waiting_for IS NOT NULL
        GROUP BY h.waiting_for) w;
  IF deferred > 0 THEN
    SELECT m.received_at INTO active_oldest FROM wapipe.processed_messages m
    WHERE m.processed_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM wapipe.conversations c
                      WHERE c.conversation_key = m.conversation_key AND c.deferred_until IS NOT NULL)
    ORDER BY m.received_at LIMIT 1;
  ELSE
    active_oldest := oldest_at;
  END IF;

  -- dead letters still waiting (dead_letters_pending_idx), one per message still dead
  -- (each found by primary key)
  SELECT count(DISTINCT d.message_id) INTO dead_letters
  FROM wapipe.dead_letters d JOIN wapipe.processed_messages m ON m.id = d.message_id AND m.status = 'dead'
  WHERE d.replayed_at IS NULL;

  -- breakers, effective state: an open one past open_seconds admits trials (half_open)
  SELECT coalesce(array_agg(b.name ORDER BY b.name) FILTER (WHERE NOT b.trial_due), '{}'),
         coalesce(array_agg(b.name ORDER BY b.name) FILTER (WHERE b.trial_due), '{}')
    INTO open_names, half_open
  FROM (SELECT x.name,
               x.state = 'open' AND x.opened_at <= now() - make_interval(secs => coalesce(
                 x.open_seconds, wapipe._breaker_setting(x.kind, 'open_seconds'))::double precision)
                 AS trial_due
        FROM wapipe.breakers x WHERE x.state = 'open') b;
  half_open := half_open || coalesce((SELECT array_agg(x.name ORDER BY x.name) FROM wapipe.breakers x
                                      WHERE x.state = 'half_open'), '{}');
  breakers_open := cardinality(open_names);

  -- workers: alive = running and beating; dead = no clean stop and a stale heartbeat
  SELECT count(*) FILTER (WHERE w.heartbeat_at > now() - make_interval(
                                  secs => (t->>'worker_heartbeat_stale_seconds')::double precision)),
         coalesce(array_agg(w.worker_id ORDER BY w.heartbeat_at DESC) FILTER (
           WHERE w.heartbeat_at <= now() - make_interval(
                   secs => (t->>'worker_heartbeat_stale_seconds')::double precision)
             AND w.heartbeat_at > now() - make_interval(
                   secs => (t->>'dead_worker_window_seconds')::double precision)), '{}')
    INTO workers_alive, dead_workers
  FROM wapipe.workers w WHERE w.stopped_at IS NULL;

  -- workflows the minute expiry job should have ended (workflow_states_expiry_idx)
  SELECT count(*) INTO stuck_workflows FROM wapipe.workflow_states w
  WHERE w.status = 'active'
    AND w.expires_at < now() - make_interval(secs => (t->>'stuck_workflow_grace_seconds')::double precision);

  -- leases the minute cleanup job should have cleared (one pass over conversations)
  SELECT count(*) INTO stale_locks FROM wapipe.conversations c
  WHERE c.locked_by IS NOT NULL
    AND c.locked_until < now() - make_interval(secs => (t->>'stale_lock_seconds')::double precision);

  -- replies not sent yet (outbox_due_idx), and replies of the last day given up on
  SELECT min(o.created_at) INTO outbox_oldest FROM wapipe.outbox o WHERE o.status IN ('pending', 'sending');
  SELECT count(*) INTO outbox_failed FROM wapipe.outbox o
  WHERE o.created_at > now() - interval '1 day' AND o.status = 'failed';

  -- replies of the last day held back by the 24-hour window (outbox_window_closed_idx),
  -- conversations a human has now (handoffs_open_until_idx): told, not a fault (issue 17)
  SELECT count(*) INTO window_closed FROM wapipe.outbox o
  WHERE o.status = 'window_closed' AND o.created_at > now() - interval '1 day';
  SELECT count(*) INTO handed_off FROM wapipe.handoffs h WHERE h.ended_at IS NULL AND h.until > now();

  -- what signed POSTs held that wapipe could not read, still held (quarantine_held_idx)
  SELECT count(*) INTO quarantined FROM wapipe.quarantine q WHERE q.status = 'held';

  -- pg_cron: the wapipe-* jobs of this database and their recent runs
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'job', j.jobname, 'schedule', j.schedule, 'active', j.active,
           'last_run', r.last_start, 'last_status', r.last_status,
           'failures_last_hour', r.failures) ORDER BY j.jobname), '[]'),
         coalesce(array_agg(j.jobname::text ORDER BY j.jobname) FILTER (WHERE NOT j.active), '{}'),
         coalesce(sum(r.failures), 0),
         max(r.last_start)
    INTO cron_jobs, paused_jobs, cron_failures_last_hour, last_cron_run
  FROM cron.job j
  CROSS JOIN LATERAL (
    SELECT max(d.start_time) AS last_start,
           (array_agg(d.status ORDER BY d.start_time DESC))[1] AS last_status,
           count(*) FILTER (WHERE d.status = 'failed' AND d.start_time > now() - interval '1 hour') AS failures
    FROM cron.job_run_details d
    WHERE d.jobid = j.jobid AND d.start_time > now() - interval '1 day'
  ) r
  WHERE j.jobname LIKE 'wapipe-%' AND j.database = pg_catalog.current_database();
  SELECT j.jobname || ': ' || left(split_part(d.return_message, E'\n', 1), 200) INTO last_failure
  FROM cron.job_run_details d JOIN cron.job j ON j.jobid = d.jobid
  WHERE j.jobname LIKE 'wapipe-%' AND j.database = pg_catalog.current_database()
    AND d.status = 'failed' AND d.start_time > now() - interval '1 hour'
  ORDER BY d.start_time DESC LIMIT 1;

  -- verdicts, critical first
  age_secs := extract(epoch FROM now() - active_oldest);
  IF age_secs >= (t->>'oldest_age_critical_seconds')::numeric THEN
    crit := crit || format('oldest message waiting %s s (critical at %s s)', round(age_secs), t->>'oldest_age_critical_seconds');
  ELSIF age_secs >= (t->>'oldest_age_degraded_seconds')::numeric THEN
    degr := degr || format('oldest message waiting %s s (degraded at %s s)', round(age_secs), t->>'oldest_age_degraded_seconds');
  END IF;
  IF queue_depth >= (t->>'queue_depth_critical')::numeric THEN
    crit := crit || format('queue depth %s (critical at %s)', queue_depth, t->>'queue_depth_critical');
  ELSIF queue_depth >= (t->>'queue_depth_degraded')::numeric THEN
    degr := degr || format('queue depth %s (degraded at %s)', queue_depth, t->>'queue_depth_degraded');
  END IF;
  IF queue_depth > 0 AND workers_alive = 0 THEN
    crit := crit || format('no live worker while %s messages wait', queue_depth);
  END IF;
  IF deferred > 0 THEN
    degr := degr || format('%s messages waiting for unavailable services: %s', deferred,
                           (SELECT string_agg(format('%s (%s)', k, v), ', ' ORDER BY k)
                            FROM jsonb_each_text(deferred_by) e(k, v)));
  END IF;
  IF retrying >= (t->>'retrying_critical')::numeric THEN
    crit := crit || format('%s messages retrying (critical at %s)', retrying, t->>'retrying_critical');
  ELSIF retrying >= (t->>'retrying_degraded')::numeric THEN
    degr := degr || format('%s messages retrying (degraded at %s)', retrying, t->>'retrying_degraded');
  END IF;
  IF dead_letters >= (t->>'dead_letters_critical')::numeric THEN
    crit := crit || format('%s dead letters (critical at %s)', dead_letters, t->>'dead_letters_critical');
  ELSIF dead_letters >= (t->>'dead_letters_degraded')::numeric THEN
    degr := degr || format('%s dead letters (degraded at %s)', dead_letters, t->>'dead_letters_degraded');
  END IF;
  IF breakers_open >= (t->>'breakers_open_critical')::numeric THEN
    crit := crit || format('%s breakers open: %s', breakers_open, array_to_string(open_names, ', '));
  ELSIF breakers_open >= (t->>'breakers_open_degraded')::numeric THEN
    degr := degr || format('breaker open: %s', array_to_string(open_names, ', '));
  END IF;
  IF cardinality(dead_workers) > 0 THEN
    degr := degr || format('%s worker(s) stopped heartbeating without a clean stop: %s',
                           cardinality(dead_workers), array_to_string(dead_workers[1:5], ', '));
  END IF;
  IF stuck_workflows >= (t->>'stuck_workflows_critical')::numeric THEN
    crit := crit || format('%s workflows stuck past their timeout (is wapipe-expire-workflows running?)', stuck_workflows);
  ELSIF stuck_workflows >= (t->>'stuck_workflows_degraded')::numeric THEN
    degr := degr || format('%s workflows stuck past their timeout (is wapipe-expire-workflows running?)', stuck_workflows);
  END IF;
  IF stale_locks >= (t->>'stale_locks_degraded')::numeric AND stale_locks > 0 THEN
    degr := degr || format('%s stale conversation leases (is wapipe-stale-locks running?)', stale_locks);
  END IF;
  age_secs := extract(epoch FROM now() - outbox_oldest);
  IF age_secs >= (t->>'outbox_age_critical_seconds')::numeric THEN
    crit := crit || format('oldest unsent reply waiting %s s (critical at %s s)', round(age_secs), t->>'outbox_age_critical_seconds');
  ELSIF age_secs >= (t->>'outbox_age_degraded_seconds')::numeric THEN
    degr := degr || format('oldest unsent reply waiting %s s (degraded at %s s)', round(age_secs), t->>'outbox_age_degraded_seconds');
  END IF;
  IF cron_failures_last_hour >= (t->>'cron_failures_critical')::numeric THEN
    crit := crit || format('%s failed pg_cron runs in the last hour; last: %s', cron_failures_last_hour, last_failure);
  ELSIF cron_failures_last_hour >= (t->>'cron_failures_degraded')::numeric AND cron_failures_last_hour > 0 THEN
    degr := degr || format('%s failed pg_cron run(s) in the last hour; last: %s', cron_failures_last_hour, last_failure);
  END IF;
  IF quarantined > 0 THEN
    degr := degr || format('%s webhook item(s) in quarantine (wapipe quarantine list)', quarantined);
  END IF;
  IF cardinality(paused_jobs) > 0 THEN
    degr := degr || format('pg_cron jobs paused: %s', array_to_string(paused_jobs, ', '));
  END IF;
  IF last_cron_run < now() - make_interval(secs => (t->>'cron_silence_degraded_seconds')::double precision) THEN
    degr := degr || format('no wapipe pg_cron run since %s s (is pg_cron running in this database?)',
                           round(extract(epoch FROM now() - last_cron_run)));
  END IF;

  status := CASE WHEN cardinality(crit) > 0 THEN 'critical'
                 WHEN cardinality(degr) > 0 THEN 'degraded' ELSE 'ok' END;
  reasons := crit || degr;
  details := jsonb_build_object(
    'queued', queued,
    'oldest_message_at', oldest_at,
    'deferred', deferred,
    'deferred_by_service', deferred_by,
    'breakers_open', to_jsonb(open_names),
    'breakers_half_open', to_jsonb(half_open),
    'dead_workers', to_jsonb(dead_workers),
    'stale_locks', stale_locks,
    'outbox_oldest_unsent_at', outbox_oldest,
    'outbox_failed_last_day', outbox_failed,
    'quarantined', quarantined,
    'outbox_window_closed_last_day', window_closed,
    'handed_off', handed_off,
    'cron_jobs', cron_jobs,
    'cron_last_failure', last_failure,
    'thresholds', t,
    'checked_at', now());
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION wapipe.system_health(jsonb) IS
  'One-row health summary: status ok|degraded|critical with reasons; queue_depth (queued + processing), '
  'oldest_message_age, in_flight, retrying (not counting messages waiting for a service), dead_letters '
  '(pending), breakers_open, workers_alive, stuck_workflows, cron_failures_last_hour and last_cron_run '
  'of the wapipe-* pg_cron jobs, details (names, deferred and deferred_by_service: messages waiting for '
  'an unavailable service, a degraded reason; quarantined: webhook items held in quarantine, a degraded '
  'reason; outbox (outbox_window_closed_last_day: replies held back by the 24-hour window), '
  'handed_off (conversations with a human now), jobs, effective thresholds); the age verdict '
  'leaves out conversations waiting for a service. Thresholds: health.* settings, overridden per call by '
  'the thresholds object (keys without "health."); unknown or non-numeric keys raise 22023.';
REVOKE ALL ON FUNCTION wapipe.system_health(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.system_health(jsonb) TO wapipe_monitor, wapipe_worker;
