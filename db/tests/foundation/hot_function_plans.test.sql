-- The hot-path functions plan each statement once per session (generic plans) and
-- only as key walks: no sequential scan, no merge or hash join. A generic plan cannot
-- see how small a batch is or how big a table has grown since it was made; without
-- these settings the claim merge-joined every conversation with the messages
-- (O(backlog)) and the ingest seq-scanned processed_messages on a fresh install.
begin;
select plan(8);

select ok(
  (select p.proconfig @> array['plan_cache_mode=force_generic_plan', 'enable_seqscan=off',
                               'enable_hashjoin=off', 'enable_mergejoin=off']
   from pg_proc p where p.oid = f::regprocedure),
  format('%s: generic plans, key walks only', f))
from unnest(array[
  'wapipe.ingest_webhooks(jsonb[], text[])',
  'wapipe.get_next_queue_message(text, integer, integer)',
  'wapipe.complete_messages(text, jsonb)',
  'wapipe.message_contexts(jsonb, text, text[], integer, interval)',
  'wapipe.claim_messages(text, integer, integer, text, text[], jsonb, integer, interval, jsonb)',
  'wapipe.message_context(text, text, text[], text, text, integer, interval, text)']) f;

-- The private rules those functions call carry no planner settings of their own (each SET
-- clause costs a GUC save and restore per call): a callee plans under the settings in force,
-- its caller's. So every function that calls one sets them, or is such a helper itself (its
-- own callers then do). A helper whose plans were made once without them would keep them
-- for the session.
create temp table inheriting on commit drop as
select p.oid, p.proname from pg_proc p
where p.oid = any (array[
  'wapipe._message_contexts(text[], text[], text[], text[], boolean[], text, text[], integer, interval)',
  'wapipe._context_items(bigint[], text[], text[], text[], integer[], jsonb, boolean, boolean)',
  'wapipe._take_rate_tokens(text[], integer, interval, integer)',
  'wapipe._active_workflows(text[])', 'wapipe._recent_agents(text[])',
  'wapipe._memory_sessions(text[], text[])', 'wapipe._append_memory(bigint[], jsonb[], jsonb[])',
  'wapipe._windows_close_at(text[])', 'wapipe._claim_turns(bigint[], numeric[])']::regprocedure[]);
select is((select count(*)::int from inheriting i join pg_proc p on p.oid = i.oid
           where p.proconfig = array['search_path=""']), 9,
  'the helpers that plan under their callers'' settings have none of their own (but search_path)');
select is_empty($$
  select f.oid::regprocedure::text || ' calls ' || i.proname
  from inheriting i
  join pg_proc f on f.pronamespace = 'wapipe'::regnamespace
                and f.prosrc ~ ('wapipe\.' || i.proname || '\s*\(')
  where f.oid not in (select oid from inheriting)
    and not coalesce(f.proconfig @> array['plan_cache_mode=force_generic_plan', 'enable_seqscan=off',
                                          'enable_hashjoin=off', 'enable_mergejoin=off', 'jit=off'], false) $$,
  'every function calling such a helper sets generic plans and key walks for it');

select * from finish();
rollback;
