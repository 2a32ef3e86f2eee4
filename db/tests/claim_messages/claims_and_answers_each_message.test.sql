-- claim_messages claims like get_next_queue_message and answers each claimed message as
-- message_contexts would for the worker's item: a text matching a rule goes to the rule's
-- agent, other types never do, an active workflow gets its message, the rest the default.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hello', 'wamid.1');
select wapipe_tests.enqueue_text('250700000002', 'my BILL please', 'wamid.2');
select wapipe_tests.enqueue_type('250700000003', 'image');
select wapipe_tests.enqueue_text('250700000004', 'bill', 'wamid.4');
select wapipe.start_workflow('250700000004', 'order', 'choose_item', '{"cart": []}');
select wapipe.breaker_configure('waiter', 'agent');

create temp table r on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter', 'billing'],
  '[{"keywords": ["bill"], "agent": "billing"}]', 30, '1 minute');
select results_eq($$ select from_wa_id, attempt, allowed, agent, memory_id is not null, workflow_type, breaker_state
                     from r order by from_wa_id $$,
  $$ values ('250700000001', 1, true, 'waiter', true, null::text, 'closed'),
            ('250700000002', 1, true, 'billing', true, null, null),
            ('250700000003', 1, true, 'waiter', true, null, 'closed'),
            ('250700000004', 1, true, null, false, 'order', null) $$,
  'default agent, keyword rule, no rule for an image, the active workflow');
select results_eq($$ select msg_id, wamid, conversation_key, locked_until from r order by msg_id $$,
  $$ select q.msg_id, m.wamid, m.conversation_key, c.locked_until
     from wapipe.processed_messages m
     join pgmq.q_wapipe_inbound q on q.msg_id = m.queue_msg_id
     join wapipe.conversations c on c.conversation_key = m.conversation_key
     where m.status = 'processing' and m.claimed_by = 'worker-1' and c.locked_by = 'worker-1'
     order by q.msg_id $$,
  'every returned message is claimed and its conversation leased to the worker');
select results_eq($$ select key, tokens::numeric from wapipe.rate_limit_buckets order by key $$,
  $$ values ('user:250700000001', 29::numeric), ('user:250700000002', 29), ('user:250700000003', 29),
            ('user:250700000004', 29) $$,
  'one token taken per first attempt, from the sender''s bucket');
select results_eq($$ select user_phone, agent_type from wapipe.ai_conversation_memory order by 1, 2 $$,
  $$ values ('250700000001', 'waiter'), ('250700000002', 'billing'), ('250700000003', 'waiter') $$,
  'memory sessions where an agent gets the message, none for the workflow');
select is_empty($$ select * from wapipe.claim_messages('worker-2', 30, 10, 'waiter') $$,
  'nothing left to claim: no rows');
select * from finish();
rollback;
