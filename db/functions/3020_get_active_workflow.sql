-- wapipe._active_workflows: the workflow each user is in right now, for routing new messages.
-- Returns one row per item whose user has one (ord = its position, from 1): the active, unexpired wapipe.workflow_states row.
--
-- THE active-workflow rule, set-based: an active row already past expires_at is not
-- returned: expire_workflows (pg_cron) will mark it and tell the user; routing treats
-- the user as free meanwhile. NULL users are skipped. One call per batch
-- (message_contexts): a per-item call of a SECURITY DEFINER function costs a
-- search_path switch and a fresh executor each.
CREATE OR REPLACE FUNCTION wapipe._active_workflows(users text[])
RETURNS TABLE (ord integer, workflow wapipe.workflow_states)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  -- (no planner settings of its own: it plans under its callers', which all set them)
AS $$
BEGIN
  RETURN QUERY
  SELECT u.i::integer, w.x
  FROM unnest(users) WITH ORDINALITY AS u(user_phone, i)
  JOIN LATERAL (
    SELECT x
    FROM wapipe.workflow_states x
    WHERE x.user_phone = u.user_phone AND x.status = 'active' AND x.expires_at > now()
    ORDER BY x.id DESC
    LIMIT 1) w ON true
  WHERE u.user_phone IS NOT NULL;
END
$$;
COMMENT ON FUNCTION wapipe._active_workflows(text[]) IS
  'Private: the active-workflow rule, set-based: per item (NULL users skipped) the active, unexpired wapipe.workflow_states row of its user, if any. Returns (ord, workflow).';
REVOKE ALL ON FUNCTION wapipe._active_workflows(text[]) FROM PUBLIC;

-- wapipe.get_active_workflow: the workflow a user is in right now, for routing a new message.
-- Returns the active, unexpired wapipe.workflow_states row of user_phone (0 or 1 row).
--
-- _active_workflows of one user.
CREATE OR REPLACE FUNCTION wapipe.get_active_workflow(user_phone text)
RETURNS SETOF wapipe.workflow_states
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
  -- (the planner settings of the helpers it calls, which have none of their own)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
  SELECT (a.workflow).* FROM wapipe._active_workflows(ARRAY[user_phone]) a
$$;
COMMENT ON FUNCTION wapipe.get_active_workflow(text) IS
  'The active, unexpired workflow of user_phone (0 or 1 row of wapipe.workflow_states); used by the worker to route a message to a workflow step.';
REVOKE ALL ON FUNCTION wapipe.get_active_workflow(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.get_active_workflow(text) TO wapipe_worker;
