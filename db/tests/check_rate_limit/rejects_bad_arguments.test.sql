-- check_rate_limit refuses an empty key, max_per_window < 1 and a non-positive window with 22023.
begin;
select plan(5);
select wapipe_tests.reset();

select throws_ok($$ select * from wapipe.check_rate_limit('', 5, '1 minute') $$, '22023',
  'check_rate_limit: key must not be empty', 'an empty key is refused');
select throws_ok($$ select * from wapipe.check_rate_limit('k', 0, '1 minute') $$, '22023',
  'check_rate_limit: max_per_window must be at least 1, got 0', 'max_per_window 0 is refused');
select throws_ok($$ select * from wapipe.check_rate_limit('k', 5, '0 seconds') $$, '22023',
  'check_rate_limit: per must be a positive interval, got 00:00:00', 'a zero window is refused');
select throws_ok($$ select * from wapipe.check_rate_limit('k', 5, null) $$, '22023',
  'check_rate_limit: per must be a positive interval, got NULL', 'a NULL window is refused');
select is_empty($$ select * from wapipe.rate_limit_buckets $$, 'no bucket was created');

select * from finish();
rollback;
