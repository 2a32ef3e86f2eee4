-- History partitioned by day (pg_partman): webhook_events, service_calls and pgmq's archive of wapipe_inbound; retention drops whole days.
-- depends: 0026_window_handoff
--
-- Each table is converted with its data: the old table is renamed, a table of the
-- same columns partitioned by range of its time column takes its name, pg_partman
-- creates one partition per day from the oldest row's day to 4 days ahead (and a
-- default partition), and the rows are copied over. Ids keep counting from where
-- they were (the identity sequence keeps its name: ingest_webhooks draws event ids
-- from wapipe.webhook_events_id_seq). A unique key must contain the partition key,
-- so the primary keys become (id, time); ids still come from one sequence.
-- The copy holds ACCESS EXCLUSIVE on each table until the migration commits: see
-- docs/OPERATIONS.md (maintenance window, time per million rows).
-- Views that read a converted table are dropped here (CASCADE) and re-created by
-- `wapipe db migrate` from db/views/, as on every run.
-- Which tables are not partitioned, and why: db/README.md.

INSERT INTO wapipe.settings (key, value, description) VALUES
  ('retention.webhook_events_days', '7', 'days of raw webhook events kept: older daily partitions are dropped'),
  ('retention.service_calls_days', '7', 'days of service_calls kept: older daily partitions are dropped'),
  ('retention.queue_archive_days', '7', 'days of pgmq archive (wapipe_inbound) kept: older daily partitions are dropped'),
  ('retention.premake_days', '4', 'daily partitions created ahead of today'),
  ('retention.batch_rows', '200000', 'most rows cleanup_old_messages deletes from one unpartitioned table per run')
ON CONFLICT (key) DO NOTHING;

DO $$
DECLARE
  t record;
  next_id bigint;
  first_day timestamptz;
  acl record;
BEGIN
  FOR t IN
    SELECT * FROM (VALUES
      ('webhook_events', 'received_at', 0.05),
      ('service_calls', 'called_at', 0.2)
    ) AS v(name, time_col, vacuum_scale)
  LOOP
    EXECUTE format('LOCK TABLE wapipe.%I IN ACCESS EXCLUSIVE MODE', t.name);
    next_id := nextval(format('wapipe.%I', t.name || '_id_seq'));
    EXECUTE format('ALTER TABLE wapipe.%I RENAME TO %I', t.name, t.name || '_unpartitioned');
    EXECUTE format('ALTER TABLE wapipe.%I ALTER COLUMN id DROP IDENTITY', t.name || '_unpartitioned');
    -- index names are schema-wide: the old ones step aside
    FOR acl IN
      SELECT i.relname::text AS relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
      WHERE x.indrelid = format('wapipe.%I', t.name || '_unpartitioned')::regclass
    LOOP
      EXECUTE format('ALTER INDEX wapipe.%I RENAME TO %I', acl.relname, acl.relname || '_unpartitioned');
    END LOOP;

    EXECUTE format(
      'CREATE TABLE wapipe.%I (LIKE wapipe.%I INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMMENTS) '
      'PARTITION BY RANGE (%I)', t.name, t.name || '_unpartitioned', t.time_col);
    EXECUTE format('ALTER TABLE wapipe.%I ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY '
                   '(SEQUENCE NAME wapipe.%I START WITH %s)', t.name, t.name || '_id_seq', next_id);
    EXECUTE format('ALTER TABLE wapipe.%I ADD PRIMARY KEY (id, %I)', t.name, t.time_col);
    EXECUTE format('ALTER TABLE wapipe.%I ENABLE ROW LEVEL SECURITY', t.name);
    EXECUTE format('REVOKE ALL ON wapipe.%I FROM PUBLIC', t.name);

    EXECUTE format('SELECT min(%I) FROM wapipe.%I', t.time_col, t.name || '_unpartitioned') INTO first_day;
    PERFORM partman.create_parent(
      p_parent_table := format('wapipe.%s', t.name), p_control := t.time_col, p_type := 'native',
      p_interval := 'daily', p_premake := 4, p_jobmon := false,
      p_start_partition := CASE WHEN first_day < now() - interval '4 days'
                                THEN to_char(date_trunc('day', first_day), 'YYYY-MM-DD HH24:MI:SS') END);
    UPDATE partman.part_config
       SET infinite_time_partitions = true, retention = '7 days', retention_keep_table = false,
           retention_keep_index = false
     WHERE parent_table = format('wapipe.%s', t.name);
    -- autovacuum settings live on the partitions (a partitioned table has none):
    -- pg_partman copies its template table's onto each new one
    EXECUTE format('ALTER TABLE partman.%I SET (autovacuum_analyze_scale_factor = 0.01, '
                   'autovacuum_vacuum_scale_factor = %s)', 'template_wapipe_' || t.name, t.vacuum_scale);

    EXECUTE format('INSERT INTO wapipe.%I OVERRIDING SYSTEM VALUE SELECT * FROM wapipe.%I',
                   t.name, t.name || '_unpartitioned');
    EXECUTE format('DROP TABLE wapipe.%I CASCADE', t.name || '_unpartitioned');
    -- row level security on every wapipe table, partitions too (maintain_partitions
    -- does the same for the ones it creates)
    FOR acl IN
      SELECT i.inhrelid::regclass AS child FROM pg_inherits i
      WHERE i.inhparent = format('wapipe.%I', t.name)::regclass
    LOOP
      EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', acl.child);
    END LOOP;
  END LOOP;
END
$$;

-- The same indexes as before, now one per partition.
CREATE INDEX webhook_events_correlation_id_idx ON wapipe.webhook_events (correlation_id);
CREATE INDEX webhook_events_received_at_brin ON wapipe.webhook_events USING brin (received_at);
CREATE INDEX service_calls_service_idx ON wapipe.service_calls (service, called_at);
CREATE INDEX service_calls_called_at_idx ON wapipe.service_calls (called_at);

-- pgmq's archive of wapipe_inbound: pgmq converts it (time-based, by archived_at; the
-- queue table itself stays as it is), and leaves the old table and its rows behind
-- as a_wapipe_inbound_old, which are copied over here.
DO $$
DECLARE
  first_day timestamptz;
BEGIN
  LOCK TABLE pgmq.a_wapipe_inbound IN ACCESS EXCLUSIVE MODE;
  SELECT min(archived_at) INTO first_day FROM pgmq.a_wapipe_inbound;
  PERFORM pgmq.convert_archive_partitioned('wapipe_inbound', '1 day', '7 days', 4);
  IF first_day < now() - interval '4 days' THEN
    PERFORM partman.create_partition_time('pgmq.a_wapipe_inbound',
      ARRAY(SELECT generate_series(date_trunc('day', first_day), now() - interval '4 days', interval '1 day')));
  END IF;
  INSERT INTO pgmq.a_wapipe_inbound SELECT * FROM pgmq.a_wapipe_inbound_old;
  DROP TABLE pgmq.a_wapipe_inbound_old;
  GRANT SELECT ON pgmq.a_wapipe_inbound TO pg_monitor;
END
$$;
