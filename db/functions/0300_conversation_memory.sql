-- wapipe.get_or_create_conversation_memory: the AI memory session of a user with an agent.
-- Returns the wapipe.ai_conversation_memory row (created when there is none to reuse).
--
-- With session_id: that session, created if missing. Without: the most recent
-- session of (user_phone, agent_type) active within memory.session_idle_seconds,
-- else a new one (session_id = a random uuid). Reading a session does not count
-- as activity: only update_conversation_memory moves last_activity_at.
-- Callers for the same user and agent are serialised with a transaction-level
-- advisory lock, so concurrent callers (in READ COMMITTED) share one new session.
-- Empty user_phone or agent_type, or an empty session_id, raise 22023.
CREATE OR REPLACE FUNCTION wapipe.get_or_create_conversation_memory(
  user_phone text, agent_type text, session_id text DEFAULT NULL)
RETURNS wapipe.ai_conversation_memory
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
DECLARE
  result wapipe.ai_conversation_memory;
BEGIN
  IF coalesce(user_phone, '') = '' THEN
    RAISE EXCEPTION 'get_or_create_conversation_memory: user_phone must not be empty'
      USING ERRCODE = '22023';
  END IF;
  IF coalesce(agent_type, '') = '' THEN
    RAISE EXCEPTION 'get_or_create_conversation_memory: agent_type must not be empty'
      USING ERRCODE = '22023';
  END IF;
  IF session_id = '' THEN
    RAISE EXCEPTION 'get_or_create_conversation_memory: session_id must be NULL or not empty'
      USING ERRCODE = '22023';
  END IF;

  -- One caller at a time per (user, agent): the second caller waits, then its
  -- next statement (a fresh snapshot) sees the session the first one created.
  PERFORM pg_advisory_xact_lock(
    hashtextextended('wapipe.memory' || chr(31) || user_phone || chr(31) || agent_type, 0));

  IF session_id IS NOT NULL THEN
    INSERT INTO wapipe.ai_conversation_memory AS m (user_phone, agent_type, session_id)
    VALUES (get_or_create_conversation_memory.user_phone,
            get_or_create_conversation_memory.agent_type,
            get_or_create_conversation_memory.session_id)
    ON CONFLICT ON CONSTRAINT ai_conversation_memory_user_phone_agent_type_session_id_key DO NOTHING
    RETURNING m.* INTO result;
    IF result.id IS NULL THEN
      SELECT m.* INTO result
      FROM wapipe.ai_conversation_memory m
      WHERE m.user_phone = get_or_create_conversation_memory.user_phone
        AND m.agent_type = get_or_create_conversation_memory.agent_type
        AND m.session_id = get_or_create_conversation_memory.session_id;
    END IF;
    RETURN result;
  END IF;

  SELECT m.* INTO result
  FROM wapipe.ai_conversation_memory m
  WHERE m.user_phone = get_or_create_conversation_memory.user_phone
    AND m.agent_type = get_or_create_conversation_memory.agent_type
    AND m.last_activity_at
        > now() - make_interval(secs => wapipe._setting_num('memory.session_idle_seconds'))
  ORDER BY m.last_activity_at DESC, m.id DESC
  LIMIT 1;
  IF FOUND THEN
    RETURN result;
  END IF;

  INSERT INTO wapipe.ai_conversation_memory AS m (user_phone, agent_type, session_id)
  VALUES (get_or_create_conversation_memory.user_phone,
          get_or_create_conversation_memory.agent_type,
          gen_random_uuid()::text)
  RETURNING m.* INTO result;
  RETURN result;
END
$$;
COMMENT ON FUNCTION wapipe.get_or_create_conversation_memory(text, text, text) IS
  'AI memory session of (user_phone, agent_type): the given session_id (created if missing), else the most recent one active within memory.session_idle_seconds, else a new one. Concurrent callers share one new session. Returns the ai_conversation_memory row. Raises 22023 for an empty user_phone, agent_type or session_id.';

REVOKE ALL ON FUNCTION wapipe.get_or_create_conversation_memory(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.get_or_create_conversation_memory(text, text, text) TO wapipe_worker;


-- wapipe.update_conversation_memory: append one message to a memory session's window.
-- Returns the number of messages kept (at most memory.window_messages).
--
-- Appends {role, content, at} and keeps only the newest memory.window_messages
-- (oldest dropped, order kept); message_count counts every message ever
-- appended; context, when given, is merged into the stored one (||), not
-- replacing it; last_activity_at = now(). Concurrent appends to one session
-- serialise on its row lock, so none is lost.
-- Raises 22023 for a role other than user/assistant/system/tool, a NULL content,
-- a context that is not a JSON object, or an unknown memory_id.
CREATE OR REPLACE FUNCTION wapipe.update_conversation_memory(
  memory_id bigint, role text, content text, context jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  window_messages integer := wapipe._setting_num('memory.window_messages')::integer;
  kept integer;
BEGIN
  IF role IS NULL OR role NOT IN ('user', 'assistant', 'system', 'tool') THEN
    RAISE EXCEPTION 'update_conversation_memory: role must be user, assistant, system or tool, got %',
      coalesce(quote_literal(left(role, 40)), 'NULL')
      USING ERRCODE = '22023';
  END IF;
  IF content IS NULL THEN
    RAISE EXCEPTION 'update_conversation_memory: content must not be NULL' USING ERRCODE = '22023';
  END IF;
  IF context IS NOT NULL AND jsonb_typeof(context) <> 'object' THEN
    RAISE EXCEPTION 'update_conversation_memory: context must be a JSON object, got %',
      jsonb_typeof(context) USING ERRCODE = '22023';
  END IF;
  IF window_messages IS NULL OR window_messages < 1 THEN
    RAISE EXCEPTION 'setting memory.window_messages must be at least 1' USING ERRCODE = '22023';
  END IF;

  UPDATE wapipe.ai_conversation_memory m
     SET messages = (
           SELECT coalesce(jsonb_agg(w.msg ORDER BY w.ord), '[]')
           FROM jsonb_array_elements(
                  m.messages || jsonb_build_array(jsonb_build_object(
                    'role', update_conversation_memory.role,
                    'content', update_conversation_memory.content,
                    'at', clock_timestamp())))
                WITH ORDINALITY AS w(msg, ord)
           WHERE w.ord > jsonb_array_length(m.messages) + 1 - window_messages),
         message_count = m.message_count + 1,
         context = CASE WHEN update_conversation_memory.context IS NULL THEN m.context
                        ELSE m.context || update_conversation_memory.context END,
         last_activity_at = now()
   WHERE m.id = memory_id
  RETURNING jsonb_array_length(m.messages) INTO kept;

  IF NOT FOUND THEN
    RAISE EXCEPTION 'update_conversation_memory: no conversation memory with id %', memory_id
      USING ERRCODE = '22023';
  END IF;
  RETURN kept;
END
$$;
COMMENT ON FUNCTION wapipe.update_conversation_memory(bigint, text, text, jsonb) IS
  'Append {role, content, at} to a memory session, keeping the newest memory.window_messages in order; message_count +1; context merged with ||; last_activity_at = now(). Returns the number of messages kept. Raises 22023 for a bad role, NULL content, non-object context or unknown memory_id.';

REVOKE ALL ON FUNCTION wapipe.update_conversation_memory(bigint, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.update_conversation_memory(bigint, text, text, jsonb) TO wapipe_worker;


-- wapipe.cleanup_conversation_memory: delete memory sessions idle for longer than `inactive`.
-- Returns the number of sessions deleted.
CREATE OR REPLACE FUNCTION wapipe.cleanup_conversation_memory(inactive interval DEFAULT '7 days')
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  deleted integer;
BEGIN
  IF inactive IS NULL OR inactive <= interval '0' THEN
    RAISE EXCEPTION 'cleanup_conversation_memory: inactive must be a positive interval, got %',
      coalesce(inactive::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  DELETE FROM wapipe.ai_conversation_memory m
   WHERE m.last_activity_at < now() - inactive;
  GET DIAGNOSTICS deleted = ROW_COUNT;
  RETURN deleted;
END
$$;
COMMENT ON FUNCTION wapipe.cleanup_conversation_memory(interval) IS
  'Retention: delete AI memory sessions whose last activity is older than `inactive` (default 7 days). Returns how many were deleted. Operator / pg_cron only. Raises 22023 for a non-positive interval.';

REVOKE ALL ON FUNCTION wapipe.cleanup_conversation_memory(interval) FROM PUBLIC;
