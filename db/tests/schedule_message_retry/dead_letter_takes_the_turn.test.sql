-- A coalesced turn that fails for good goes to the dead letters as a whole: the head and
-- every text its turn answered, each with the error, out of the queue; nothing of it is
-- answered later in pieces.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1', '300100200300400', extract(epoch from now())::bigint - 60);
select wapipe_tests.enqueue_text('250700000001', 'I want to book', 'wamid.2', '300100200300400', extract(epoch from now())::bigint - 58);
select wapipe_tests.enqueue_text('250700000001', 'for 2 people', 'wamid.3', '300100200300400', extract(epoch from now())::bigint - 56);
create temp table r on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}');

select is(wapipe.schedule_message_retry((select msg_id from r), 'worker-1', 'agent_http_400: bad request', false),
          null, 'dead-lettered');
select results_eq($$ select wamid, error_code from wapipe.dead_letters order by wamid $$,
  $$ values ('wamid.1', 'agent_http_400'), ('wamid.2', 'agent_http_400'), ('wamid.3', 'agent_http_400') $$,
  'one dead letter per message of the turn, with the error');
select results_eq($$ select status, count(*) from wapipe.processed_messages group by status $$,
  $$ values ('dead', 3::bigint) $$, 'all three dead');
select is_empty($$ select * from pgmq.q_wapipe_inbound $$, 'nothing of the turn left to claim');
select * from finish();
rollback;
