-- After open_seconds an open breaker admits a trial call and becomes half-open.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe_tests.open_breaker('agent-h', 60);
select is(
  (select state from wapipe.circuit_breaker_status where name = 'agent-h'), 'half_open',
  'the status view shows it half-open (pending) once open_seconds have passed');
select is(wapipe.breaker_allow('agent-h'), 'half_open', 'the first call after open_seconds is a trial');
select results_eq(
  $$ select state, state_changed_at = now(), half_open_in_flight, half_open_successes
       from wapipe.breakers where name = 'agent-h' $$,
  $$ values ('half_open'::text, true, 1, 0) $$,
  'stored as half-open with one trial in flight');

select * from finish();
rollback;
