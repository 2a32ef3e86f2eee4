-- wapipe.start_workflow: begin a multi-step workflow for a user (at most one active per user).
-- Returns the new workflow_states.id.
--
-- timeout is an inactivity timeout (NULL: setting workflow.default_timeout_seconds):
-- expires_at = now() + timeout, pushed forward by each advance. An active
-- workflow of this user already past expires_at is marked 'expired' first
-- (without an expiry notice: the user is active right now); a live one makes
-- the call fail with SQLSTATE 23505 naming that workflow's id and type.
-- Raises 22023 for an empty user_phone/workflow_type/first_step, a data that
-- is not a JSON object, or a non-positive timeout.
CREATE OR REPLACE FUNCTION wapipe.start_workflow(
  user_phone text, workflow_type text, first_step text, data jsonb DEFAULT '{}',
  timeout interval DEFAULT NULL, phone_number_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  step_timeout interval := coalesce(
    timeout, make_interval(secs => wapipe._setting_num('workflow.default_timeout_seconds')));
  live record;
  new_id bigint;
BEGIN
  IF coalesce(user_phone, '') = '' THEN
    RAISE EXCEPTION 'start_workflow: user_phone must not be empty' USING ERRCODE = '22023';
  END IF;
  IF coalesce(workflow_type, '') = '' THEN
    RAISE EXCEPTION 'start_workflow: workflow_type must not be empty' USING ERRCODE = '22023';
  END IF;
  IF coalesce(first_step, '') = '' THEN
    RAISE EXCEPTION 'start_workflow: first_step must not be empty' USING ERRCODE = '22023';
  END IF;
  IF data IS NOT NULL AND jsonb_typeof(data) <> 'object' THEN
    RAISE EXCEPTION 'start_workflow: data must be a JSON object, got %', jsonb_typeof(data)
      USING ERRCODE = '22023';
  END IF;
  IF step_timeout <= interval '0' THEN
    RAISE EXCEPTION 'start_workflow: timeout must be positive, got %', step_timeout
      USING ERRCODE = '22023';
  END IF;

  -- One start at a time per user, so the check below and the insert agree.
  PERFORM pg_advisory_xact_lock(hashtextextended('wapipe.workflow' || chr(31) || user_phone, 0));

  UPDATE wapipe.workflow_states w
     SET status = 'expired', finished_at = now(), updated_at = now()
   WHERE w.user_phone = start_workflow.user_phone
     AND w.status = 'active' AND w.expires_at <= now();

  SELECT w.id, w.workflow_type, w.current_step INTO live
  FROM wapipe.workflow_states w
  WHERE w.user_phone = start_workflow.user_phone AND w.status = 'active';
  IF FOUND THEN
    RAISE EXCEPTION 'start_workflow: the user already has active workflow % (%), at step %',
      live.id, live.workflow_type, live.current_step
      USING ERRCODE = '23505',
            HINT = 'complete, fail or wait for the expiry of that workflow first';
  END IF;

  BEGIN
    INSERT INTO wapipe.workflow_states AS w (
      user_phone, phone_number_id, workflow_type, current_step, data, step_timeout, expires_at)
    VALUES (start_workflow.user_phone, start_workflow.phone_number_id, start_workflow.workflow_type,
            first_step, coalesce(start_workflow.data, '{}'), step_timeout, now() + step_timeout)
    RETURNING w.id INTO new_id;
  EXCEPTION WHEN unique_violation THEN
    -- Only reachable when a concurrent start committed outside our snapshot
    -- (REPEATABLE READ callers); report it like the check above.
    RAISE EXCEPTION 'start_workflow: the user already has an active workflow (started concurrently)'
      USING ERRCODE = '23505',
            HINT = 'complete, fail or wait for the expiry of that workflow first';
  END;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION wapipe.start_workflow(text, text, text, jsonb, interval, text) IS
  'Start a workflow for a user at first_step with an inactivity timeout (default workflow.default_timeout_seconds). An overdue active workflow of the user is expired first; a live one raises 23505 naming its id and type. Returns the new id. Raises 22023 for bad arguments.';

REVOKE ALL ON FUNCTION wapipe.start_workflow(text, text, text, jsonb, interval, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.start_workflow(text, text, text, jsonb, interval, text) TO wapipe_worker;


-- wapipe._workflow_refusal: explain why a workflow cannot move, by raising.
-- Returns nothing: always raises (22023 unknown id, 55000 not active / expired, 40001 wrong step).
CREATE OR REPLACE FUNCTION wapipe._workflow_refusal(
  workflow_id bigint, action text, expected_step text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  w wapipe.workflow_states;
BEGIN
  SELECT s.* INTO w FROM wapipe.workflow_states s WHERE s.id = workflow_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION '%: no workflow with id %', action, workflow_id USING ERRCODE = '22023';
  END IF;
  IF w.status <> 'active' THEN
    RAISE EXCEPTION '%: workflow % is %, not active', action, workflow_id, w.status
      USING ERRCODE = '55000';
  END IF;
  IF w.expires_at <= now() THEN
    RAISE EXCEPTION '%: workflow % expired at %', action, workflow_id, w.expires_at
      USING ERRCODE = '55000';
  END IF;
  IF expected_step IS NOT NULL AND w.current_step IS DISTINCT FROM expected_step THEN
    RAISE EXCEPTION 'workflow % is at step %, not %', workflow_id, w.current_step, expected_step
      USING ERRCODE = '40001',
            HINT = 'another message moved it on; reload the workflow and decide again';
  END IF;
  RAISE EXCEPTION '%: workflow % cannot be changed', action, workflow_id USING ERRCODE = '55000';
END
$$;
COMMENT ON FUNCTION wapipe._workflow_refusal(bigint, text, text) IS
  'Private: raise the reason a workflow cannot be advanced/completed/failed (22023, 55000 or 40001).';

REVOKE ALL ON FUNCTION wapipe._workflow_refusal(bigint, text, text) FROM PUBLIC;


-- wapipe.advance_workflow: move an active workflow from expected_step to next_step (optimistic).
-- Returns the updated wapipe.workflow_states row.
--
-- Succeeds only while the workflow is active, not past expires_at and still at
-- expected_step: data is merged (||), version +1, expires_at pushed to now() +
-- step_timeout. A workflow moved on by someone else raises 40001 ("workflow N
-- is at step X, not Y"); one not active or past expires_at raises 55000; an
-- unknown id, an empty next_step or a non-object data raises 22023.
CREATE OR REPLACE FUNCTION wapipe.advance_workflow(
  id bigint, expected_step text, next_step text, data jsonb DEFAULT '{}')
RETURNS wapipe.workflow_states
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  result wapipe.workflow_states;
BEGIN
  IF coalesce(expected_step, '') = '' OR coalesce(next_step, '') = '' THEN
    RAISE EXCEPTION 'advance_workflow: expected_step and next_step must not be empty'
      USING ERRCODE = '22023';
  END IF;
  IF data IS NOT NULL AND jsonb_typeof(data) <> 'object' THEN
    RAISE EXCEPTION 'advance_workflow: data must be a JSON object, got %', jsonb_typeof(data)
      USING ERRCODE = '22023';
  END IF;

  UPDATE wapipe.workflow_states w
     SET current_step = next_step,
         data = w.data || coalesce(advance_workflow.data, '{}'),
         version = w.version + 1,
         updated_at = now(),
         expires_at = now() + w.step_timeout
   WHERE w.id = advance_workflow.id
     AND w.status = 'active' AND w.expires_at > now()
     AND w.current_step = expected_step
  RETURNING w.* INTO result;

  IF NOT FOUND THEN
    PERFORM wapipe._workflow_refusal(advance_workflow.id, 'advance_workflow', expected_step);
  END IF;
  RETURN result;
END
$$;
COMMENT ON FUNCTION wapipe.advance_workflow(bigint, text, text, jsonb) IS
  'Optimistically move an active, unexpired workflow from expected_step to next_step: data merged (||), version +1, expires_at extended by step_timeout. Returns the row. Raises 40001 if the step moved, 55000 if not active or expired, 22023 for an unknown id or bad arguments.';

REVOKE ALL ON FUNCTION wapipe.advance_workflow(bigint, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.advance_workflow(bigint, text, text, jsonb) TO wapipe_worker;


-- wapipe.complete_workflow: finish an active, unexpired workflow successfully.
-- Returns the updated wapipe.workflow_states row (status 'completed', finished_at set).
--
-- data, when given, is merged (||). A workflow not active, or past expires_at
-- (the user's last answer came too late), raises 55000; unknown id 22023.
CREATE OR REPLACE FUNCTION wapipe.complete_workflow(id bigint, data jsonb DEFAULT NULL)
RETURNS wapipe.workflow_states
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  result wapipe.workflow_states;
BEGIN
  IF data IS NOT NULL AND jsonb_typeof(data) <> 'object' THEN
    RAISE EXCEPTION 'complete_workflow: data must be a JSON object, got %', jsonb_typeof(data)
      USING ERRCODE = '22023';
  END IF;

  UPDATE wapipe.workflow_states w
     SET status = 'completed',
         data = w.data || coalesce(complete_workflow.data, '{}'),
         version = w.version + 1,
         updated_at = now(),
         finished_at = now()
   WHERE w.id = complete_workflow.id
     AND w.status = 'active' AND w.expires_at > now()
  RETURNING w.* INTO result;

  IF NOT FOUND THEN
    PERFORM wapipe._workflow_refusal(complete_workflow.id, 'complete_workflow');
  END IF;
  RETURN result;
END
$$;
COMMENT ON FUNCTION wapipe.complete_workflow(bigint, jsonb) IS
  'Mark an active, unexpired workflow completed (data merged with || when given, finished_at set). Returns the row. Raises 55000 if not active or expired, 22023 for an unknown id.';

REVOKE ALL ON FUNCTION wapipe.complete_workflow(bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.complete_workflow(bigint, jsonb) TO wapipe_worker;


-- wapipe.fail_workflow: end an active workflow with an error (also allowed past expires_at).
-- Returns the updated wapipe.workflow_states row (status 'failed', error and finished_at set).
CREATE OR REPLACE FUNCTION wapipe.fail_workflow(id bigint, error text)
RETURNS wapipe.workflow_states
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  result wapipe.workflow_states;
BEGIN
  IF coalesce(error, '') = '' THEN
    RAISE EXCEPTION 'fail_workflow: error must not be empty' USING ERRCODE = '22023';
  END IF;

  UPDATE wapipe.workflow_states w
     SET status = 'failed',
         error = fail_workflow.error,
         version = w.version + 1,
         updated_at = now(),
         finished_at = now()
   WHERE w.id = fail_workflow.id AND w.status = 'active'
  RETURNING w.* INTO result;

  IF NOT FOUND THEN
    IF NOT EXISTS (SELECT 1 FROM wapipe.workflow_states s WHERE s.id = fail_workflow.id) THEN
      RAISE EXCEPTION 'fail_workflow: no workflow with id %', fail_workflow.id USING ERRCODE = '22023';
    END IF;
    RAISE EXCEPTION 'fail_workflow: workflow % is %, not active', fail_workflow.id,
      (SELECT s.status FROM wapipe.workflow_states s WHERE s.id = fail_workflow.id)
      USING ERRCODE = '55000';
  END IF;
  RETURN result;
END
$$;
COMMENT ON FUNCTION wapipe.fail_workflow(bigint, text) IS
  'Mark an active workflow failed with an error (finished_at set), even past expires_at. Returns the row. Raises 55000 if not active, 22023 for an unknown id or empty error.';

REVOKE ALL ON FUNCTION wapipe.fail_workflow(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.fail_workflow(bigint, text) TO wapipe_worker;


-- wapipe.expire_workflows: mark every active workflow past expires_at 'expired' and tell its user.
-- Returns the expired workflows (id, user_phone, phone_number_id, workflow_type, current_step, data).
--
-- Set-based, FOR UPDATE SKIP LOCKED (a workflow being advanced right now is
-- left for the next run). For each expired workflow with a phone_number_id the
-- notice of setting workflow.expiry_notice (a JSON string; JSON null or "" =
-- none) is queued in wapipe.outbox as source_key 'workflow-expired:<id>', seq 0,
-- ON CONFLICT DO NOTHING, so it is sent once even when pg_cron runs this.
CREATE OR REPLACE FUNCTION wapipe.expire_workflows()
RETURNS TABLE (id bigint, user_phone text, phone_number_id text, workflow_type text,
               current_step text, data jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  notice text := nullif(wapipe._setting('workflow.expiry_notice') #>> '{}', '');
BEGIN
  RETURN QUERY
  WITH due AS (
    SELECT w.id
    FROM wapipe.workflow_states w
    WHERE w.status = 'active' AND w.expires_at <= now()
    ORDER BY w.expires_at
    FOR UPDATE SKIP LOCKED
  ), expired AS (
    UPDATE wapipe.workflow_states w
       SET status = 'expired', finished_at = now(), updated_at = now()
      FROM due
     WHERE w.id = due.id
    RETURNING w.id, w.user_phone, w.phone_number_id, w.workflow_type, w.current_step, w.data
  ), notified AS (
    INSERT INTO wapipe.outbox AS o (source_key, seq, phone_number_id, to_wa_id, body)
    SELECT 'workflow-expired:' || e.id, 0, e.phone_number_id, e.user_phone,
           jsonb_build_object('type', 'text', 'text', jsonb_build_object('body', notice))
    FROM expired e
    WHERE notice IS NOT NULL AND e.phone_number_id IS NOT NULL
    ON CONFLICT (source_key, seq) DO NOTHING
    RETURNING o.id
  )
  SELECT e.id, e.user_phone, e.phone_number_id, e.workflow_type, e.current_step, e.data
  FROM expired e
  ORDER BY e.id;
END
$$;
COMMENT ON FUNCTION wapipe.expire_workflows() IS
  'Mark every active workflow past expires_at expired (FOR UPDATE SKIP LOCKED) and queue the workflow.expiry_notice text once per workflow in wapipe.outbox (source_key workflow-expired:<id>) when it has a phone_number_id. Returns the expired workflows. For pg_cron, operators and workers.';

REVOKE ALL ON FUNCTION wapipe.expire_workflows() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.expire_workflows() TO wapipe_worker;
