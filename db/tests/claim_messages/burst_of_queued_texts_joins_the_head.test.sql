-- A text head whose agent coalesces takes the queued texts right behind it into its turn:
-- they come back in order in `burst`, are recorded on the head, stay queued, and no other
-- worker can claim them while the conversation is leased.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1', '300100200300400', extract(epoch from now())::bigint - 60);
select wapipe_tests.enqueue_text('250700000001', 'I want to book', 'wamid.2', '300100200300400', extract(epoch from now())::bigint - 57);
select wapipe_tests.enqueue_text('250700000001', 'for 2 people', 'wamid.3', '300100200300400', extract(epoch from now())::bigint - 50);

create temp table r on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null,
                                    '{"waiter": 10}');
select results_eq($$ select wamid, jsonb_array_length(burst) from r $$,
  $$ values ('wamid.1', 2) $$, 'one row: the head, with two texts in its burst');
select results_eq($$ select b->>'wamid', b->'payload'->'text'->>'body', (b->>'msg_id')::bigint
                     from r, jsonb_array_elements(r.burst) with ordinality as e(b, n) order by e.n $$,
  $$ select m.wamid, m.payload->'text'->>'body', m.queue_msg_id from wapipe.processed_messages m
     where m.wamid in ('wamid.2', 'wamid.3') order by m.wa_timestamp $$,
  'the burst in conversation order, with queue ids and payloads');
select is((select turn_followers from wapipe.processed_messages where wamid = 'wamid.1'),
          (select array_agg(id order by wa_timestamp) from wapipe.processed_messages where wamid in ('wamid.2', 'wamid.3')),
          'the followers are recorded on the head');
select results_eq($$ select status from wapipe.processed_messages where wamid in ('wamid.2', 'wamid.3') $$,
  $$ values ('queued'), ('queued') $$, 'the followers stay queued (no attempt spent)');
select is_empty($$ select * from wapipe.claim_messages('worker-2', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}') $$,
  'another worker claims none of the turn');
select * from finish();
rollback;
