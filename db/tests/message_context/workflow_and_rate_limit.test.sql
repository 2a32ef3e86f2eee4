-- message_context: an active workflow comes back without opening a memory session;
-- a refused rate limit stops before anything else is read or created.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe.start_workflow('250700000003', 'order', 'choose_item', '{"cart": []}');
select results_eq(
  $$ select workflow_type, current_step, workflow_data, agent is null, memory_id is null
     from wapipe.message_context('250700000003', 'waiter', array['waiter']) $$,
  $$ values ('order', 'choose_item', '{"cart": []}'::jsonb, true, true) $$,
  'the active workflow is returned and no agent is chosen');
select is((select count(*)::int from wapipe.ai_conversation_memory), 0, 'no memory session was opened');

select is((select allowed from wapipe.message_context('250700000004', 'waiter', '{}', null,
                                                       'user:250700000004', 1, '1 minute')),
  true, 'the first message is admitted');
select results_eq(
  $$ select allowed, retry_after_ms > 0, agent is null
     from wapipe.message_context('250700000004', 'waiter', '{}', null, 'user:250700000004', 1, '1 minute') $$,
  $$ values (false, true, true) $$,
  'over the limit: refused with a retry-after, nothing else');
select function_privs_are('wapipe', 'message_context',
  array['text', 'text', 'text[]', 'text', 'text', 'integer', 'interval', 'text'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute message_context');

select * from finish();
rollback;
