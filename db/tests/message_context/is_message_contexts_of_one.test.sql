-- message_context is message_contexts of one item: the same answer (without ord and
-- breaker_state) and the same refusals.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.update_conversation_memory(
  (wapipe.get_or_create_conversation_memory('250700000002', 'billing')).id, 'user', 'my bill');
select wapipe.start_workflow('250700000003', 'order', 'choose_item', '{"cart": []}');

-- Each user asked twice, first through the batch, then through the single: the second
-- call finds what the first left (the session it created, the bucket it filled).
create temp table users on commit drop as
select * from (values ('250700000001', null, null), ('250700000002', null, 'user:2'),
                      ('250700000003', null, null), ('250700000004', 'sales', null)) v(u, preferred, rate_key);
create temp table batch on commit drop as
select v.u, c.allowed, c.retry_after_ms, c.workflow_id, c.agent, c.memory_id, c.session_id, c.memory_messages,
       c.handed_off, c.window_closes_at
from users v cross join lateral wapipe.message_contexts(
  jsonb_build_array(jsonb_build_object('user_phone', v.u, 'preferred_agent', v.preferred, 'rate_key', v.rate_key)),
  'waiter', array['waiter', 'billing'], 1, '1 hour') c;
create temp table single on commit drop as
select v.u, c.allowed, c.retry_after_ms, c.workflow_id, c.agent, c.memory_id, c.session_id, c.memory_messages,
       c.handed_off, c.window_closes_at
from users v cross join lateral wapipe.message_context(v.u, 'waiter', array['waiter', 'billing'], v.preferred,
                                                       v.rate_key, 1, '1 hour') c;
select results_eq($$ select u, allowed, workflow_id, agent, memory_id, session_id, memory_messages
                     from single where u <> '250700000002' order by u $$,
                  $$ select u, allowed, workflow_id, agent, memory_id, session_id, memory_messages
                     from batch where u <> '250700000002' order by u $$,
  'the same workflow, agent and session as the batch answered');
select results_eq($$ select allowed, retry_after_ms > 0 from single where u = '250700000002' $$,
                  $$ values (false, true) $$,
  'the batch took the one token: the single is refused, as a second batch would be');

select throws_ok($$ select * from wapipe.message_context('', 'waiter') $$, '22023',
  'message_context needs a user_phone and a default_agent', 'an empty user_phone: the batch''s refusal');
select throws_ok($$ select * from wapipe.message_context('250700000009', 'waiter', '{}', null, 'k', 0, '1 minute') $$,
  '22023', 'check_rate_limit: max_per_window must be at least 1, got 0', 'bad rate settings: the batch''s refusal');
select * from finish();
rollback;
