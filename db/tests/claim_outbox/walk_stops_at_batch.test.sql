-- A claim reads the due rows in its own order and stops at its batch: with thousands of
-- replies waiting (a Graph API outage) it does not read, check and sort all of them,
-- even with statistics taken while the outbox was empty.
begin;
select plan(3);
select wapipe_tests.reset();
analyze wapipe.outbox;
select count(wapipe_tests.outbox_row('2507' || lpad(i::text, 8, '0'), source_key => 'wamid.backlog.' || i))
from generate_series(1, 2000) i;

create temp table before on commit drop as
select pg_stat_get_xact_tuples_fetched('wapipe.outbox'::regclass)
       + pg_stat_get_xact_tuples_returned('wapipe.outbox'::regclass) AS n;
create temp table claimed on commit drop as select * from wapipe_tests.claim_outbox_ids('sender-1', 5) id;
select results_eq($$ select id from claimed order by id $$,
  $$ select id from wapipe.outbox order by id limit 5 $$, 'the five oldest rows are claimed');
select cmp_ok(pg_stat_get_xact_tuples_fetched('wapipe.outbox'::regclass)
              + pg_stat_get_xact_tuples_returned('wapipe.outbox'::regclass) - (select n from before),
              '<', 100::bigint, 'the claim read a few rows of the outbox, not the 2000 waiting');
select is((select count(*) from wapipe.outbox where status = 'pending'), 1995::bigint, 'the rest still wait');
select * from finish();
rollback;
