-- A worker whose lease was taken over gets claim_lost for that message and completes the others;
-- the new holder completes it; one reply in total.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1');
select wapipe_tests.enqueue_text('250700000002', 'hi', 'wamid.2');
create temp table c on commit drop as
select m.wamid, q as msg_id from wapipe_tests.claim('worker-1') q join wapipe.processed_messages m on m.queue_msg_id = q;
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));
select is((select count(*) from wapipe_tests.claim('worker-2')), 1::bigint, 'worker-2 takes the expired lease');
create temp table r on commit drop as
select * from wapipe.complete_messages('worker-1', (
  select jsonb_agg(jsonb_build_object('msg_id', msg_id, 'reply', '{"type":"text","text":{"body":"w1"}}'::jsonb)
                   order by wamid) from c));
select results_eq($$ select ord, outcome, error_code from r order by ord $$,
  $$ values (1, 'claim_lost', 'WA001'), (2, 'done', null) $$,
  'worker-1: claim lost for the taken-over message, done for the other');
select is((select count(*) from wapipe.outbox where source_key = 'wamid.1'), 0::bigint,
  'worker-1 queued no reply for the taken-over message');
select is((select outcome from wapipe.complete_messages('worker-2', jsonb_build_array(jsonb_build_object(
            'msg_id', (select msg_id from c where wamid = 'wamid.1'),
            'reply', '{"type":"text","text":{"body":"w2"}}'::jsonb)))), 'done', 'worker-2 completes it');
select results_eq($$ select source_key, body->'text'->>'body' from wapipe.outbox order by source_key $$,
  $$ values ('wamid.1', 'w2'), ('wamid.2', 'w1') $$, 'one reply per message');
select * from finish();
rollback;
