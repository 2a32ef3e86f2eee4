-- An agent breaker opens at 60 % failures (not 50 %) and stays open 120 s (not 60 s).
begin;
select plan(6);
select wapipe_tests.reset();

select wapipe.breaker_configure('agent-fifty', 'agent');
select wapipe.breaker_configure('agent-sixty', 'agent');

select is(wapipe_tests.record_calls('agent-fifty', 5, 5), 'closed',
  '50 % failures keep an agent breaker closed');
select is(wapipe_tests.record_calls('agent-sixty', 4, 6), 'open',
  '60 % failures open an agent breaker');

select wapipe_tests.age_breaker('agent-sixty', 61);
select is(wapipe.breaker_allow('agent-sixty'), 'open', 'still open 61 s later (agent open_seconds 120)');
select wapipe_tests.age_breaker('agent-sixty', 60);
select is(wapipe.breaker_allow('agent-sixty'), 'half_open', 'half-open 121 s after opening');

-- An explicit override beats the kind's setting.
select wapipe.breaker_configure('agent-strict', 'agent', failure_rate => 0.2, min_calls => 5);
select is(wapipe_tests.record_calls('agent-strict', 4, 1), 'open', 'failure_rate 0.2 / min_calls 5 override');
select is(wapipe_tests.record_calls('payment-gw', 5, 5), 'open',
  'an unknown breaker is kind default: 50 % opens it');

select * from finish();
rollback;
