-- processed_messages' CHECK constraints written with array constants: the same rules, cheaper on every insert.
-- depends: 0029_message_partitions
--
-- PostgreSQL 15 reads a table's CHECK expressions from their stored text and folds them
-- again in every INSERT or UPDATE statement (not once per session). `status IN ('queued',
-- …)` is stored as ARRAY[…] of four constants, which is folded into an array again each
-- time; `status = ANY ('{…}'::text[])` is stored as one array constant. Measured in
-- callgrind on a one-message ingest: 19 k instructions less per call (db/README.md,
-- "cost of a statement"). The rules are unchanged; the constraints keep their names.
-- Locks: ACCESS EXCLUSIVE on processed_messages while the new constraints are checked
-- against the rows already stored (one scan; docs/OPERATIONS.md, upgrading).
ALTER TABLE wapipe.processed_messages
  ADD CONSTRAINT processed_messages_status_check_new
    CHECK (status = ANY ('{queued,processing,done,dead}'::text[])) NOT VALID,
  ADD CONSTRAINT processed_messages_processed_at_iff_finished_new
    CHECK ((status = ANY ('{done,dead}'::text[])) = (processed_at IS NOT NULL)) NOT VALID;
ALTER TABLE wapipe.processed_messages
  VALIDATE CONSTRAINT processed_messages_status_check_new;
ALTER TABLE wapipe.processed_messages
  VALIDATE CONSTRAINT processed_messages_processed_at_iff_finished_new;
ALTER TABLE wapipe.processed_messages
  DROP CONSTRAINT processed_messages_status_check,
  DROP CONSTRAINT processed_messages_processed_at_iff_finished;
ALTER TABLE wapipe.processed_messages
  RENAME CONSTRAINT processed_messages_status_check_new TO processed_messages_status_check;
ALTER TABLE wapipe.processed_messages
  RENAME CONSTRAINT processed_messages_processed_at_iff_finished_new TO processed_messages_processed_at_iff_finished;
