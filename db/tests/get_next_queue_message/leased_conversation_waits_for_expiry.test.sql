-- A conversation leased by a worker is never claimed by another until the lease expires.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.a');
select wapipe_tests.claim('worker-1');
-- Test
select is_empty($$ select * from wapipe.get_next_queue_message('worker-2', 30, 10) $$,
  'a held conversation is skipped');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));
select results_eq(
  $$ select q.wamid, q.attempt from wapipe.get_next_queue_message('worker-2', 30, 10) q $$,
  $$ values ('wamid.a', 2) $$,
  'after expiry another worker takes it, as a new attempt');
select is((select locked_by from wapipe.conversations), 'worker-2', 'the lease is worker-2''s');
select is((select claimed_by from wapipe.processed_messages), 'worker-2', 'the claim is worker-2''s');
select is_empty($$ select * from wapipe.get_next_queue_message('worker-1', 30, 10) $$,
  'worker-1 cannot claim it back while worker-2 holds it');
select * from finish();
rollback;
