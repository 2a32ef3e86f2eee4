-- wapipe._maintain_message_partitions: processed_messages' weekly partitions (by range of id,
-- db/schema/0029): make this week's and those premake_days ahead, drop the weeks past retention.
-- Returns how many partitions it created or dropped.
--
-- An id carries its UTC day (wapipe._message_id_base), so the week of Monday w is ids
-- [w << 36, (w + 7) << 36). Weekly, not daily: on PostgreSQL 15 every UPDATE of a
-- partitioned table opens and locks every partition whatever it prunes, so the claim
-- path's cost grows with their count (measured, db/README.md: 13 daily partitions
-- 1.37x per claimed message, 5 weekly 1.10x). Not pg_partman: its retention by id
-- cannot know which weeks are finished. A week is dropped once the whole week is older
-- than retention.messages_days and none of its messages is unfinished or was received
-- within the retention (_partition_is_past), so a message queued for longer stays with
-- its week, and weeks go oldest first: a message lives retention to retention + 7
-- days. Then the dedup rows of the dropped weeks go from message_wamids (ids below the
-- oldest week kept): a wamid is remembered exactly as long as its message. Rows in the
-- default partition (ids past the weeks made ahead: the job stopped, or a clock ahead)
-- are moved into a partition of their own week first. A drop takes a short ACCESS
-- EXCLUSIVE lock on processed_messages: with lock_timeout, a run that cannot get it at
-- once leaves the week for the next run instead of stalling ingest behind it.
CREATE OR REPLACE FUNCTION wapipe._maintain_message_partitions(premake_days integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  today    bigint := pg_catalog.floor(pg_catalog.date_part('epoch', now()) / 86400)::bigint;
  days     numeric := wapipe._setting_num('retention.messages_days');
  d        bigint;
  part     record;
  name     text;
  changed  integer := 0;
  oldest   bigint;
  caller_lock_timeout text := current_setting('lock_timeout');
  cutoff   timestamptz;
BEGIN
  IF days IS NULL OR days <= 0 THEN
    RAISE EXCEPTION 'retention.messages_days must be a positive number of days, got %',
      coalesce(days::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  cutoff := now() - make_interval(secs => days * 86400);

  -- d: the day number of a week's Monday (day 0, 1970-01-01, was a Thursday)
  FOR d IN
    SELECT DISTINCT x.day - (x.day + 3) % 7
    FROM (SELECT g AS day FROM generate_series(today, today + premake_days) g
          UNION SELECT m.id >> 36 FROM wapipe.processed_messages_default m) x
    ORDER BY 1
  LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM wapipe._message_partitions() p
                          WHERE coalesce(p.lo <= d << 36, true) AND p.hi > d << 36);
    name := 'processed_messages_w' || to_char(to_timestamp(d * 86400) AT TIME ZONE 'UTC', 'YYYY_MM_DD');
    -- (fillfactor 50: a claim of a batch of consecutive messages updates them all on
    -- their page, HOT; db/schema/0031_room_for_batch_claims.sql)
    EXECUTE format(
      'CREATE TABLE wapipe.%I (LIKE wapipe.processed_messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
      'WITH (fillfactor = 50, autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.02)',
      name);
    EXECUTE format('ALTER TABLE wapipe.%I ENABLE ROW LEVEL SECURITY', name);
    EXECUTE format('WITH moved AS (DELETE FROM wapipe.processed_messages_default m '
                   'WHERE m.id >= $1 AND m.id < $2 RETURNING m.*) '
                   'INSERT INTO wapipe.%I SELECT * FROM moved', name)
      USING d << 36, (d + 7) << 36;
    EXECUTE format('ALTER TABLE wapipe.processed_messages ATTACH PARTITION wapipe.%I '
                   'FOR VALUES FROM (%s) TO (%s)', name, d << 36, (d + 7) << 36);
    changed := changed + 1;
  END LOOP;

  PERFORM set_config('lock_timeout', '2s', true);
  FOR part IN
    SELECT p.part, p.hi FROM wapipe._message_partitions() p
    -- a week's last day is (hi >> 36) - 1: it is past once the next day is;
    -- the legacy partition (lo MINVALUE, ids of before 0028) by what it holds
    WHERE p.lo IS NULL OR to_timestamp((p.hi >> 36) * 86400) < cutoff
    ORDER BY p.hi
  LOOP
    EXIT WHEN NOT wapipe._partition_is_past(part.part, cutoff);
    BEGIN
      EXECUTE format('DROP TABLE %s', part.part);
      changed := changed + 1;
    EXCEPTION WHEN lock_not_available THEN
      EXIT;
    END;
  END LOOP;
  PERFORM set_config('lock_timeout', caller_lock_timeout, true);

  SELECT min(p.lo) INTO oldest FROM wapipe._message_partitions() p
  WHERE NOT EXISTS (SELECT 1 FROM wapipe._message_partitions() q WHERE q.lo IS NULL);
  IF oldest IS NOT NULL THEN
    DELETE FROM wapipe.message_wamids w WHERE w.message_id < oldest;
  END IF;
  RETURN changed;
END
$$;
COMMENT ON FUNCTION wapipe._maintain_message_partitions(integer) IS
  'Private to maintain_partitions: create processed_messages'' weekly partitions (by id, weeks from Monday UTC) for this week and premake_days ahead (moving rows out of the default partition), drop the weeks past retention.messages_days with no unfinished message, and the dedup rows (message_wamids) of the dropped weeks. Returns partitions created or dropped.';
REVOKE ALL ON FUNCTION wapipe._maintain_message_partitions(integer) FROM PUBLIC;

-- wapipe._message_partitions: processed_messages' partitions but the default, with their id bounds.
-- Returns one row per partition: part, lo (NULL for MINVALUE), hi (exclusive).
CREATE OR REPLACE FUNCTION wapipe._message_partitions()
RETURNS TABLE (part regclass, lo bigint, hi bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
AS $$
  SELECT c.oid::regclass,
         NULLIF(pg_catalog.btrim(pg_catalog.substring(b.expr, 'FROM \(([^)]*)\)'), ''''), 'MINVALUE')::bigint,
         pg_catalog.btrim(pg_catalog.substring(b.expr, 'TO \(([^)]*)\)'), '''')::bigint
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
  CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS expr) b
  WHERE i.inhparent = 'wapipe.processed_messages'::regclass AND b.expr <> 'DEFAULT'
$$;
COMMENT ON FUNCTION wapipe._message_partitions() IS
  'Private: processed_messages'' partitions but the default, with their id bounds (lo NULL for MINVALUE, hi exclusive).';
REVOKE ALL ON FUNCTION wapipe._message_partitions() FROM PUBLIC;

-- wapipe._partition_is_past: whether a processed_messages partition may be dropped.
-- Returns true when none of its messages is unfinished and none was received at or after cutoff.
--
-- Both through indexes (processed_messages_unfinished_received_idx, the received_at
-- BRIN), never a scan of a day's rows: seqscan is off for it.
CREATE OR REPLACE FUNCTION wapipe._partition_is_past(part regclass, cutoff timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' SET enable_seqscan = off
AS $$
DECLARE
  kept boolean;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s m WHERE m.processed_at IS NULL) '
                 'OR EXISTS (SELECT 1 FROM %s m WHERE m.received_at >= $1)', part, part)
    INTO kept USING cutoff;
  RETURN NOT kept;
END
$$;
COMMENT ON FUNCTION wapipe._partition_is_past(regclass, timestamptz) IS
  'Private: true when the processed_messages partition holds no unfinished message (processed_at IS NULL) and none received at or after cutoff.';
REVOKE ALL ON FUNCTION wapipe._partition_is_past(regclass, timestamptz) FROM PUBLIC;

-- wapipe.maintain_partitions: create the daily partitions ahead and drop those past retention (pg_partman), hourly by pg_cron.
-- Returns how many partitions it created or dropped.
--
-- The partitioned history (db/schema/0027): wapipe.webhook_events, wapipe.service_calls
-- and pgmq.a_wapipe_inbound by pg_partman; wapipe.processed_messages (weekly, by id, 0029) by
-- _maintain_message_partitions, with the dedup rows of its dropped days. Retention per table is a wapipe.settings key
-- (retention.*_days), copied into pg_partman's part_config on every run; a day's
-- partition goes when its whole day is older than the retention (so rows live
-- retention to retention + 1 days). Rows that overran the partitions made ahead (the
-- job did not run for longer than retention.premake_days, or a clock far ahead) sit
-- in the default partition, where pg_partman's maintenance would fail to create their
-- day ("updated partition constraint for default partition would be violated"): they
-- are first moved into partitions of their own day.
-- pg_partman 4.x sets search_path at session level while it works and then "restores"
-- the one it found, which inside this function is ''; that would outlive the call
-- (a plain SET overrides a function's SET clause). caller_search_path, evaluated in
-- the caller before the SET clause applies, is what is put back. Not for callers to pass.
CREATE OR REPLACE FUNCTION wapipe.maintain_partitions(
  caller_search_path text DEFAULT pg_catalog.current_setting('search_path'))
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  t        record;
  days     numeric;
  premake_days integer := wapipe._setting_num('retention.premake_days')::integer;
  before   text[];
  changed  integer := 0;
  overran  boolean;
  part     record;
BEGIN
  IF premake_days IS NULL OR premake_days < 1 THEN
    RAISE EXCEPTION 'retention.premake_days must be at least 1, got %', coalesce(premake_days::text, 'NULL')
      USING ERRCODE = '22023';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('wapipe.maintain_partitions'));

  FOR t IN
    SELECT v.parent, v.setting
    FROM (VALUES ('wapipe.webhook_events', 'retention.webhook_events_days'),
                 ('wapipe.service_calls', 'retention.service_calls_days'),
                 ('pgmq.a_wapipe_inbound', 'retention.queue_archive_days')) AS v(parent, setting)
  LOOP
    days := wapipe._setting_num(t.setting);
    IF days IS NULL OR days <= 0 THEN
      RAISE EXCEPTION '% must be a positive number of days, got %', t.setting, coalesce(days::text, 'NULL')
        USING ERRCODE = '22023';
    END IF;
    UPDATE partman.part_config c
       SET retention = (days || ' days'), premake = premake_days,
           retention_keep_table = false, infinite_time_partitions = true
     WHERE c.parent_table = t.parent
       AND (c.retention IS DISTINCT FROM (days || ' days') OR c.premake <> premake_days
            OR c.retention_keep_table OR NOT c.infinite_time_partitions);

    SELECT coalesce(array_agg(i.inhrelid::regclass::text), '{}') INTO before
    FROM pg_catalog.pg_inherits i WHERE i.inhparent = t.parent::regclass;

    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', t.parent || '_default') INTO STRICT overran;
    IF overran THEN
      PERFORM partman.partition_data_time(t.parent, p_batch_count => 100000, p_analyze => false);
      -- its scratch table has this parent's columns; the next parent needs its own
      DROP TABLE IF EXISTS pg_temp.partman_temp_data_storage;
    END IF;
    PERFORM partman.run_maintenance(t.parent, p_analyze => false, p_jobmon => false);
    -- like every wapipe table, each partition has row level security on (reached
    -- directly, a partition would not apply its parent's)
    FOR part IN
      SELECT c.oid::regclass AS child FROM pg_catalog.pg_inherits i
      JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = t.parent::regclass AND NOT c.relrowsecurity
        AND c.relnamespace = 'wapipe'::regnamespace
    LOOP
      EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part.child);
    END LOOP;

    SELECT changed + count(*) INTO changed
    FROM (SELECT unnest(before)
          EXCEPT SELECT i.inhrelid::regclass::text FROM pg_catalog.pg_inherits i
                 WHERE i.inhparent = t.parent::regclass) gone;
    SELECT changed + count(*) INTO changed
    FROM (SELECT i.inhrelid::regclass::text FROM pg_catalog.pg_inherits i
          WHERE i.inhparent = t.parent::regclass
          EXCEPT SELECT unnest(before)) made;
  END LOOP;
  PERFORM pg_catalog.set_config('search_path', caller_search_path, false);
  changed := changed + wapipe._maintain_message_partitions(premake_days);
  RETURN changed;
END
$$;
COMMENT ON FUNCTION wapipe.maintain_partitions(text) IS
  'Operators / pg_cron (hourly): for webhook_events, service_calls and the pgmq archive of wapipe_inbound, move rows that overran into partitions of their day, create daily partitions retention.premake_days ahead, and drop the days older than retention.<table>_days (pg_partman); weekly for processed_messages (by id, retention.messages_days, a week with an unfinished message stays) and the dedup rows of its dropped weeks. Returns partitions created or dropped.';
REVOKE ALL ON FUNCTION wapipe.maintain_partitions(text) FROM PUBLIC;
