-- processed_messages is partitioned by week through its id (db/schema/0029): a message
-- is made `days` days older by moving its id to that day (same sequence bits), with
-- its dedup row, its conversation head pointer and its timestamps. Returns the new id.
CREATE FUNCTION wapipe_tests.age_message(message_wamid text, days integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  old_id bigint;
  new_id bigint;
BEGIN
  SELECT m.id INTO STRICT old_id FROM wapipe.processed_messages m WHERE m.wamid = message_wamid;
  new_id := (((old_id >> 36) - days) << 36) | (old_id & ((1::bigint << 36) - 1));
  UPDATE wapipe.processed_messages m
     SET id = new_id,
         received_at = m.received_at - make_interval(days => days),
         wa_timestamp = m.wa_timestamp - make_interval(days => days),
         processed_at = m.processed_at - make_interval(days => days)
   WHERE m.id = old_id;
  UPDATE wapipe.message_wamids w SET message_id = new_id WHERE w.wamid = message_wamid;
  UPDATE wapipe.conversations c SET head_message_id = new_id WHERE c.head_message_id = old_id;
  RETURN new_id;
END $$;

-- The partition a message is stored in.
CREATE FUNCTION wapipe_tests.partition_of(message_wamid text) RETURNS text
LANGUAGE sql AS $$
  SELECT m.tableoid::regclass::text FROM wapipe.processed_messages m WHERE m.wamid = message_wamid
$$;

-- The weekly processed_messages partition (db/schema/0029) that holds a time's day.
CREATE FUNCTION wapipe_tests.week_partition(at timestamptz) RETURNS text
LANGUAGE sql AS $$
  SELECT 'wapipe.processed_messages_w' || to_char(date_trunc('week', at AT TIME ZONE 'UTC'), 'YYYY_MM_DD')
$$;
