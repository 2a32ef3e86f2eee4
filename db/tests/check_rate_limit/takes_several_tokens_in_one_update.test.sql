-- The bucket rule's core takes up to `wanted` tokens of a bucket in one update (the typing
-- reservoir's refill): a new key starts full, a partial grant when fewer are left, none
-- (with the wait for the next one) when the bucket is empty; wanted < 1 is refused.
begin;
select plan(6);
select wapipe_tests.reset();

select is((select granted || '/' || remaining from wapipe._take_rate_tokens('{send:n1}', 10, '1 hour', 4)),
  '4/6', 'a new bucket starts full: 4 taken, 6 left');
select is((select granted || '/' || remaining from wapipe._take_rate_tokens('{send:n1}', 10, '1 hour', 8)),
  '6/0', 'fewer left than wanted: what is left is granted');
select is((select allowed::text || '/' || granted || '/' || (retry_after_ms > 0)::text
           from wapipe._take_rate_tokens('{send:n1}', 10, '1 hour', 3)),
  'false/0/true', 'none left: refused, with the wait for the next token');
select is((select allowed::text from wapipe.check_rate_limit('send:n1', 10, '1 hour')), 'false',
  'check_rate_limit sees the same bucket');
select is((select granted from wapipe._take_rate_tokens('{send:n2}', 3, '1 hour', 50)), 3,
  'never more than the capacity');
select throws_ok($$ select * from wapipe._take_rate_tokens('{send:n3}', 10, '1 hour', 0) $$, '22023',
  'check_rate_limit: wanted must be at least 1, got 0', 'wanted < 1 is refused');

select * from finish();
rollback;
