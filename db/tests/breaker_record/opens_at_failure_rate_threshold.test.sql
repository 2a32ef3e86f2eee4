-- A standard breaker opens when failures/calls reaches 50 % with min_calls calls, not below.
begin;
select plan(7);
select wapipe_tests.reset();

-- 40 %: 6 successes then 4 failures.
select is(wapipe_tests.record_calls('graph-below', 6, 4), 'closed', '4 failures of 10 calls (40 %) stay closed');
select is(wapipe.breaker_allow('graph-below'), 'closed', 'below the threshold calls are allowed');

-- 50 %: 5 successes then 5 failures; the 10th call trips it.
select is(wapipe_tests.record_calls('graph-at', 5, 4), 'closed', '4 failures of 9 calls: under min_calls');
select is(wapipe.breaker_record('graph-at', false, 80, null, 'HTTP 500'), 'open',
  'the 10th call, a failure, makes 5 of 10 (50 %) and opens it');
select is(wapipe.breaker_allow('graph-at'), 'open', 'an open breaker refuses calls');
select results_eq(
  $$ select state, times_opened, opened_at = now(), state_changed_at = now(), last_error
       from wapipe.breakers where name = 'graph-at' $$,
  $$ values ('open'::text, 1, true, true, 'HTTP 500'::text) $$,
  'opened now, counted once, last error kept');
select is(wapipe.breaker_record('graph-at', false, 80, null, 'HTTP 502'), 'open',
  'failures while open just record');

select * from finish();
rollback;
