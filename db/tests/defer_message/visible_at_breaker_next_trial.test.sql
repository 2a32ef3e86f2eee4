-- Without an explicit time a deferred message comes back at the breaker's next trial, not on the backoff schedule.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe.breaker_configure('waiter', 'agent', open_seconds => 120);
select wapipe_tests.open_breaker('waiter', 30);  -- opened 30 s ago: next trial in 90 s
select wapipe_tests.enqueue_text('250700000001', 'hi');
-- Test
select is(wapipe_tests.claim_and_defer('waiter') - now(), interval '90 seconds',
  'deferred until opened_at + open_seconds');
select row_eq($$ select c.available_at, c.deferred_until, m.next_attempt_at, q.vt
                 from wapipe.conversations c join wapipe.processed_messages m on m.id = c.head_message_id
                 join pgmq.q_wapipe_inbound q on q.msg_id = m.queue_msg_id $$,
  row(now() + interval '90 seconds', now() + interval '90 seconds', now() + interval '90 seconds',
      now() + interval '90 seconds'),
  'conversation gate, deferral, next_attempt_at and pgmq vt agree');
select is_empty($$ select * from wapipe.get_next_queue_message('worker-2', 30, 10) $$,
  'not claimable before the trial');
-- move time to the trial
update wapipe.conversations set deferred_until = now() - interval '1 second',
                                available_at = now() - interval '1 second';
select is((select attempt from wapipe.get_next_queue_message('worker-2', 30, 10)), 1,
  'claimable at the trial, still attempt 1');
select is((select deferred_until from wapipe.conversations), NULL, 'back in the claim index');
select * from finish();
rollback;
