-- Many deferred heads ranked first in line are not read by a claim: they are out of conversations_claim_idx while they wait, and come back a batch at a time.
begin;
select plan(5);
select wapipe_tests.reset();
-- 300 deferred heads, ranked before two fresh conversations
select count(wapipe_tests.enqueue_text('2508' || lpad(i::text, 8, '0'), 'waiting', 'wamid.wait.' || i))
from generate_series(1, 300) i;
select count(wapipe_tests.claim_and_defer('waiter', now() + interval '10 minutes')) from generate_series(1, 300);
select wapipe_tests.enqueue_text('250700000001', 'first', 'wamid.first');
select wapipe_tests.enqueue_text('250700000002', 'second', 'wamid.second');

create temp table before on commit drop as
select pg_stat_get_xact_tuples_fetched('wapipe.conversations'::regclass)
       + pg_stat_get_xact_tuples_returned('wapipe.conversations'::regclass) as n;
create temp table claimed on commit drop as
select * from wapipe.get_next_queue_message('worker-2', 30, 2);
-- Test
select is((select array_agg(wamid order by wamid) from claimed), array['wamid.first', 'wamid.second'],
  'the fresh heads are claimed');
select cmp_ok(pg_stat_get_xact_tuples_fetched('wapipe.conversations'::regclass)
              + pg_stat_get_xact_tuples_returned('wapipe.conversations'::regclass)
              - (select n from before),
              '<', 50::bigint, 'a few conversations read, not the 300 deferred heads');
-- their time comes: each claim puts back at most its batch, oldest deferral first
select wapipe_tests.pass_deferrals();
select is((select count(*) from wapipe.get_next_queue_message('worker-3', 30, 10)), 10::bigint,
  'a claim of 10 gets 10 of them');
select is((select count(*) from wapipe.conversations where deferred_until is not null), 290::bigint,
  'the other 290 are still out of the index');
select is((select count(*) from wapipe.get_next_queue_message('worker-3', 30, 1000)), 290::bigint,
  'a claim of 1000 gets the rest');
select * from finish();
rollback;
