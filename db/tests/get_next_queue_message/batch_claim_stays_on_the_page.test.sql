-- A claim of a batch of consecutive messages writes every one of them as a HOT update: no index
-- of processed_messages holds a column the claim writes, and each partition leaves half of its
-- pages free for the new versions (0031; ~12 rows share a page, a claim takes them together).
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe.register_worker('worker-1', 'host-a', 4242);
select wapipe_tests.enqueue_text('2507000001' || lpad(i::text, 2, '0'), 'hello there', 'wamid.page.' || i)
from generate_series(1, 16) i;
create temp table part on commit drop as
select wapipe_tests.week_partition(now())::regclass as rel;
create temp table before on commit drop as
select pg_stat_get_xact_tuples_updated(p.rel) as updated, pg_stat_get_xact_tuples_hot_updated(p.rel) as hot
from part p;
select is((select count(*) from wapipe_tests.claim('worker-1', 16)), 16::bigint, 'sixteen messages claimed in one call');
select results_eq($$ select pg_stat_get_xact_tuples_updated(p.rel) - b.updated,
                            pg_stat_get_xact_tuples_hot_updated(p.rel) - b.hot
                     from part p, before b $$,
  $$ values (16::bigint, 16::bigint) $$, 'sixteen message updates, all HOT');
select wapipe.maintain_partitions();
select is_empty($$ select i.inhrelid::regclass::text from pg_inherits i join pg_class c on c.oid = i.inhrelid
                   where i.inhparent = 'wapipe.processed_messages'::regclass
                     and not coalesce(c.reloptions @> array['fillfactor=50'], false) $$,
  'every partition of processed_messages, made by the migration or by maintain_partitions, has fillfactor 50');
select * from finish();
rollback;
