-- extend_turn (debounce) applies the burst rule again for a head the worker holds: texts
-- that arrived since the claim join the turn, recorded on the head, and it says how long
-- the conversation has been quiet.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1', '300100200300400', extract(epoch from now())::bigint - 60);
create temp table r on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}');
select is((select burst from r), '[]'::jsonb, 'nothing behind the head at the claim');
select wapipe_tests.enqueue_text('250700000001', 'I want to book', 'wamid.2', '300100200300400', extract(epoch from now())::bigint - 58);
update wapipe.processed_messages set received_at = now() - case wamid when 'wamid.1' then interval '9 seconds' else interval '3 seconds' end;
create temp table e on commit drop as select * from wapipe.extend_turn((select msg_id from r), 'worker-1', 10);
select results_eq($$ select (select array_agg(b->>'wamid') from jsonb_array_elements(burst) b), round(quiet_seconds) from e $$,
  $$ values (array['wamid.2'], 3::float8) $$, 'the new text joins; quiet for 3 s');
select is((select turn_followers from wapipe.processed_messages where wamid = 'wamid.1'),
          (select array[id] from wapipe.processed_messages where wamid = 'wamid.2'), 'recorded on the head');
select is((select burst from wapipe.extend_turn((select msg_id from r), 'worker-1', 1)), '[]'::jsonb,
          'a gap shorter than the pause: the text leaves the turn again');
select * from finish();
rollback;
