-- A claim changes no indexed column of its conversation: the lease is written as a HOT update
-- (no new index entries, nothing new for the next claims to step over); the views still count it.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe.register_worker('worker-1', 'host-a', 4242);
select wapipe_tests.enqueue_text('25070000000' || i, 'hi', 'wamid.hot.' || i) from generate_series(1, 3) i;
create temp table before on commit drop as
select pg_stat_get_xact_tuples_updated('wapipe.conversations'::regclass) as updated,
       pg_stat_get_xact_tuples_hot_updated('wapipe.conversations'::regclass) as hot;
select is((select count(*) from wapipe_tests.claim('worker-1')), 3::bigint, 'three conversations claimed');
select results_eq($$ select pg_stat_get_xact_tuples_updated('wapipe.conversations'::regclass) - b.updated,
                            pg_stat_get_xact_tuples_hot_updated('wapipe.conversations'::regclass) - b.hot
                     from before b $$,
  $$ values (3::bigint, 3::bigint) $$, 'three lease writes, all HOT');
select is((select held_conversations from wapipe.worker_status where worker_id = 'worker-1'), 3::bigint,
  'worker_status counts the leases');
select * from finish();
rollback;
