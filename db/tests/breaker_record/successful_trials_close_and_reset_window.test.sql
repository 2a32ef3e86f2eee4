-- half_open_calls successful trials close the breaker; failures from before no longer count.
begin;
select plan(6);
select wapipe_tests.reset();

-- A long window, so the failures that opened it would still be inside it.
select wapipe.breaker_configure('agent-c', 'default', window_seconds => 600);
select wapipe_tests.open_breaker('agent-c', 61);
select is(wapipe.breaker_allow('agent-c'), 'half_open', 'trial 1 admitted');
select is(wapipe.breaker_record('agent-c', true, 50), 'half_open', 'trial 1 succeeded: still half-open');
select is(wapipe.breaker_allow('agent-c'), 'half_open', 'trial 2 admitted');
select is(wapipe.breaker_allow('agent-c'), 'half_open', 'trial 3 admitted');
select wapipe.breaker_record('agent-c', true, 50);
select is(wapipe.breaker_record('agent-c', true, 50), 'closed', 'the 3rd successful trial closes it');
-- The 10 failures that opened it are 61 s old, inside the 600 s window, yet before
-- window_started_at: one more failure is 1 call, not 11.
select is(wapipe.breaker_record('agent-c', false, 50, null, 'HTTP 500'), 'closed',
  'old failures do not reopen it');

select * from finish();
rollback;
