-- The bucket refills continuously: after half the window, half the tokens are back (never more than max).
begin;
select plan(5);
select wapipe_tests.reset();

select count(*) from wapipe_tests.rate_limit_calls('number:300100200300400', 10, '1 hour', 10);
select is((select allowed from wapipe.check_rate_limit('number:300100200300400', 10, '1 hour')), false,
  'the bucket is empty');

update wapipe.rate_limit_buckets set updated_at = updated_at - interval '30 minutes'
 where key = 'number:300100200300400';
create temp table calls as
select * from wapipe_tests.rate_limit_calls('number:300100200300400', 10, '1 hour', 6);
select is((select count(*) from calls where allowed), 5::bigint, 'half the window brings back half the tokens');
select is((select remaining from calls where n = 1), 4, 'the first refilled call leaves 4');
select is((select allowed from calls where n = 6), false, 'the 6th call after the refill is refused');

update wapipe.rate_limit_buckets set updated_at = updated_at - interval '1 day'
 where key = 'number:300100200300400';
select is((select remaining from wapipe.check_rate_limit('number:300100200300400', 10, '1 hour')), 9,
  'a long idle bucket is full again, capped at max');

select * from finish();
rollback;
