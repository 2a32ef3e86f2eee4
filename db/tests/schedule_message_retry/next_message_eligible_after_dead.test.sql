-- Once the head is dead-lettered the conversation's next message is claimable at once.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'one', 'wamid.1', wa_timestamp => 1764000001);
select wapipe_tests.enqueue_text('250700000001', 'two', 'wamid.2', wa_timestamp => 1764000002);
select wapipe_tests.fail_n_times(1, retryable => false);
select is((select m.wamid from wapipe.conversations c join wapipe.processed_messages m on m.id = c.head_message_id),
  'wamid.2', 'the head moved to the next message');
select is((select locked_by from wapipe.conversations), null, 'the lease is cleared');
select results_eq($$ select q.wamid from wapipe.get_next_queue_message('worker-2', 30, 10) q $$,
  $$ values ('wamid.2') $$, 'the next message is claimed without waiting');
select * from finish();
rollback;
