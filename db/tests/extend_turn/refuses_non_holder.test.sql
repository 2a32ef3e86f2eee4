-- extend_turn only for the worker holding the head's claim (WA001), and a negative gap is refused (22023).
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1');
create temp table r on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}');
select throws_ok(format('select * from wapipe.extend_turn(%s, %L, 10)', (select msg_id from r), 'worker-2'),
  'WA001', null, 'another worker is refused');
select throws_ok('select * from wapipe.extend_turn(999999, ''worker-1'', 10)', 'WA001', null, 'an unknown message is refused');
select throws_ok(format('select * from wapipe.extend_turn(%s, %L, -1)', (select msg_id from r), 'worker-1'),
  '22023', null, 'a negative gap is refused');
select * from finish();
rollback;
