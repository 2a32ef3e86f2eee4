-- Retention deletes buckets outside their breaker's window; service calls are left to maintain_partitions (dropped by day).
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe_tests.record_calls('agent-x', 2, 0);
select wapipe_tests.age_breaker('agent-x', 61);
select wapipe_tests.record_calls('agent-x', 1, 0);
update wapipe.service_calls set called_at = now() - interval '8 days'
 where id = (select min(id) from wapipe.service_calls);
select is(wapipe.cleanup_breaker_history(), 1, 'one old bucket deleted');
select is((select count(*)::int from wapipe.breaker_buckets), 1, 'the current bucket is kept');
select is((select count(*)::int from wapipe.service_calls), 3, 'service calls are not deleted row by row');
select function_privs_are('wapipe', 'cleanup_breaker_history', array[]::text[], 'wapipe_worker',
  array[]::text[], 'retention is for pg_cron (the owner), not granted');

select * from finish();
rollback;
