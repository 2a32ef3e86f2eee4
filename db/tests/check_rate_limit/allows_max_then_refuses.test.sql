-- A bucket allows max_per_window calls at once, then refuses with the time until the next token.
begin;
select plan(4);
select wapipe_tests.reset();

create temp table calls as
select * from wapipe_tests.rate_limit_calls('user:250700000001', 5, '1 minute', 7);

select results_eq($$ select n, allowed, remaining from calls where n <= 5 order by n $$,
  $$ values (1, true, 4), (2, true, 3), (3, true, 2), (4, true, 1), (5, true, 0) $$,
  'the first 5 calls are allowed, counting down what remains');
select is((select array_agg(retry_after_ms) from calls where n <= 5), array[0, 0, 0, 0, 0],
  'an allowed call has retry_after_ms 0');
select results_eq($$ select allowed, remaining from calls where n > 5 order by n $$,
  $$ values (false, 0), (false, 0) $$, 'the 6th and 7th calls are refused');
-- One token every 60 s / 5 = 12 s; a few ms of wall clock may have passed.
select ok((select bool_and(retry_after_ms between 11900 and 12000) from calls where n > 5),
  'a refused call is told to retry in about 12 s');

select * from finish();
rollback;
