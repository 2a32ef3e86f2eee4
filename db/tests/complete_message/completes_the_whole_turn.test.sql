-- complete_message of a coalesced head (the batch of one) completes its whole turn in the same transaction: every
-- message done and out of the queue, one reply keyed by the head's wamid, the
-- conversation free for the message after the burst.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1', '300100200300400', extract(epoch from now())::bigint - 60);
select wapipe_tests.enqueue_text('250700000001', 'I want to book', 'wamid.2', '300100200300400', extract(epoch from now())::bigint - 58);
select wapipe_tests.enqueue_text('250700000001', 'for 2 people', 'wamid.3', '300100200300400', extract(epoch from now())::bigint - 56);
create temp table r on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}');
-- arrives while the turn runs: the next turn
select wapipe_tests.enqueue_text('250700000001', 'thanks', 'wamid.4', '300100200300400', extract(epoch from now())::bigint - 1);

select isnt((select message_id from wapipe.complete_message((select msg_id from r), 'worker-1',
                 '{"type": "text", "text": {"body": "table for 2?"}}', null, null, 'waiter')), null,
            'the head completes');
select results_eq($$ select wamid, status, handled_by from wapipe.processed_messages order by wa_timestamp $$,
  $$ values ('wamid.1', 'done', 'waiter'), ('wamid.2', 'done', 'waiter'), ('wamid.3', 'done', 'waiter'),
            ('wamid.4', 'queued', null) $$,
  'the three of the turn are done, the later message is not');
select results_eq($$ select source_key, body->'text'->>'body' from wapipe.outbox $$,
  $$ values ('wamid.1', 'table for 2?') $$, 'one reply, keyed by the head''s wamid');
select results_eq($$ select m.wamid from pgmq.q_wapipe_inbound q join wapipe.processed_messages m on m.queue_msg_id = q.msg_id $$,
  $$ values ('wamid.4') $$, 'the turn left the queue; the later message is in it');
select results_eq($$ select wamid, burst from wapipe.claim_messages('worker-2', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}') $$,
  $$ values ('wamid.4', '[]'::jsonb) $$, 'the next turn starts at the message after the burst');
select * from finish();
rollback;
