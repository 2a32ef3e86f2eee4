-- complete_message appends conversation memory and applies workflow actions in the same transaction.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1', wa_timestamp => 1764000001);
select wapipe_tests.enqueue_text('250700000001', 'next', 'wamid.2', wa_timestamp => 1764000002);
create temp table mem on commit drop as
select (wapipe.get_or_create_conversation_memory('250700000001', 'demo', 's1')).id;
create temp table c on commit drop as select * from wapipe_tests.claim('worker-1') as msg_id;
select wapipe.complete_message((select msg_id from c), 'worker-1',
  reply => '{"type":"text","text":{"body":"hello"}}',
  memory => jsonb_build_object('memory_id', (select id from mem),
              'append', '[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]'::jsonb,
              'context', '{"lang":"en"}'::jsonb),
  workflow => '{"action":"start","workflow_type":"booking","first_step":"ask_date","data":{"a":1}}');
select is((select jsonb_path_query_array(messages, '$[*].content') from wapipe.ai_conversation_memory),
  '["hi", "hello"]'::jsonb, 'memory appended in order');
select is((select context->>'lang' from wapipe.ai_conversation_memory), 'en', 'context merged');
select row_eq($$ select user_phone, phone_number_id, workflow_type, current_step, status from wapipe.workflow_states $$,
  row('250700000001'::text, '300100200300400'::text, 'booking'::text, 'ask_date'::text, 'active'::text),
  'workflow started for the sender on the receiving number');
-- a failing workflow call rolls the whole completion back
create temp table c2 on commit drop as select * from wapipe_tests.claim('worker-1') as msg_id;
select throws_ok(format($$ select * from wapipe.complete_message(%s, 'worker-1', '{"type":"text","text":{"body":"x"}}',
                          workflow => '{"action":"advance","id":-1,"expected_step":"a","next_step":"b"}') $$,
                        (select msg_id from c2)),
  '22023', NULL, 'the workflow error (unknown id) aborts the completion');
select row_eq($$ select m.status, (select count(*) from wapipe.outbox o where o.source_key = 'wamid.2')
                 from wapipe.processed_messages m where m.wamid = 'wamid.2' $$,
  row('processing'::text, 0::bigint), 'nothing of it was kept');
select * from finish();
rollback;
