-- processed_messages partitioned by week through its id (an id carries its UTC day in its high bits); the wamid dedup moves to a narrow table of its own (wapipe.message_wamids); retention drops whole weeks.
-- depends: 0028_history_fewer_indexes
--
-- Why by id and not by received_at: the hot paths find a message by id (claims,
-- completions, retries, heads); with the day inside the id, `WHERE id = $1` prunes to
-- one partition even in a generic plan, and the primary key stays (id). An id is
-- (UTC day number << 36) | nextval(processed_messages_id_seq) (wapipe._message_id_base):
-- still unique and increasing, below 2^53 (exact in JSON) until the year 2328.
-- A unique key of a partitioned table must contain the partition key, so wamid
-- uniqueness (invariant 2, across every day kept) is wapipe.message_wamids': one
-- narrow row per wamid (wamid, message_id), unpartitioned. Why: db/README.md.
--
-- Conversion, data kept, ids unchanged: the old table is renamed and its rows copied
-- into one partition, processed_messages_legacy, the ids below 2^36 (old ids are
-- sequence values; the sequence goes on from where it was, under the day bits);
-- this week and the weeks ahead are partitions of their own; a default partition catches
-- ids past them. The legacy partition goes once none of its messages was received
-- within the retention and none is unfinished.
-- The copy holds ACCESS EXCLUSIVE on processed_messages until the migration
-- commits: docs/OPERATIONS.md (maintenance window, time per million rows).
-- Functions and views that use the table's row type are dropped here (CASCADE) and
-- re-created by `wapipe db migrate` from db/functions and db/views, as on every run.

INSERT INTO wapipe.settings (key, value, description) VALUES
  ('retention.messages_days', '7',
   'days of processed messages kept, and of the wamid dedup window (Meta retries for 7 days): a weekly partition is dropped once its whole week is older and none of its messages is unfinished')
ON CONFLICT (key) DO NOTHING;

DO $$
DECLARE
  next_id bigint;
  today   bigint := floor(date_part('epoch', now()) / 86400)::bigint;
  ix      record;
  d       bigint;
  premake integer := coalesce((SELECT (s.value #>> '{}')::integer FROM wapipe.settings s
                               WHERE s.key = 'retention.premake_days'), 4);
BEGIN
  LOCK TABLE wapipe.processed_messages IN ACCESS EXCLUSIVE MODE;
  next_id := nextval('wapipe.processed_messages_id_seq');
  ALTER TABLE wapipe.processed_messages RENAME TO processed_messages_unpartitioned;
  ALTER TABLE wapipe.processed_messages_unpartitioned ALTER COLUMN id DROP IDENTITY;
  -- index names are schema-wide: the old ones step aside
  FOR ix IN
    SELECT i.relname::text AS relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
    WHERE x.indrelid = 'wapipe.processed_messages_unpartitioned'::regclass
  LOOP
    EXECUTE format('ALTER INDEX wapipe.%I RENAME TO %I', ix.relname, ix.relname || '_unpartitioned');
  END LOOP;

  CREATE SEQUENCE wapipe.processed_messages_id_seq;
  PERFORM setval('wapipe.processed_messages_id_seq', next_id, false);
  -- the same text as db/functions/0005_message_id_base.sql (re-applied after migrations)
  CREATE OR REPLACE FUNCTION wapipe._message_id_base()
  RETURNS bigint
  LANGUAGE sql STABLE
  RETURN pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()) / 86400)::bigint << 36;
  COMMENT ON FUNCTION wapipe._message_id_base() IS 'Private: (UTC day number << 36) of now().';
  REVOKE ALL ON FUNCTION wapipe._message_id_base() FROM PUBLIC;

  CREATE TABLE wapipe.processed_messages (
    LIKE wapipe.processed_messages_unpartitioned
    INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)
  PARTITION BY RANGE (id);
  ALTER TABLE wapipe.processed_messages ALTER COLUMN id
    SET DEFAULT wapipe._message_id_base() | nextval('wapipe.processed_messages_id_seq');
  ALTER SEQUENCE wapipe.processed_messages_id_seq OWNED BY wapipe.processed_messages.id;
  ALTER TABLE wapipe.processed_messages ADD PRIMARY KEY (id);
  ALTER TABLE wapipe.processed_messages ENABLE ROW LEVEL SECURITY;
  REVOKE ALL ON wapipe.processed_messages FROM PUBLIC;

  -- storage parameters live on the partitions (a partitioned table has none); the
  -- same as the unpartitioned table's (0013: room for HOT updates; 0015: autovacuum)
  -- the ids of before: sequence values, below 2^36 (day 0)
  CREATE TABLE wapipe.processed_messages_legacy PARTITION OF wapipe.processed_messages
    FOR VALUES FROM (MINVALUE) TO (68719476736) WITH (fillfactor = 85,
    autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.02);
  -- weekly partitions from Monday (day 0, 1970-01-01, was a Thursday): why weekly,
  -- db/functions/7010_maintain_partitions.sql
  FOR d IN SELECT DISTINCT g - (g + 3) % 7 FROM generate_series(today, today + premake) g ORDER BY 1 LOOP
    EXECUTE format(
      'CREATE TABLE wapipe.%I PARTITION OF wapipe.processed_messages FOR VALUES FROM (%s) TO (%s) '
      'WITH (fillfactor = 85, autovacuum_analyze_scale_factor = 0.01, '
      'autovacuum_vacuum_scale_factor = 0.02)',
      'processed_messages_w' || to_char(to_timestamp(d * 86400) AT TIME ZONE 'UTC', 'YYYY_MM_DD'),
      d << 36, (d + 7) << 36);
  END LOOP;
  CREATE TABLE wapipe.processed_messages_default PARTITION OF wapipe.processed_messages DEFAULT
    WITH (fillfactor = 85, autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.02);

  INSERT INTO wapipe.processed_messages SELECT * FROM wapipe.processed_messages_unpartitioned;

  -- the dedup record: one narrow row per wamid
  CREATE TABLE wapipe.message_wamids (
    wamid      text PRIMARY KEY,
    message_id bigint NOT NULL      -- processed_messages.id (its day: message_id >> 36)
  );
  COMMENT ON TABLE wapipe.message_wamids IS
    'Invariant 2 across daily partitions: the wamids of processed_messages, unique; a row goes when its message''s partition is dropped (maintain_partitions)';
  ALTER TABLE wapipe.message_wamids ENABLE ROW LEVEL SECURITY;
  REVOKE ALL ON wapipe.message_wamids FROM PUBLIC;
  ALTER TABLE wapipe.message_wamids
    SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.05);
  INSERT INTO wapipe.message_wamids (wamid, message_id)
  SELECT u.wamid, u.id FROM wapipe.processed_messages_unpartitioned u ORDER BY u.id;

  DROP TABLE wapipe.processed_messages_unpartitioned CASCADE;
  FOR ix IN
    SELECT i.inhrelid::regclass AS child FROM pg_inherits i
    WHERE i.inhparent = 'wapipe.processed_messages'::regclass
  LOOP
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', ix.child);
  END LOOP;
END
$$;

-- The indexes of before, one per partition, but for wamid (message_wamids' key).
-- queue_msg_id cannot be a unique key any more (it does not contain the id); pgmq's
-- msg_id sequence keeps it unique.
CREATE INDEX processed_messages_unfinished_idx
  ON wapipe.processed_messages (conversation_key, wa_timestamp, id)
  WHERE processed_at IS NULL;
CREATE INDEX processed_messages_unfinished_received_idx
  ON wapipe.processed_messages (received_at)
  WHERE processed_at IS NULL;
CREATE INDEX processed_messages_finished_idx
  ON wapipe.processed_messages (processed_at)
  WHERE processed_at IS NOT NULL;
CREATE INDEX processed_messages_received_at_brin
  ON wapipe.processed_messages USING brin (received_at);
CREATE INDEX processed_messages_reactions_idx
  ON wapipe.processed_messages (conversation_key, wa_timestamp)
  WHERE message_type = 'reaction';
CREATE INDEX processed_messages_queue_msg_id_idx ON wapipe.processed_messages (queue_msg_id);
-- message_wamids rows go by message_id range, oldest first (they are written in id order)
CREATE INDEX message_wamids_message_id_brin ON wapipe.message_wamids USING brin (message_id);
