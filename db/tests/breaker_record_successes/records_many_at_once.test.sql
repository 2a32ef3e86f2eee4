-- While closed (or open), successes are recorded as breaker_record would one by one: one
-- service_calls row each and the per-second bucket, without touching the breaker row.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe.breaker_configure('support-bot', 'agent');
create temp table before on commit drop as select xmin::text as x from wapipe.breakers;
select is(wapipe.breaker_record_successes('support-bot', array[10, 20, 30], 'http://a1'), 'closed', 'closed');
select results_eq($$ select service, endpoint, ok, duration_ms, error from wapipe.service_calls order by id $$,
  $$ values ('support-bot', 'http://a1', true, 10, null::text), ('support-bot', 'http://a1', true, 20, null),
            ('support-bot', 'http://a1', true, 30, null) $$, 'one call row each, in order');
select row_eq($$ select sum(calls)::int, sum(failures)::int from wapipe.breaker_buckets where name = 'support-bot' $$,
  row(3, 0), 'counted in the window');
select is((select xmin::text from wapipe.breakers), (select x from before), 'the breaker row was not written');
select is(wapipe.breaker_record_successes('new-bot', '{}'), 'closed', 'an unknown breaker with no calls: closed');
select is(wapipe.breaker_record_successes('other-bot', array[5]), 'closed', 'an unknown breaker is created');
select * from finish();
rollback;
