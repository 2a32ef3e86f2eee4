-- An operator's message is queued once per dedup key, to the user's stable key, and kept in memory as a staff turn.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
select wapipe.get_or_create_conversation_memory('250700000001', 'waiter');
select results_eq($$ select queued, status from wapipe.queue_operator_message(wapipe_tests.conv('250700000001'),
                        '{"type": "text", "text": {"body": "Eric here"}}', 'k1', 'operator:eric') $$,
  $$ values (true, 'pending'::text) $$, 'queued');
select results_eq($$ select queued from wapipe.queue_operator_message(wapipe_tests.conv('250700000001'),
                        '{"type": "text", "text": {"body": "Eric here"}}', 'k1', 'operator:eric') $$,
  $$ values (false) $$, 'the same key again queues nothing');
select results_eq($$ select source_key, phone_number_id, to_wa_id from wapipe.outbox $$,
  $$ values ('operator:k1'::text, '300100200300400'::text, '250700000001'::text) $$, 'one row, to the user''s key');
select is((select message_count from wapipe.ai_conversation_memory where user_phone = '250700000001'), 1,
  'remembered once');
select throws_ok($$ select * from wapipe.queue_operator_message(wapipe_tests.conv('250700000001'), '"hi"', 'k2') $$,
  '22023', null, 'a body that is no message object is refused');
select * from finish();
rollback;
