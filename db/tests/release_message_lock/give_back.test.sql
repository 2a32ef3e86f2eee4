-- release_message_lock gives a claim back: queued, attempt not counted, available now.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
create temp table c on commit drop as select * from wapipe_tests.claim('worker-1') as msg_id;
select ok(not wapipe.release_message_lock((select msg_id from c), 'worker-2'), 'false for a non-holder');
select ok(wapipe.release_message_lock((select msg_id from c), 'worker-1'), 'the holder gives it back');
select row_eq($$ select status, attempts from wapipe.processed_messages $$, row('queued'::text, 0),
  'queued again, the attempt not counted');
select row_eq($$ select locked_by, available_at <= now() from wapipe.conversations $$, row(null::text, true),
  'the conversation is free and available');
select ok((select vt <= now() from pgmq.q_wapipe_inbound), 'visible in pgmq again');
select results_eq($$ select q.attempt from wapipe.get_next_queue_message('worker-2', 30, 10) q $$,
  $$ values (1) $$, 'another worker claims it at once, as attempt 1');
select * from finish();
rollback;
