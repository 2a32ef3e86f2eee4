-- coalesce_seconds must be {"agent": seconds >= 0}: anything else is refused (22023) and claims nothing.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1');
select throws_ok($$ select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null, '[10]') $$,
  '22023', null, 'not an object');
select throws_ok($$ select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": -1}') $$,
  '22023', null, 'a negative gap');
select is((select status from wapipe.processed_messages where wamid = 'wamid.1'), 'queued', 'nothing claimed');
select * from finish();
rollback;
