-- Only the claim holder may schedule a retry (WA001).
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
create temp table c on commit drop as select * from wapipe_tests.claim('worker-1') as msg_id;
select throws_ok(format($$ select wapipe.schedule_message_retry(%s, 'worker-2', 'x') $$, (select msg_id from c)),
  'WA001', format('worker worker-2 does not hold the claim on message %s', (select msg_id from c)),
  'another worker is refused');
select throws_ok($$ select wapipe.schedule_message_retry(424242, 'worker-1', 'x') $$, 'WA001', NULL,
  'an unknown message is refused');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));
select wapipe_tests.claim('worker-2');
select throws_ok(format($$ select wapipe.schedule_message_retry(%s, 'worker-1', 'x') $$, (select msg_id from c)),
  'WA001', NULL, 'a worker whose lease was taken over is refused');
select * from finish();
rollback;
