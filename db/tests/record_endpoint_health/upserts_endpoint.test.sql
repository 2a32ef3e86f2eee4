-- Health checks upsert one row per (service, endpoint) with the latest result.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe.record_endpoint_health('agent-a', 'http://a1.test', false, 'connection refused', 'w1');
select wapipe.record_endpoint_health('agent-a', 'http://a1.test', true, null, 'w2');
select wapipe.record_endpoint_health('agent-a', 'http://a2.test', false, 'HTTP 503', 'w1');
select results_eq(
  $$ select endpoint, healthy, last_error, checked_by, last_checked_at = now()
       from wapipe.service_endpoints order by endpoint $$,
  $$ values ('http://a1.test'::text, true, null::text, 'w2'::text, true),
            ('http://a2.test', false, 'HTTP 503', 'w1', true) $$,
  'latest result per endpoint');
select results_eq(
  $$ select healthy_endpoints, total_endpoints from wapipe.circuit_breaker_status where name = 'agent-a' $$,
  $$ select 1::bigint, 2::bigint from wapipe.breakers where false $$,
  'no breaker row yet: endpoints alone do not make a breaker');
select throws_ok($$ select wapipe.record_endpoint_health('agent-a', '', true) $$, '22023', null,
  'an empty endpoint is refused');

select * from finish();
rollback;
