-- The hot-path functions plan each statement once per session (generic plans) and
-- only as key walks: no sequential scan, no merge or hash join. A generic plan cannot
-- see how small a batch is or how big a table has grown since it was made; without
-- these settings the claim merge-joined every conversation with the messages
-- (O(backlog)) and the ingest seq-scanned processed_messages on a fresh install.
begin;
select plan(7);

select ok(
  (select p.proconfig @> array['plan_cache_mode=force_generic_plan', 'enable_seqscan=off',
                               'enable_hashjoin=off', 'enable_mergejoin=off']
   from pg_proc p where p.oid = f::regprocedure),
  format('%s: generic plans, key walks only', f))
from unnest(array[
  'wapipe.ingest_webhooks(jsonb[], text[])',
  'wapipe.get_next_queue_message(text, integer, integer)',
  'wapipe.complete_message(bigint, text, jsonb, jsonb, jsonb, text)',
  'wapipe.complete_messages(text, jsonb)',
  'wapipe.message_contexts(jsonb, text, text[], integer, interval)',
  'wapipe.claim_messages(text, integer, integer, text, text[], jsonb, integer, interval, jsonb)',
  'wapipe._claim_turns(bigint[], numeric[])']) f;

select * from finish();
rollback;
