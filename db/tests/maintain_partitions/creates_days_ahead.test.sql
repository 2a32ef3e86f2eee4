-- maintain_partitions keeps retention.premake_days daily partitions ready ahead of today, for each table.
begin;
select plan(6);
update wapipe.settings set value = '6' where key = 'retention.premake_days';
select cmp_ok(wapipe.maintain_partitions(), '>=', 6, 'it reports the partitions it created');
select ok(to_regclass(p || '_p' || to_char(now() + make_interval(days => d), 'YYYY_MM_DD')) is not null,
  p || ': the partition ' || d || ' days ahead exists')
from unnest(array['wapipe.webhook_events', 'wapipe.service_calls', 'pgmq.a_wapipe_inbound']) p,
     unnest(array[6]) d;
select is(
  (select count(*)::int from partman.part_config where premake = 6),
  3, 'pg_partman''s premake follows the setting for the three tables');
select is(wapipe.maintain_partitions(), 0, 'a second run has nothing to do');
select * from finish();
rollback;
