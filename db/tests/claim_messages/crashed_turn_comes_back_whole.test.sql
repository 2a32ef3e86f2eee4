-- A worker that dies mid-turn: when its lease expires the next claim takes the head and
-- its whole burst again (with a text that arrived meanwhile), the dead worker can no longer
-- complete it, and the new holder completes every message once.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1', '300100200300400', extract(epoch from now())::bigint - 60);
select wapipe_tests.enqueue_text('250700000001', 'I want to book', 'wamid.2', '300100200300400', extract(epoch from now())::bigint - 58);
create temp table r1 on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}');
select wapipe_tests.enqueue_text('250700000001', 'for 2 people', 'wamid.3', '300100200300400', extract(epoch from now())::bigint - 56);
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));

create temp table r2 on commit drop as
select * from wapipe.claim_messages('worker-2', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}');
select results_eq($$ select wamid, (select array_agg(b->>'wamid') from jsonb_array_elements(burst) b) from r2 $$,
  $$ values ('wamid.1', array['wamid.2', 'wamid.3']) $$, 'the new claim takes the whole burst');
select results_eq($$ select outcome from wapipe.complete_messages('worker-1', jsonb_build_array(jsonb_build_object(
                       'msg_id', (select msg_id from r1), 'reply', '{"type": "text", "text": {"body": "late"}}'::jsonb))) $$,
  $$ values ('claim_lost') $$, 'the dead worker cannot answer it');
select results_eq($$ select outcome from wapipe.complete_messages('worker-2', jsonb_build_array(jsonb_build_object(
                       'msg_id', (select msg_id from r2), 'reply', '{"type": "text", "text": {"body": "ok"}}'::jsonb))) $$,
  $$ values ('done') $$, 'the new holder completes it');
select results_eq($$ select (select count(*) from wapipe.processed_messages where status = 'done'),
                            (select count(*) from wapipe.outbox), (select min(body->'text'->>'body') from wapipe.outbox) $$,
  $$ values (3::bigint, 1::bigint, 'ok') $$, 'three messages done, answered once');
select * from finish();
rollback;
