-- _inbound_send: entries go on the inbound queue under the ids the caller drew, each with its
-- message and headers, visible at vt, in one statement; arrays of different lengths are refused.
begin;
select plan(4);
select wapipe_tests.reset();
create temp table drawn on commit drop as
  select array[nextval('pgmq.q_wapipe_inbound_msg_id_seq'), nextval('pgmq.q_wapipe_inbound_msg_id_seq')] as ids;

select is(wapipe._inbound_send((select ids from drawn),
            array['{"wamid": "wamid.s.1"}', '{"wamid": "wamid.s.2"}']::jsonb[],
            array['{"x-pgmq-group": "a"}', '{"x-pgmq-group": "b"}']::jsonb[],
            '2030-01-01 00:00:00+00'),
          2, 'two entries queued');
select results_eq(
  $$ select msg_id, message->>'wamid', headers->>'x-pgmq-group', vt, read_ct from pgmq.q_wapipe_inbound order by msg_id $$,
  $$ values ((select ids[1] from drawn), 'wamid.s.1', 'a', '2030-01-01 00:00:00+00'::timestamptz, 0),
            ((select ids[2] from drawn), 'wamid.s.2', 'b', '2030-01-01 00:00:00+00'::timestamptz, 0) $$,
  'each under its id, with its message and headers, visible at vt');
select is(wapipe._inbound_send('{}', '{}', '{}', now()), 0, 'nothing to send: nothing queued');
select throws_ok($$ select wapipe._inbound_send(array[1::bigint], '{}', '{}', now()) $$, '22023', null,
  'arrays of different lengths are refused');
select * from finish();
rollback;
