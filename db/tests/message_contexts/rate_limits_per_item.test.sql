-- Each item with a rate key takes one token of its bucket (check_rate_limit's token bucket): a new
-- key starts full, an empty bucket refuses with a retry-after and nothing else is read or created.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe.check_rate_limit('user:250700000002', 1, '1 minute');  -- spends user 2's only token
create temp table r on commit drop as
select * from wapipe.message_contexts(
  '[{"user_phone": "250700000001", "rate_key": "user:250700000001"},
    {"user_phone": "250700000002", "rate_key": "user:250700000002"},
    {"user_phone": "250700000003"}]',
  'waiter', array['waiter'], 1, '1 minute');
select results_eq($$ select ord, allowed, retry_after_ms > 0, agent, memory_id is not null from r order by ord $$,
  $$ values (1, true, false, 'waiter', true), (2, false, true, null, false), (3, true, false, 'waiter', true) $$,
  'a new key is admitted, an empty bucket refuses, no key is not limited');
select cmp_ok((select retry_after_ms from r where ord = 2), '<=', 60000, 'retry-after within the window');
select is((select count(*)::int from wapipe.ai_conversation_memory where user_phone = '250700000002'), 0,
  'no session opened for the refused message');
select results_eq($$ select key, round(tokens::numeric, 2) from wapipe.rate_limit_buckets order by key $$,
  $$ values ('user:250700000001', 0.00), ('user:250700000002', 0.00) $$,
  'tokens spent as check_rate_limit spends them');
select is((select allowed from wapipe.message_contexts('[{"user_phone": "250700000001", "rate_key": "user:250700000001"}]',
                                                       'waiter', '{}', 1, '1 minute')),
  false, 'the next message of user 1 is refused');
select * from finish();
rollback;
