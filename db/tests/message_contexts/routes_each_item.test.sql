-- message_contexts routes each item: default agent with a new session, the current
-- session's agent (when known) with its history, a preferred agent, an active workflow
-- (no agent, no session); plus the chosen agent's stored breaker state.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe.update_conversation_memory(
  (wapipe.get_or_create_conversation_memory('250700000002', 'billing')).id, 'user', 'my bill');
select wapipe.update_conversation_memory(
  (wapipe.get_or_create_conversation_memory('250700000005', 'legacy')).id, 'user', 'old');
select wapipe.start_workflow('250700000003', 'order', 'choose_item', '{"cart": []}');
select wapipe.breaker_configure('waiter', 'agent');
select wapipe_tests.open_breaker('billing');
create temp table r on commit drop as
select * from wapipe.message_contexts(
  '[{"user_phone": "250700000001"}, {"user_phone": "250700000002"}, {"user_phone": "250700000003"},
    {"user_phone": "250700000004", "preferred_agent": "sales"}, {"user_phone": "250700000005"}]',
  'waiter', array['waiter', 'billing']);
select results_eq($$ select ord, allowed, retry_after_ms, agent, memory_id is not null, workflow_type, breaker_state
                     from r order by ord $$,
  $$ values (1, true, 0, 'waiter', true, null::text, 'closed'),
            (2, true, 0, 'billing', true, null, 'open'),
            (3, true, 0, null, false, 'order', null),
            (4, true, 0, 'sales', true, null, null),
            (5, true, 0, 'waiter', true, null, 'closed') $$,
  'default, sticky session agent, workflow, preferred agent, unknown session agent -> default');
select is((select memory_messages->0->>'content' from r where ord = 2), 'my bill', 'the session''s history comes along');
select results_eq($$ select workflow_id, current_step, workflow_data, workflow_version, session_id from r where ord = 3 $$,
  $$ select id, current_step, data, version, null::text from wapipe.workflow_states $$,
  'the active workflow, and no memory session for it');
select results_eq($$ select user_phone, agent_type from wapipe.ai_conversation_memory order by user_phone, agent_type $$,
  $$ values ('250700000001', 'waiter'), ('250700000002', 'billing'), ('250700000004', 'sales'),
            ('250700000005', 'legacy'), ('250700000005', 'waiter') $$,
  'new sessions only where an agent got the message');
select is((select memory_id from r where ord = 2),
  (select id from wapipe.ai_conversation_memory where user_phone = '250700000002'), 'the existing session is reused');
select * from finish();
rollback;
