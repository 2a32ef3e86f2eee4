-- A reply is queued once, even if complete_message is retried; arrays become seq 0, 1, ...
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.q', phone_number_id => '300100200300400');
create temp table c on commit drop as select * from wapipe_tests.claim('worker-1') as msg_id;
create temp table r1 on commit drop as
select * from wapipe.complete_message((select msg_id from c), 'worker-1',
  '[{"type":"text","text":{"body":"one"}},{"type":"text","text":{"body":"two"}}]');
create temp table r2 on commit drop as
select * from wapipe.complete_message((select msg_id from c), 'worker-1',
  '[{"type":"text","text":{"body":"one"}},{"type":"text","text":{"body":"two"}}]');
select results_eq($$ select source_key, seq, to_wa_id, phone_number_id, body->'text'->>'body', correlation_id, status
                     from wapipe.outbox order by seq $$,
  $$ values ('wamid.q', 0::smallint, '250700000001', '300100200300400', 'one', 'test', 'pending'),
            ('wamid.q', 1::smallint, '250700000001', '300100200300400', 'two', 'test', 'pending') $$,
  'two replies, seq 0 and 1, addressed to the sender from the receiving number');
select is((select outbox_ids from r1), (select array_agg(id order by seq) from wapipe.outbox), 'outbox ids returned');
select is((select row(r2.*)::text from r2), (select row(r1.*)::text from r1),
  'a repeated complete by the same worker returns the first result');
select is((select count(*) from wapipe.outbox), 2::bigint, 'nothing queued twice');
select throws_ok(format($$ select * from wapipe.complete_message(%s, 'worker-2') $$, (select msg_id from c)),
  'WA001', NULL, 'another worker cannot complete it again');
select throws_ok($$ select * from wapipe.complete_message(1, 'w', '"hello"') $$, 'WA001', NULL,
  'checks the claim before anything else');
select * from finish();
rollback;
