-- acquire_message_lock takes a free head, or one whose lease expired, as a new attempt.
begin;
select plan(5);
select wapipe_tests.reset();
create temp table m on commit drop as select wapipe_tests.enqueue_text('250700000001', 'hi') as id;
select ok(wapipe.acquire_message_lock(wapipe_tests.msg_id_of((select id from m)), 'worker-1', 30),
  'a free head is taken');
select row_eq($$ select status, attempts, claimed_by from wapipe.processed_messages $$,
  row('processing'::text, 1, 'worker-1'::text), 'processing, attempt 1, claimed by worker-1');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));
select ok(wapipe.acquire_message_lock(wapipe_tests.msg_id_of((select id from m)), 'worker-2', 30),
  'an expired lease is taken over');
select row_eq($$ select status, attempts, claimed_by from wapipe.processed_messages $$,
  row('processing'::text, 2, 'worker-2'::text), 'a take-over is a new attempt');
select is((select locked_by from wapipe.conversations), 'worker-2', 'the lease moved to worker-2');
select * from finish();
rollback;
