-- Half-open admits exactly half_open_calls trials, then refuses until they report.
begin;
select plan(6);
select wapipe_tests.reset();

select wapipe.breaker_configure('agent-t', 'default', half_open_calls => 3);
select wapipe_tests.open_breaker('agent-t', 61);
select is(wapipe.breaker_allow('agent-t'), 'half_open', 'trial 1');
select is(wapipe.breaker_allow('agent-t'), 'half_open', 'trial 2');
select is(wapipe.breaker_allow('agent-t'), 'half_open', 'trial 3');
select is(wapipe.breaker_allow('agent-t'), 'open', 'a 4th concurrent call is refused');
select wapipe.breaker_record('agent-t', true, 10);
select is(wapipe.breaker_allow('agent-t'), 'open',
  'a finished trial does not free a slot: 3 trials in all per half-open period');
select is((select half_open_in_flight + half_open_successes from wapipe.breakers where name = 'agent-t'), 3,
  'never more than 3 trials');

select * from finish();
rollback;
