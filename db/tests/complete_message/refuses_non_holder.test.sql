-- Only the worker holding the claim may complete; one whose lease was taken over is refused.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
create temp table c on commit drop as select * from wapipe_tests.claim('worker-1') as msg_id;
select throws_ok(format($$ select * from wapipe.complete_message(%s, 'worker-2', '{"type":"text","text":{"body":"x"}}') $$,
                        (select msg_id from c)),
  'WA001', format('worker worker-2 does not hold the claim on message %s', (select msg_id from c)),
  'another worker is refused');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));
select lives_ok(format($$ select wapipe.acquire_message_lock(%s, 'worker-1') $$, (select msg_id from c)),
  'an expired lease nobody took is still held');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));
select wapipe_tests.claim('worker-2');
select throws_ok(format($$ select * from wapipe.complete_message(%s, 'worker-1', '{"type":"text","text":{"body":"x"}}') $$,
                        (select msg_id from c)),
  'WA001', NULL, 'the first worker is refused once its lease was taken over');
select is_empty($$ select * from wapipe.outbox $$, 'no reply was queued');
select lives_ok(format($$ select * from wapipe.complete_message(%s, 'worker-2', '{"type":"text","text":{"body":"x"}}') $$,
                       (select msg_id from c)), 'the new holder completes');
select * from finish();
rollback;
