-- wapipe.get_active_workflow: the workflow a user is in right now, for routing a new message.
-- Returns the active, unexpired wapipe.workflow_states row of user_phone (0 or 1 row).
--
-- An active row already past expires_at is not returned: expire_workflows (pg_cron)
-- will mark it and tell the user; routing treats the user as free meanwhile.
CREATE OR REPLACE FUNCTION wapipe.get_active_workflow(user_phone text)
RETURNS SETOF wapipe.workflow_states
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
AS $$
  SELECT w.*
  FROM wapipe.workflow_states w
  WHERE w.user_phone = get_active_workflow.user_phone
    AND w.status = 'active'
    AND w.expires_at > now()
  ORDER BY w.id DESC
  LIMIT 1
$$;
COMMENT ON FUNCTION wapipe.get_active_workflow(text) IS
  'The active, unexpired workflow of user_phone (0 or 1 row of wapipe.workflow_states); used by the worker to route a message to a workflow step.';
REVOKE ALL ON FUNCTION wapipe.get_active_workflow(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.get_active_workflow(text) TO wapipe_worker;
