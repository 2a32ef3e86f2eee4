-- Any failed trial sends a half-open breaker back to open for another open_seconds.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe_tests.open_breaker('agent-f', 61);
select is(wapipe.breaker_allow('agent-f'), 'half_open', 'trial admitted');
select is(wapipe.breaker_record('agent-f', true, 50), 'half_open', 'first trial succeeded');
select is(wapipe.breaker_allow('agent-f'), 'half_open', 'second trial admitted');
select is(wapipe.breaker_record('agent-f', false, 50, null, 'HTTP 503'), 'open', 'a failed trial reopens it');
select results_eq(
  $$ select wapipe.breaker_allow('agent-f'), times_opened, opened_at = now(), half_open_in_flight,
            half_open_successes
       from wapipe.breakers where name = 'agent-f' $$,
  $$ values ('open'::text, 2, true, 0, 0) $$,
  'open again from now, opened twice, trial counters reset');

select * from finish();
rollback;
