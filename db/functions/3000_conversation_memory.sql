-- wapipe._memory_lock_key: the advisory lock key that serialises the callers for one (user, agent).
-- Returns a bigint for pg_advisory_xact_lock.
-- (A pure expression: plain SQL, inlined where it is used; db/README.md house rules.)
CREATE OR REPLACE FUNCTION wapipe._memory_lock_key(user_phone text, agent_type text)
RETURNS bigint
LANGUAGE sql IMMUTABLE
RETURN hashtextextended('wapipe.memory' || chr(31) || user_phone || chr(31) || agent_type, 0);
COMMENT ON FUNCTION wapipe._memory_lock_key(text, text) IS
  'Private (pure, inlined): advisory lock key of the memory sessions of (user_phone, agent_type).';
REVOKE ALL ON FUNCTION wapipe._memory_lock_key(text, text) FROM PUBLIC;

-- wapipe._memory_sessions: the current AI memory session of each (user, agent), created when there is none.
-- Returns one row per item with an agent (ord = its position, from 1): the ai_conversation_memory row.
--
-- THE session rule, set-based: the most recent session of (user_phone, agent_type)
-- active within memory.session_idle_seconds, else a new one (session_id = a random
-- uuid). Reading a session does not count as activity: only _append_memory moves
-- last_activity_at. Callers for the same user and agent are serialised with a
-- transaction-level advisory lock, all of a call's taken in lock-key order, so
-- concurrent callers (in READ COMMITTED) share one new session and never deadlock.
-- Items without an agent (NULL) get no row; items naming the same pair share a session.
CREATE OR REPLACE FUNCTION wapipe._memory_sessions(users text[], agents text[])
RETURNS TABLE (ord integer, session wapipe.ai_conversation_memory)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- (no planner settings of its own: it plans under its callers', which all set them)
AS $$
#variable_conflict use_column
DECLARE
  idle_interval interval := make_interval(secs => wapipe._setting_num('memory.session_idle_seconds'));
BEGIN
  -- (a volatile output expression is evaluated after the ORDER BY)
  PERFORM pg_advisory_xact_lock(k.lock_key)
  FROM (SELECT DISTINCT wapipe._memory_lock_key(u.user_phone, u.agent) AS lock_key
        FROM unnest(users, agents) AS u(user_phone, agent)
        WHERE u.agent IS NOT NULL) k
  ORDER BY k.lock_key;

  -- A fresh snapshot: it sees the sessions the callers we waited for created.
  RETURN QUERY
  WITH wanted AS (
    SELECT u.user_phone, u.agent, u.i::integer AS i
    FROM unnest(users, agents) WITH ORDINALITY AS u(user_phone, agent, i)
    WHERE u.agent IS NOT NULL
  ), pairs AS (
    SELECT w.user_phone, w.agent, min(w.i) AS first_i FROM wanted w GROUP BY w.user_phone, w.agent
  ), found AS (
    SELECT p.user_phone, p.agent, s.m
    FROM pairs p
    JOIN LATERAL (
      SELECT m
      FROM wapipe.ai_conversation_memory m
      WHERE m.user_phone = p.user_phone AND m.agent_type = p.agent
        AND m.last_activity_at > now() - idle_interval
      ORDER BY m.last_activity_at DESC, m.id DESC
      LIMIT 1) s ON true
  ), created AS (
    INSERT INTO wapipe.ai_conversation_memory AS m (user_phone, agent_type, session_id)
    SELECT p.user_phone, p.agent, gen_random_uuid()::text
    FROM pairs p
    WHERE NOT EXISTS (SELECT 1 FROM found f WHERE f.user_phone = p.user_phone AND f.agent = p.agent)
    ORDER BY p.first_i
    RETURNING m
  ), sessions AS (
    SELECT f.user_phone, f.agent, f.m FROM found f
    UNION ALL
    SELECT (c.m).user_phone, (c.m).agent_type, c.m FROM created c
  )
  SELECT w.i, s.m
  FROM wanted w
  JOIN sessions s ON s.user_phone = w.user_phone AND s.agent = w.agent
  ORDER BY w.i;
END
$$;
COMMENT ON FUNCTION wapipe._memory_sessions(text[], text[]) IS
  'Private: the session rule, set-based: per item (users[i], agents[i]; NULL agent skipped) the most recent memory session active within memory.session_idle_seconds, else a new one; callers of one pair serialised by an advisory lock (lock-key order). Returns (ord, ai_conversation_memory row).';
REVOKE ALL ON FUNCTION wapipe._memory_sessions(text[], text[]) FROM PUBLIC;

-- wapipe._append_memory: append messages to memory sessions, each keeping its window.
-- Returns one row per session updated: its id and the number of messages kept.
--
-- THE append rule, set-based: entries[i] (a JSON array of {role, content}) go to
-- memory_ids[i] as {role, content, at} in order, and only the newest
-- memory.window_messages are kept (oldest dropped, order kept); message_count counts
-- every message ever appended; contexts[i], when not NULL, is merged into the stored
-- context (||); last_activity_at = now(). Each memory_id at most once per call; the
-- entries are checked by the caller (_completion_refusal). Concurrent appends to one
-- session serialise on its row lock, so none is lost.
CREATE OR REPLACE FUNCTION wapipe._append_memory(memory_ids bigint[], entries jsonb[], contexts jsonb[])
RETURNS TABLE (memory_id bigint, kept integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- (no planner settings of its own: it plans under its callers', which all set them)
AS $$
#variable_conflict use_column
DECLARE
  window_messages integer := wapipe._setting_num('memory.window_messages')::integer;
BEGIN
  IF window_messages IS NULL OR window_messages < 1 THEN
    RAISE EXCEPTION 'setting memory.window_messages must be at least 1' USING ERRCODE = '22023';
  END IF;
  RETURN QUERY
  UPDATE wapipe.ai_conversation_memory am
     SET messages = CASE
           WHEN jsonb_array_length(am.messages) + p.added <= window_messages
             THEN am.messages || p.stamped
           ELSE (SELECT coalesce(jsonb_agg(w.msg ORDER BY w.n), '[]')
                 FROM jsonb_array_elements(am.messages || p.stamped) WITH ORDINALITY AS w(msg, n)
                 WHERE w.n > jsonb_array_length(am.messages) + p.added - window_messages) END,
         message_count = am.message_count + p.added,
         context = am.context || coalesce(p.context, '{}'),
         last_activity_at = now()
    FROM (SELECT u.id, u.context, s.stamped, s.added
          FROM unnest(_append_memory.memory_ids, _append_memory.entries, _append_memory.contexts)
                 AS u(id, appended, context)
          CROSS JOIN LATERAL (
            SELECT jsonb_agg(jsonb_build_object('role', x.e->>'role', 'content', x.e->>'content',
                                                'at', clock_timestamp()) ORDER BY x.k) AS stamped,
                   count(*)::integer AS added
            FROM jsonb_array_elements(u.appended) WITH ORDINALITY AS x(e, k)) s) p
   WHERE am.id = p.id AND p.added > 0
  RETURNING am.id, jsonb_array_length(am.messages);
END
$$;
COMMENT ON FUNCTION wapipe._append_memory(bigint[], jsonb[], jsonb[]) IS
  'Private: the memory append rule, set-based: entries[i] ([{role, content}]) appended to session memory_ids[i] with their time, newest memory.window_messages kept, message_count counted, contexts[i] merged (||), last_activity_at = now(). Returns (memory_id, kept) per session updated.';
REVOKE ALL ON FUNCTION wapipe._append_memory(bigint[], jsonb[], jsonb[]) FROM PUBLIC;

-- wapipe.get_or_create_conversation_memory: the AI memory session of a user with an agent.
-- Returns the wapipe.ai_conversation_memory row (created when there is none to reuse).
--
-- With session_id: that session, created if missing. Without: _memory_sessions of
-- one (the most recent session active within memory.session_idle_seconds, else a new
-- one). Callers for the same user and agent are serialised with a transaction-level
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

  IF session_id IS NULL THEN
    SELECT (s.session).* INTO result
    FROM wapipe._memory_sessions(ARRAY[user_phone], ARRAY[agent_type]) s;
    RETURN result;
  END IF;

  -- One caller at a time per (user, agent), as _memory_sessions takes it.
  PERFORM pg_advisory_xact_lock(wapipe._memory_lock_key(user_phone, agent_type));
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
END
$$;
COMMENT ON FUNCTION wapipe.get_or_create_conversation_memory(text, text, text) IS
  'AI memory session of (user_phone, agent_type): the given session_id (created if missing), else the most recent one active within memory.session_idle_seconds, else a new one. Concurrent callers share one new session. Returns the ai_conversation_memory row. Raises 22023 for an empty user_phone, agent_type or session_id.';

REVOKE ALL ON FUNCTION wapipe.get_or_create_conversation_memory(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.get_or_create_conversation_memory(text, text, text) TO wapipe_worker;


-- wapipe.update_conversation_memory: append one message to a memory session's window.
-- Returns the number of messages kept (at most memory.window_messages).
--
-- _append_memory of one entry, checked as a completion's memory entry is
-- (_completion_refusal, the one list of those refusals).
-- Raises 22023 for a role other than user/assistant/system/tool, a NULL content,
-- a context that is not a JSON object, or an unknown memory_id.
CREATE OR REPLACE FUNCTION wapipe.update_conversation_memory(
  memory_id bigint, role text, content text, context jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- (the planner settings of the helpers it calls, which have none of their own)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
DECLARE
  entry   jsonb := jsonb_build_array(jsonb_build_object('role', role, 'content', content));
  refusal text;
  kept    integer;
BEGIN
  refusal := wapipe._completion_refusal(
    jsonb_build_object('memory', jsonb_build_object('memory_id', memory_id, 'append', entry)
                                 || CASE WHEN context IS NULL THEN '{}'
                                         ELSE jsonb_build_object('context', context) END),
    ARRAY(SELECT am.id FROM wapipe.ai_conversation_memory am
          WHERE am.id = update_conversation_memory.memory_id));
  IF refusal IS NOT NULL THEN
    RAISE EXCEPTION USING MESSAGE = refusal, ERRCODE = '22023';
  END IF;
  SELECT a.kept INTO kept
  FROM wapipe._append_memory(ARRAY[memory_id], ARRAY[entry], ARRAY[context]) a;
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
