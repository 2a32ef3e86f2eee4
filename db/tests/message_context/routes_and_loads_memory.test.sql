-- message_context: default agent with fresh memory, a sticky session agent, a preferred agent,
-- unknown session agents ignored.
begin;
select plan(6);
select wapipe_tests.reset();

select results_eq(
  $$ select allowed, workflow_id is null, agent, memory_id is not null, memory_messages
     from wapipe.message_context('250700000001', 'waiter', array['waiter', 'billing']) $$,
  $$ values (true, true, 'waiter', true, '[]'::jsonb) $$,
  'no workflow, no session: the default agent with a new memory session');

select wapipe.update_conversation_memory(
  (wapipe.get_or_create_conversation_memory('250700000002', 'billing')).id, 'user', 'my bill');
select results_eq(
  $$ select agent, memory_messages->0->>'content'
     from wapipe.message_context('250700000002', 'waiter', array['waiter', 'billing']) $$,
  $$ values ('billing', 'my bill') $$,
  'the agent of the current session sticks, with its history');
select is((select agent from wapipe.message_context('250700000002', 'waiter', array['waiter'])),
  'waiter', 'a session agent the worker does not know falls back to the default');
select is((select agent from wapipe.message_context('250700000002', 'waiter', array['waiter', 'billing'], 'sales')),
  'sales', 'a preferred agent (keyword rule) wins');

update wapipe.ai_conversation_memory set last_activity_at = now() - interval '31 minutes'
 where user_phone = '250700000002';
select is((select agent from wapipe.message_context('250700000002', 'waiter', array['waiter', 'billing'])),
  'waiter', 'after 30 idle minutes the session no longer sticks');
select throws_ok($$ select * from wapipe.message_context('', 'waiter') $$, '22023',
  'message_context needs a user_phone and a default_agent', 'a user is required');

select * from finish();
rollback;
