-- A claim takes only the oldest unfinished message of a conversation, one per conversation.
begin;
select plan(4);
select wapipe_tests.reset();
-- Setup: user 1 sends three messages (WhatsApp time order differs from arrival), user 2 one
select wapipe_tests.enqueue_text('250700000001', 'second', 'wamid.u1.2', wa_timestamp => 1764000002);
select wapipe_tests.enqueue_text('250700000001', 'third', 'wamid.u1.3', wa_timestamp => 1764000003);
select wapipe_tests.enqueue_text('250700000001', 'first', 'wamid.u1.1', wa_timestamp => 1764000001);
select wapipe_tests.enqueue_text('250700000002', 'only', 'wamid.u2.1', wa_timestamp => 1764000001);
-- Test
select bag_eq(
  $$ select q.wamid from wapipe.get_next_queue_message('worker-1', 30, 10) q $$,
  $$ values ('wamid.u1.1'), ('wamid.u2.1') $$,
  'one message per conversation: the earliest by WhatsApp time');
select is((select count(*) from wapipe.processed_messages where status = 'queued'), 2::bigint,
  'the later messages of user 1 stay queued');
select is_empty($$ select * from wapipe.get_next_queue_message('worker-2', 30, 10) $$,
  'no other worker gets the later messages while the conversation is held');
select is(
  (select array_agg(m.wamid order by m.wa_timestamp) from wapipe.processed_messages m
    join pgmq.q_wapipe_inbound q on q.msg_id = m.queue_msg_id where q.vt > now() + interval '10 seconds'),
  array['wamid.u1.1', 'wamid.u2.1'],
  'pgmq hides exactly the claimed messages (vt follows the lease)');
select * from finish();
rollback;
