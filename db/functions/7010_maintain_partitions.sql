-- wapipe.maintain_partitions: create the daily partitions ahead and drop those past retention (pg_partman), hourly by pg_cron.
-- Returns how many partitions it created or dropped.
--
-- The partitioned history (db/schema/0027): wapipe.webhook_events, wapipe.service_calls
-- and pgmq.a_wapipe_inbound. Retention per table is a wapipe.settings key
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
  RETURN changed;
END
$$;
COMMENT ON FUNCTION wapipe.maintain_partitions(text) IS
  'Operators / pg_cron (hourly): for webhook_events, service_calls and the pgmq archive of wapipe_inbound, move rows that overran into partitions of their day, create daily partitions retention.premake_days ahead, and drop the days older than retention.<table>_days (pg_partman). Returns partitions created or dropped.';
REVOKE ALL ON FUNCTION wapipe.maintain_partitions(text) FROM PUBLIC;
