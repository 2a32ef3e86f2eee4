-- A health check that finds an endpoint healthy again makes the messages deferred for its service claimable at once.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe.record_endpoint_health('waiter', 'http://a.test', false, 'HTTP 503', 'worker-1');
select wapipe_tests.enqueue_text('250700000001', 'hi');
select wapipe_tests.enqueue_text('250700000002', 'hi');
select wapipe_tests.claim_and_defer('waiter', now() + interval '30 seconds');
select wapipe_tests.claim_and_defer('other-service', now() + interval '30 seconds');
select wapipe.record_endpoint_health('waiter', 'http://a.test', false, 'HTTP 503', 'worker-1');
select is_empty($$ select * from wapipe.get_next_queue_message('worker-2', 30, 10) $$,
  'still down: both wait');
-- Test
select wapipe.record_endpoint_health('waiter', 'http://a.test', true, NULL, 'worker-2');
select is((select array_agg(from_wa_id) from wapipe.get_next_queue_message('worker-2', 30, 10)),
  array['250700000001'], 'the message waiting for waiter is claimable now');
select isnt((select deferred_until from wapipe.conversations where wa_id = '250700000002'), NULL,
  'the one waiting for another service keeps waiting');
select * from finish();
rollback;
