-- The holder's acquire_message_lock extends its lease (heartbeat) without a new attempt.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
create temp table c on commit drop as select * from wapipe_tests.claim('worker-1') as msg_id;
select ok(wapipe.acquire_message_lock((select msg_id from c), 'worker-1', 120), 'the holder may extend');
select is((select locked_until from wapipe.conversations), now() + interval '120 seconds', 'lease extended');
select is((select attempts from wapipe.processed_messages), 1, 'a heartbeat is not a new attempt');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));
select ok(wapipe.acquire_message_lock((select msg_id from c), 'worker-1', 30),
  'an expired lease nobody took is still the holder''s to extend');
select is((select vt from pgmq.q_wapipe_inbound), now() + interval '30 seconds', 'pgmq vt follows');
select * from finish();
rollback;
