-- Worker processes and the health of the service endpoints they call: the
-- registry behind `wapipe health` and the circuit_breaker_status view.

-- wapipe.register_worker: announce a worker process (again) at start-up.
-- Returns nothing; the row is (re)started: started_at and heartbeat now, not stopped.
CREATE OR REPLACE FUNCTION wapipe.register_worker(
  worker_id text, host text, pid integer, info jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  IF coalesce(register_worker.worker_id, '') = '' THEN
    RAISE EXCEPTION 'worker_id must not be empty' USING ERRCODE = '22023';
  END IF;
  IF coalesce(register_worker.host, '') = '' OR register_worker.pid IS NULL THEN
    RAISE EXCEPTION 'host and pid are required' USING ERRCODE = '22023';
  END IF;
  IF register_worker.info IS NOT NULL AND jsonb_typeof(register_worker.info) <> 'object' THEN
    RAISE EXCEPTION 'info must be a JSON object' USING ERRCODE = '22023';
  END IF;

  INSERT INTO wapipe.workers AS w (worker_id, host, pid, started_at, heartbeat_at, stopped_at, info)
  VALUES (register_worker.worker_id, register_worker.host, register_worker.pid, now(), now(), NULL,
          coalesce(register_worker.info, '{}'))
  ON CONFLICT ON CONSTRAINT workers_pkey DO UPDATE
    SET host = excluded.host, pid = excluded.pid, started_at = now(), heartbeat_at = now(),
        stopped_at = NULL, info = excluded.info;
END
$$;
COMMENT ON FUNCTION wapipe.register_worker(text, text, integer, jsonb) IS
  'Register (or re-register) a worker process: host, pid, free-form info; started_at and heartbeat_at = now().';
REVOKE ALL ON FUNCTION wapipe.register_worker(text, text, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.register_worker(text, text, integer, jsonb) TO wapipe_worker;

-- wapipe.worker_heartbeat: a registered, running worker is still alive.
-- Returns true when recorded; false when the worker is unknown or stopped (register again).
CREATE OR REPLACE FUNCTION wapipe.worker_heartbeat(worker_id text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  UPDATE wapipe.workers AS w
     SET heartbeat_at = now()
   WHERE w.worker_id = worker_heartbeat.worker_id AND w.stopped_at IS NULL;
  RETURN FOUND;
END
$$;
COMMENT ON FUNCTION wapipe.worker_heartbeat(text) IS
  'Record a worker heartbeat; false when the worker is unknown or marked stopped (it should register again).';
REVOKE ALL ON FUNCTION wapipe.worker_heartbeat(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.worker_heartbeat(text) TO wapipe_worker;

-- wapipe.worker_stopped: a worker shut down cleanly.
-- Returns nothing; an unknown worker is ignored (nothing to mark).
CREATE OR REPLACE FUNCTION wapipe.worker_stopped(worker_id text)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = ''
AS $$
  UPDATE wapipe.workers AS w
     SET stopped_at = now()
   WHERE w.worker_id = worker_stopped.worker_id AND w.stopped_at IS NULL
$$;
COMMENT ON FUNCTION wapipe.worker_stopped(text) IS
  'Mark a worker as stopped (clean shutdown); unknown or already stopped workers are left as they are.';
REVOKE ALL ON FUNCTION wapipe.worker_stopped(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.worker_stopped(text) TO wapipe_worker;

-- wapipe.record_endpoint_health: the result of one active health check of a service endpoint.
-- Returns nothing; upserts wapipe.service_endpoints (last_error = this check's error, NULL clears).
CREATE OR REPLACE FUNCTION wapipe.record_endpoint_health(
  service text, endpoint text, healthy boolean, error text DEFAULT NULL, checked_by text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  was_healthy boolean;
BEGIN
  IF coalesce(record_endpoint_health.service, '') = ''
     OR coalesce(record_endpoint_health.endpoint, '') = '' THEN
    RAISE EXCEPTION 'service and endpoint must not be empty' USING ERRCODE = '22023';
  END IF;
  IF record_endpoint_health.healthy IS NULL THEN
    RAISE EXCEPTION 'healthy must be true or false' USING ERRCODE = '22023';
  END IF;

  SELECT e.healthy INTO was_healthy FROM wapipe.service_endpoints e
  WHERE e.service = record_endpoint_health.service AND e.endpoint = record_endpoint_health.endpoint;
  INSERT INTO wapipe.service_endpoints AS e (service, endpoint, healthy, last_checked_at, last_error, checked_by)
  VALUES (record_endpoint_health.service, record_endpoint_health.endpoint, record_endpoint_health.healthy,
          now(), left(record_endpoint_health.error, 2000), record_endpoint_health.checked_by)
  ON CONFLICT ON CONSTRAINT service_endpoints_pkey DO UPDATE
    SET healthy = excluded.healthy, last_checked_at = now(),
        last_error = excluded.last_error, checked_by = excluded.checked_by;
  -- an endpoint back up: the messages deferred for want of one may go now (defer_message)
  IF record_endpoint_health.healthy AND NOT was_healthy THEN
    PERFORM wapipe._wake_deferred(record_endpoint_health.service);
  END IF;
END
$$;
COMMENT ON FUNCTION wapipe.record_endpoint_health(text, text, boolean, text, text) IS
  'Record one health check of a service endpoint (upsert into service_endpoints with last_checked_at = now()); an endpoint found healthy again wakes the messages deferred for its service.';
REVOKE ALL ON FUNCTION wapipe.record_endpoint_health(text, text, boolean, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.record_endpoint_health(text, text, boolean, text, text) TO wapipe_worker;
