-- A retry of a coalesced turn backs off the whole conversation: the texts of the turn stay
-- queued behind the head, and the next claim takes them into its turn again.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1', '300100200300400', extract(epoch from now())::bigint - 60);
select wapipe_tests.enqueue_text('250700000001', 'I want to book', 'wamid.2', '300100200300400', extract(epoch from now())::bigint - 58);
create temp table r on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}');

select isnt(wapipe.schedule_message_retry((select msg_id from r), 'worker-1', 'agent_timeout: slow'), null,
            'backing off');
select is_empty($$ select * from wapipe.claim_messages('worker-2', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}') $$,
  'nothing of the turn is claimable during the backoff');
select wapipe_tests.skip_backoff();
select results_eq($$ select wamid, attempt, (select array_agg(b->>'wamid') from jsonb_array_elements(burst) b)
                     from wapipe.claim_messages('worker-2', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}') $$,
  $$ values ('wamid.1', 2, array['wamid.2']) $$, 'the second attempt answers the same turn');
select * from finish();
rollback;
