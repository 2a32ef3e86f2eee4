-- Inbound media (issue 16): claim a message's media for download (one worker at a time,
-- under a lease), record the bytes or why there are none, serve them to the ingress,
-- and purge them after media.retention_days. The table is wapipe.media (migration 0024).

-- wapipe.claim_media: the media row of an inbound message, created on first sight, and
-- whether the caller now holds it for download.
-- Returns one row: media_id, status, claimed, mime_type, size_bytes, sha256, error, wait_ms.
--
-- claimed = true: the caller downloads and then calls store_media or fail_media
-- (status 'fetching', lease lease_seconds; the same worker may claim again).
-- claimed = false: status 'stored' / 'oversize' / 'gone' (final: use it as is), or
-- 'fetching' under another worker's live lease (look again within wait_ms).
-- 'pending' and 'failed' rows, and 'fetching' rows whose lease has ended, are claimed.
CREATE OR REPLACE FUNCTION wapipe.claim_media(
  wamid text, phone_number_id text, media_type text, source jsonb, worker_id text,
  lease_seconds integer)
RETURNS TABLE (media_id bigint, status text, claimed boolean, mime_type text, size_bytes bigint,
               sha256 text, error text, wait_ms integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
  m wapipe.media;
BEGIN
  IF coalesce(claim_media.wamid, '') = '' OR coalesce(claim_media.worker_id, '') = ''
     OR coalesce(claim_media.media_type, '') = '' OR claim_media.phone_number_id IS NULL
     OR claim_media.source IS NULL OR jsonb_typeof(claim_media.source) <> 'object' THEN
    RAISE EXCEPTION 'claim_media: wamid, phone_number_id, media_type, worker_id and a source object are required'
      USING ERRCODE = '22023';
  END IF;
  IF claim_media.lease_seconds IS NULL OR claim_media.lease_seconds < 1 THEN
    RAISE EXCEPTION 'claim_media: lease_seconds must be at least 1, got %',
      coalesce(claim_media.lease_seconds::text, 'NULL') USING ERRCODE = '22023';
  END IF;

  INSERT INTO wapipe.media AS x (wamid, phone_number_id, media_type, source, mime_type)
  VALUES (claim_media.wamid, claim_media.phone_number_id, claim_media.media_type,
          claim_media.source, claim_media.source->>'mime_type')
  ON CONFLICT (wamid) DO NOTHING;

  SELECT * INTO m FROM wapipe.media AS x WHERE x.wamid = claim_media.wamid FOR UPDATE;

  IF m.status IN ('pending', 'failed')
     OR (m.status = 'fetching' AND (m.locked_until <= now() OR m.locked_by = claim_media.worker_id)) THEN
    UPDATE wapipe.media AS x
       SET status = 'fetching', locked_by = claim_media.worker_id,
           locked_until = now() + make_interval(secs => claim_media.lease_seconds),
           attempts = x.attempts + 1
     WHERE x.id = m.id
    RETURNING * INTO m;
    RETURN QUERY SELECT m.id, m.status, true, m.mime_type, m.size_bytes, m.sha256, m.error, 0;
    RETURN;
  END IF;
  RETURN QUERY SELECT m.id, m.status, false, m.mime_type, m.size_bytes, m.sha256, m.error,
    CASE WHEN m.status = 'fetching'
         THEN greatest(ceil(extract(epoch FROM m.locked_until - now()) * 1000), 1)::integer
         ELSE 0 END;
END
$$;
COMMENT ON FUNCTION wapipe.claim_media(text, text, text, jsonb, text, integer) IS
  'Worker: the media row of an inbound message (created on first sight) and whether the caller now holds it for '
  'download under a lease (claimed). Final rows (stored, oversize, gone) and rows under another worker''s live '
  'lease (wait_ms) are returned unclaimed. Raises 22023 for missing arguments.';
REVOKE ALL ON FUNCTION wapipe.claim_media(text, text, text, jsonb, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.claim_media(text, text, text, jsonb, text, integer) TO wapipe_worker;

-- wapipe._held_media: the media row the worker holds for download (locked), else WA001 (lease not held).
CREATE OR REPLACE FUNCTION wapipe._held_media(media_id bigint, worker_id text)
RETURNS wapipe.media
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  m wapipe.media;
BEGIN
  SELECT * INTO m FROM wapipe.media AS x WHERE x.id = _held_media.media_id FOR UPDATE;
  IF NOT FOUND OR m.status <> 'fetching' OR m.locked_by IS DISTINCT FROM _held_media.worker_id THEN
    RAISE EXCEPTION 'worker % does not hold the claim of media %', _held_media.worker_id,
      _held_media.media_id USING ERRCODE = 'WA001';
  END IF;
  RETURN m;
END
$$;
COMMENT ON FUNCTION wapipe._held_media(bigint, text) IS
  'Private: lock the media row the worker holds for download; raises WA001 (lease not held) when it does not hold it.';
REVOKE ALL ON FUNCTION wapipe._held_media(bigint, text) FROM PUBLIC;

-- wapipe.store_media: keep the downloaded bytes of a held media row (status 'stored').
-- Returns the row's size in bytes. The sha256 (hex) is computed here from the bytes.
CREATE OR REPLACE FUNCTION wapipe.store_media(
  media_id bigint, worker_id text, content bytea, mime_type text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  m wapipe.media := wapipe._held_media(store_media.media_id, store_media.worker_id);
BEGIN
  IF store_media.content IS NULL THEN
    RAISE EXCEPTION 'store_media: content is required' USING ERRCODE = '22023';
  END IF;
  UPDATE wapipe.media AS x
     SET status = 'stored', content = store_media.content,
         size_bytes = octet_length(store_media.content),
         sha256 = encode(pg_catalog.sha256(store_media.content), 'hex'),
         mime_type = coalesce(store_media.mime_type, x.mime_type),
         stored_at = now(), locked_by = NULL, locked_until = NULL, error = NULL
   WHERE x.id = m.id;
  RETURN octet_length(store_media.content);
END
$$;
COMMENT ON FUNCTION wapipe.store_media(bigint, text, bytea, text) IS
  'Worker: keep the downloaded bytes of the media row it holds (status stored, sha256 computed here). '
  'Returns the size. Raises WA001 when the worker does not hold the row, 22023 without content.';
REVOKE ALL ON FUNCTION wapipe.store_media(bigint, text, bytea, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.store_media(bigint, text, bytea, text) TO wapipe_worker;

-- wapipe.fail_media: record why a held media row has no bytes: 'failed' (may be claimed
-- again: the message is retried), 'oversize' or 'gone' (final). Returns the new status.
CREATE OR REPLACE FUNCTION wapipe.fail_media(
  media_id bigint, worker_id text, outcome text, error text, size_bytes bigint DEFAULT NULL,
  mime_type text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  m wapipe.media;
BEGIN
  IF fail_media.outcome IS NULL OR fail_media.outcome NOT IN ('failed', 'oversize', 'gone') THEN
    RAISE EXCEPTION 'fail_media: outcome must be failed, oversize or gone, got %',
      coalesce(fail_media.outcome, 'NULL') USING ERRCODE = '22023';
  END IF;
  m := wapipe._held_media(fail_media.media_id, fail_media.worker_id);
  UPDATE wapipe.media AS x
     SET status = fail_media.outcome, error = left(fail_media.error, 500),
         size_bytes = coalesce(fail_media.size_bytes, x.size_bytes),
         mime_type = coalesce(fail_media.mime_type, x.mime_type),
         locked_by = NULL, locked_until = NULL
   WHERE x.id = m.id;
  RETURN fail_media.outcome;
END
$$;
COMMENT ON FUNCTION wapipe.fail_media(bigint, text, text, text, bigint, text) IS
  'Worker: the held media row has no bytes: failed (claimable again), oversize or gone (final). '
  'Returns the status. Raises WA001 when the worker does not hold the row, 22023 for another outcome.';
REVOKE ALL ON FUNCTION wapipe.fail_media(bigint, text, text, text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.fail_media(bigint, text, text, text, bigint, text) TO wapipe_worker;

-- wapipe.media_content: the stored bytes of one media row, for a signed URL of the
-- ingress (GET /media/{id}) or an in-process agent. Returns no row unless stored.
CREATE OR REPLACE FUNCTION wapipe.media_content(media_id bigint)
RETURNS TABLE (content bytea, mime_type text, filename text, size_bytes bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
AS $$
  SELECT m.content, m.mime_type, m.source->>'filename', m.size_bytes
  FROM wapipe.media m
  WHERE m.id = media_content.media_id AND m.status = 'stored'
$$;
COMMENT ON FUNCTION wapipe.media_content(bigint) IS
  'Ingress (signed media URLs) and worker: the bytes, mime type, filename and size of a stored media row; '
  'no row when it is not stored (or purged). The caller checks the URL signature first.';
REVOKE ALL ON FUNCTION wapipe.media_content(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.media_content(bigint) TO wapipe_worker, wapipe_ingress;

-- wapipe.cleanup_media: retention; delete media rows older than media.retention_days.
-- Returns how many rows it deleted.
CREATE OR REPLACE FUNCTION wapipe.cleanup_media()
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  n integer;
BEGIN
  DELETE FROM wapipe.media m
  WHERE m.created_at < now() - make_interval(days => wapipe._setting_num('media.retention_days')::integer);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION wapipe.cleanup_media() IS
  'Retention: delete inbound media (bytes included) older than media.retention_days (hourly pg_cron job '
  'wapipe-media-retention). Returns how many rows it deleted.';
REVOKE ALL ON FUNCTION wapipe.cleanup_media() FROM PUBLIC;
