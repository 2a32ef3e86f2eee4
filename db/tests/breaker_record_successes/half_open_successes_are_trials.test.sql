-- While half-open each success counts as a trial, as with breaker_record one by one: enough of them
-- close the breaker.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe.breaker_configure('support-bot', 'agent', half_open_calls => 3);
select wapipe_tests.open_breaker('support-bot', 121);
select is(wapipe.breaker_allow('support-bot'), 'half_open', 'half-open after open_seconds');
select is(wapipe.breaker_record_successes('support-bot', array[10, 10]), 'half_open', 'two trials: still half-open');
select is(wapipe.breaker_record_successes('support-bot', array[10, 10]), 'closed', 'the third closes it');
select * from finish();
rollback;
