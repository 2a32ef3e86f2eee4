-- Items of the same user (or rate key) depend on each other: they are answered one after another,
-- the second seeing the first's spent token and the session it opened.
begin;
select plan(3);
select wapipe_tests.reset();
create temp table r on commit drop as
select * from wapipe.message_contexts(
  '[{"user_phone": "250700000001", "rate_key": "user:250700000001"},
    {"user_phone": "250700000002", "rate_key": "user:250700000002"},
    {"user_phone": "250700000001", "rate_key": "user:250700000001"},
    {"user_phone": "250700000002"}]',
  'waiter', array['waiter'], 1, '1 minute');
select results_eq($$ select ord, allowed, agent from r order by ord $$,
  $$ values (1, true, 'waiter'), (2, true, 'waiter'), (3, false, null::text), (4, true, 'waiter') $$,
  'the second message of user 1 finds the bucket empty; user 2 without a key is not limited');
select is((select memory_id from r where ord = 4), (select memory_id from r where ord = 2),
  'the same user''s items share one session');
select is((select count(*)::int from wapipe.ai_conversation_memory), 2, 'one session per user');
select * from finish();
rollback;
