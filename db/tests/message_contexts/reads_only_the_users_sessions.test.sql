-- Finding a user's current agent and session reads that user's sessions only, never every
-- session active in the last 30 minutes (a plan could walk all of them by activity time:
-- 38 ms per call at 20,000 active users), even when the statistics say nobody is active.
begin;
select plan(3);
select wapipe_tests.reset();
insert into wapipe.ai_conversation_memory (user_phone, agent_type, session_id, last_activity_at)
select '2507' || lpad(i::text, 8, '0'), 'waiter', 's' || i, now() - interval '2 hours' - i * interval '1 second'
from generate_series(1, 3000) i;
analyze wapipe.ai_conversation_memory;  -- statistics: nobody active lately
insert into wapipe.ai_conversation_memory (user_phone, agent_type, session_id, last_activity_at)
select '2508' || lpad(i::text, 8, '0'), 'waiter', 't' || i, now() - interval '1 second'
from generate_series(1, 3000) i;
select wapipe.update_conversation_memory(
  (wapipe.get_or_create_conversation_memory('250799999999', 'billing')).id, 'user', 'my bill');

create temp table before on commit drop as
select pg_stat_get_xact_tuples_fetched('wapipe.ai_conversation_memory'::regclass)
       + pg_stat_get_xact_tuples_returned('wapipe.ai_conversation_memory'::regclass) AS n;
create temp table r on commit drop as
select * from wapipe.message_contexts(
  '[{"user_phone": "250799999999"}, {"user_phone": "250799999998"}]', 'waiter', array['waiter', 'billing']);
select results_eq($$ select ord, agent, memory_messages->0->>'content' from r order by ord $$,
  $$ values (1, 'billing', 'my bill'), (2, 'waiter', null) $$,
  'the sticky agent with its history; the default agent for a new user');
select cmp_ok(pg_stat_get_xact_tuples_fetched('wapipe.ai_conversation_memory'::regclass)
              + pg_stat_get_xact_tuples_returned('wapipe.ai_conversation_memory'::regclass)
              - (select n from before),
              '<', 50::bigint, 'a few sessions read, not the 3000 active ones');
select is(wapipe.get_recent_agent('250799999999'), 'billing', 'get_recent_agent: the same answer');
select * from finish();
rollback;
