-- Below min_calls the failure rate does not count: 9 failures out of 9 keep it closed.
begin;
select plan(3);
select wapipe_tests.reset();

select is(wapipe_tests.record_calls('agent-a', 0, 9), 'closed', '9 failures of 9 calls (min_calls 10) stay closed');
select is(wapipe.breaker_allow('agent-a'), 'closed', 'calls are still allowed');
select is((select times_opened from wapipe.breakers where name = 'agent-a'), 0, 'never opened');

select * from finish();
rollback;
