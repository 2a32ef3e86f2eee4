-- The inbound queue's statements (pgmq.q_wapipe_inbound, pgmq.a_wapipe_inbound), each written once.
--
-- pgmq's own set_vt and archive build their statement with format() and EXECUTE on
-- every call (the queue name is an argument), so a hot function that called them
-- paid a parse and plan per call, and the hot functions wrote pgmq's statements out
-- instead, one copy each. These wrappers are those statements for the one queue
-- wapipe reads, static (PL/pgSQL keeps their plans for the session), set-based (one
-- call per statement, never one per row), and granted to nobody: every function
-- that moves or archives an inbound entry calls them. The plans are generic and by
-- key only (msg_id, the queue's primary key), like the hot functions that call them:
-- a plan made while the queue was small must not keep scanning it as it grows.
-- ingest_webhooks (1000) still writes its send out; _inbound_send takes ids drawn
-- from the queue's sequence, as the ingest draws them in the statement that stores
-- the messages, so it can call it instead.

-- wapipe._inbound_send: put entries on the inbound queue under ids the caller drew (pgmq.send_batch's INSERT).
-- Returns how many entries it queued.
--
-- ids come from nextval('pgmq.q_wapipe_inbound_msg_id_seq') (the caller stores them
-- with its messages in the same statement); messages[i] and headers[i] go with
-- ids[i], visible at vt (pgmq.send_batch sends at clock_timestamp()). pgmq's insert
-- trigger (migration 0007) wakes the workers at commit, as for any send.
CREATE OR REPLACE FUNCTION wapipe._inbound_send(ids bigint[], messages jsonb[], headers jsonb[],
                                               vt timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  n integer;
BEGIN
  IF cardinality(ids) IS DISTINCT FROM cardinality(messages)
     OR cardinality(ids) IS DISTINCT FROM cardinality(headers) THEN
    RAISE EXCEPTION '_inbound_send: ids, messages and headers must have the same length'
      USING ERRCODE = '22023';
  END IF;
  INSERT INTO pgmq.q_wapipe_inbound AS q (msg_id, vt, message, headers)
  OVERRIDING SYSTEM VALUE
  SELECT u.id, _inbound_send.vt, u.message, u.header
  FROM unnest(ids, messages, headers) WITH ORDINALITY AS u(id, message, header, ord)
  ORDER BY u.ord;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION wapipe._inbound_send(bigint[], jsonb[], jsonb[], timestamptz) IS
  'Private: pgmq.send_batch for the inbound queue, static and set-based, under ids the caller drew from pgmq.q_wapipe_inbound_msg_id_seq: entry ids[i] = (messages[i], headers[i]) visible at vt (one INSERT); returns how many it queued. Raises 22023 for arrays of different lengths.';
REVOKE ALL ON FUNCTION wapipe._inbound_send(bigint[], jsonb[], jsonb[], timestamptz) FROM PUBLIC;

-- wapipe._inbound_set_vt: set the visibility timeout of inbound queue entries (pgmq.set_vt's UPDATE).
-- Returns how many entries it updated (ids no longer queued are skipped).
CREATE OR REPLACE FUNCTION wapipe._inbound_set_vt(ids bigint[], until timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
DECLARE
  n integer;
BEGIN
  UPDATE pgmq.q_wapipe_inbound q
     SET vt = until
   WHERE q.msg_id = ANY (ids);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION wapipe._inbound_set_vt(bigint[], timestamptz) IS
  'Private: pgmq.set_vt for the inbound queue, static and set-based: vt = until for the entries ids (one UPDATE); returns how many it updated.';
REVOKE ALL ON FUNCTION wapipe._inbound_set_vt(bigint[], timestamptz) FROM PUBLIC;

-- wapipe._inbound_archive: move inbound queue entries to pgmq's archive (pgmq.archive's DELETE ... INSERT).
-- Returns how many entries it archived (ids no longer queued are skipped).
CREATE OR REPLACE FUNCTION wapipe._inbound_archive(ids bigint[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
DECLARE
  n integer;
BEGIN
  WITH archived AS (
    DELETE FROM pgmq.q_wapipe_inbound q
    WHERE q.msg_id = ANY (ids)
    RETURNING q.msg_id, q.vt, q.read_ct, q.enqueued_at, q.last_read_at, q.message, q.headers
  )
  INSERT INTO pgmq.a_wapipe_inbound (msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers)
  SELECT r.msg_id, r.vt, r.read_ct, r.enqueued_at, r.last_read_at, r.message, r.headers
  FROM archived r;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION wapipe._inbound_archive(bigint[]) IS
  'Private: pgmq.archive for the inbound queue, static and set-based: the entries ids move from pgmq.q_wapipe_inbound to pgmq.a_wapipe_inbound (one DELETE ... INSERT); returns how many it archived.';
REVOKE ALL ON FUNCTION wapipe._inbound_archive(bigint[]) FROM PUBLIC;
