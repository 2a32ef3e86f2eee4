-- wapipe._message_id_base: the day part of the processed_messages.id of a message stored now.
-- Returns (UTC day number since 1970-01-01) << 36; an id is this | nextval(processed_messages_id_seq).
--
-- processed_messages is partitioned by range of id, one partition per week of days
-- (migration 0029; why weekly: 7010_maintain_partitions): a look-up by id prunes to one
-- partition, and a whole week goes by dropping its partition. The day is the transaction's (now()), so the ids of one transaction share
-- a partition. The column's default and ingest (once per call, as an InitPlan) OR it
-- with the sequence: 2^36 sequence values (68 billion messages) before one would spill
-- into the day bits; ids stay below 2^53 (exact as JSON numbers) until the year 2328.
-- A pure helper (plain SQL, inlined where it is used; db/README.md house rules): as a
-- SECURITY DEFINER function it was planned on every call, ~55 us of each ingest.
CREATE OR REPLACE FUNCTION wapipe._message_id_base()
RETURNS bigint
LANGUAGE sql STABLE
RETURN pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()) / 86400)::bigint << 36;
COMMENT ON FUNCTION wapipe._message_id_base() IS
  'Private: (UTC day number << 36) of now(); a processed_messages.id is this | nextval(processed_messages_id_seq), so a look-up by id prunes to its day''s partition.';
REVOKE ALL ON FUNCTION wapipe._message_id_base() FROM PUBLIC;
