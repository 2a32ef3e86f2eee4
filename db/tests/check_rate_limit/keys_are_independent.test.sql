-- Each key has its own bucket: exhausting one leaves the others untouched.
begin;
select plan(3);
select wapipe_tests.reset();

select count(*) from wapipe_tests.rate_limit_calls('user:250700000001', 3, '1 minute', 3);
select is((select allowed from wapipe.check_rate_limit('user:250700000001', 3, '1 minute')), false,
  'the first key is exhausted');
select results_eq($$ select allowed, remaining, retry_after_ms from wapipe.check_rate_limit('user:250700000002', 3, '1 minute') $$,
  $$ values (true, 2, 0) $$, 'another key starts with a full bucket');
select is((select count(*) from wapipe.rate_limit_buckets), 2::bigint, 'one bucket per key');

select * from finish();
rollback;
