-- Calls older than window_seconds are out of the sliding window.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe.breaker_configure('agent-w');
select is(wapipe_tests.record_calls('agent-w', 0, 9), 'closed', '9 failures: under min_calls');
-- They happened 61 s ago (window 60 s).
select wapipe_tests.age_breaker('agent-w', 61);
select is(wapipe.breaker_record('agent-w', false, 10, null, 'timeout'), 'closed',
  'a 10th failure does not open it: the 9 old ones are outside the window');
select is(
  (select window_calls from wapipe.circuit_breaker_status where name = 'agent-w'), 1::bigint,
  'only the recent call is in the window');

select * from finish();
rollback;
