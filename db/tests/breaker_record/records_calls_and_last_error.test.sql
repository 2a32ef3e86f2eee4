-- Each outcome goes to its per-second bucket and to service_calls; failures keep the last error.
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe.breaker_record('agent-r', true, 120, 'http://a.test/1');
select wapipe.breaker_record('agent-r', false, 3000, 'http://a.test/2', 'timeout after 3 s');
select wapipe.breaker_record('agent-r', true, 80);

select results_eq(
  $$ select calls, failures from wapipe.breaker_buckets where name = 'agent-r' $$,
  $$ values (3, 1) $$,
  'one bucket for the second, 3 calls, 1 failure');
select results_eq(
  $$ select service, endpoint, ok, duration_ms, error from wapipe.service_calls order by id $$,
  $$ values ('agent-r'::text, 'http://a.test/1'::text, true, 120, null::text),
            ('agent-r', 'http://a.test/2', false, 3000, 'timeout after 3 s'),
            ('agent-r', null, true, 80, null) $$,
  'every call is in service_calls');
select results_eq(
  $$ select last_error, last_failure_at = now(), kind from wapipe.breakers where name = 'agent-r' $$,
  $$ values ('timeout after 3 s'::text, true, 'default'::text) $$,
  'the breaker keeps the last error; an unknown name is created as kind default');
select throws_ok($$ select wapipe.breaker_record('agent-r', true, -1) $$, '22023', null,
  'a negative duration is refused');

select * from finish();
rollback;
