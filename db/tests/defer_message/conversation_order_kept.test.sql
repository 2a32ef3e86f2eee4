-- A deferred head blocks its conversation: later messages wait behind it and come after it, in order.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'one', 'wamid.one');
select wapipe_tests.enqueue_text('250700000001', 'two', 'wamid.two');
select wapipe_tests.enqueue_text('250700000002', 'other', 'wamid.other');
select wapipe_tests.age_message((select id from wapipe.processed_messages where wamid = 'wamid.one'), '1 minute');
select wapipe_tests.age_message((select id from wapipe.processed_messages where wamid = 'wamid.two'), '1 minute');
select wapipe_tests.claim_and_defer('waiter', now() + interval '10 minutes');
-- Test
select is((select array_agg(wamid) from wapipe.get_next_queue_message('worker-2', 30, 10)),
  array['wamid.other'], 'only the other user''s message is claimable');
select is((select head_message_id from wapipe.conversations where conversation_key = wapipe_tests.conv('250700000001')),
  (select id from wapipe.processed_messages where wamid = 'wamid.one'), 'the deferred message stays the head');
select wapipe_tests.pass_deferrals();
select is((select array_agg(wamid) from wapipe.get_next_queue_message('worker-3', 30, 10)),
  array['wamid.one'], 'when the wait ends the deferred head comes first, alone');
select count(*) from wapipe.complete_message(
  (select queue_msg_id from wapipe.processed_messages where wamid = 'wamid.one'), 'worker-3');
select is((select array_agg(wamid) from wapipe.get_next_queue_message('worker-3', 30, 10)),
  array['wamid.two'], 'then the message behind it');
select * from finish();
rollback;
