-- Workflow actions in a batch run like complete_message's; one that fails rolls the whole call
-- back (the worker then completes the items one by one).
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1');
select wapipe_tests.enqueue_text('250700000002', 'hi', 'wamid.2');
select wapipe_tests.enqueue_text('250700000003', 'hi', 'wamid.3');
create temp table c on commit drop as
select m.wamid, q as msg_id from wapipe_tests.claim('worker-1') q join wapipe.processed_messages m on m.queue_msg_id = q;
select throws_ok(format($$ select * from wapipe.complete_messages('worker-1', %L) $$, jsonb_build_array(
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.1'),
                     'reply', '{"type":"text","text":{"body":"x"}}'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.2'),
                     'workflow', '{"action":"advance","id":-1,"expected_step":"a","next_step":"b"}'::jsonb))),
  '22023', NULL, 'a failing workflow action fails the call');
select results_eq($$ select count(*) filter (where status = 'done'), (select count(*) from wapipe.outbox)
                     from wapipe.processed_messages $$,
  $$ values (0::bigint, 0::bigint) $$, 'and nothing of the batch was kept');
create temp table r on commit drop as
select * from wapipe.complete_messages('worker-1', jsonb_build_array(
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.1'),
                     'workflow', '{"action":"start","workflow_type":"order","first_step":"choose","data":{"n":1}}'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.2'),
                     'workflow', '{"action":"start","workflow_type":"order","first_step":"choose"}'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.3'))));
select is((select array_agg(outcome order by ord) from r), array['done', 'done', 'done'], 'all done');
select results_eq($$ select user_phone, phone_number_id, workflow_type, current_step, data, status
                     from wapipe.workflow_states order by user_phone $$,
  $$ values ('250700000001', '300100200300400', 'order', 'choose', '{"n": 1}'::jsonb, 'active'),
            ('250700000002', '300100200300400', 'order', 'choose', '{}'::jsonb, 'active') $$,
  'each workflow started for its sender on the receiving number');
select is((select outcome from wapipe.complete_messages('worker-1', jsonb_build_array(
            jsonb_build_object('msg_id', 987654321, 'workflow', '{"action":"start"}'::jsonb)))),
  'claim_lost', 'a refused item runs no workflow action (start_workflow would raise)');
select * from finish();
rollback;
