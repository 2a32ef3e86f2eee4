-- A coalesced turn whose every claim expires without a result (it kills its worker) goes to
-- the dead letters as a whole after max attempts: the head and the texts of its turn; a text
-- that came after a longer pause is no part of it and is served next.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'poison', 'wamid.1', '300100200300400', extract(epoch from now())::bigint - 120);
select wapipe_tests.enqueue_text('250700000001', 'and more', 'wamid.2', '300100200300400', extract(epoch from now())::bigint - 118);
select wapipe_tests.enqueue_text('250700000001', 'much later', 'wamid.3', '300100200300400', extract(epoch from now())::bigint - 30);

select wapipe.claim_messages(w, 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}'),
       wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'))
from unnest(array['w1', 'w2', 'w3']) w;

select results_eq($$ select wamid, (select array_agg(b->>'wamid') from jsonb_array_elements(burst) b)
                     from wapipe.claim_messages('w4', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}') $$,
  $$ values ('wamid.3', null::text[]) $$, 'the next claim serves the message after the turn, alone');
select results_eq($$ select wamid, status from wapipe.processed_messages order by wa_timestamp $$,
  $$ values ('wamid.1', 'dead'), ('wamid.2', 'dead'), ('wamid.3', 'processing') $$,
  'the crash-looping turn is dead, both its messages');
select results_eq($$ select wamid, last_error ~ '^abandoned: the lease of attempt 3 expired' from wapipe.dead_letters order by wamid $$,
  $$ values ('wamid.1', true), ('wamid.2', true) $$, 'a dead letter each, saying why');
select * from finish();
rollback;
