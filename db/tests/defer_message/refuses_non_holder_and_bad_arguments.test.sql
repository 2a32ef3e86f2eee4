-- Only the claim holder may defer (WA001); an empty service or a non-positive maximum wait is refused (22023).
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
create temp table c on commit drop as select * from wapipe_tests.claim('worker-1') as msg_id;
select throws_ok(format($$ select wapipe.defer_message(%s, 'worker-2', 'waiter') $$, (select msg_id from c)),
  'WA001', format('worker worker-2 does not hold the claim on message %s', (select msg_id from c)),
  'another worker is refused');
select throws_ok($$ select wapipe.defer_message(424242, 'worker-1', 'waiter') $$, 'WA001', NULL,
  'an unknown message is refused');
select throws_ok(format($$ select wapipe.defer_message(%s, 'worker-1', ' ') $$, (select msg_id from c)),
  '22023', 'service must be a non-empty text', 'an empty service is refused');
select throws_ok(format($$ select wapipe.defer_message(%s, 'worker-1', 'waiter', NULL, NULL, 0) $$,
  (select msg_id from c)), '22023', 'max_wait_seconds must be positive, got 0', 'a zero maximum wait is refused');
select * from finish();
rollback;
