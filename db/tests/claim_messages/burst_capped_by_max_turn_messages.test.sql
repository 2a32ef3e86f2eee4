-- A turn answers at most claim.max_turn_messages messages, the head included; the texts
-- behind them wait for the next turn.
begin;
select plan(2);
select wapipe_tests.reset();
update wapipe.settings set value = '3' where key = 'claim.max_turn_messages';
select wapipe_tests.enqueue_text('250700000001', 'm' || i, 'wamid.' || i, '300100200300400',
                                 extract(epoch from now())::bigint - 60 + i)
from generate_series(1, 5) i;
create temp table r on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}');
select results_eq($$ select b->>'wamid' from r, jsonb_array_elements(r.burst) with ordinality e(b, n) order by e.n $$,
  $$ values ('wamid.2'), ('wamid.3') $$, 'head + 2 followers = 3 messages');
select results_eq($$ select wamid from wapipe.processed_messages where status = 'queued' and turn_followers is null
                     and id not in (select unnest(turn_followers) from wapipe.processed_messages where wamid = 'wamid.1')
                     order by wa_timestamp $$,
  $$ values ('wamid.4'), ('wamid.5') $$, 'the rest wait, not part of this turn');
select * from finish();
rollback;
