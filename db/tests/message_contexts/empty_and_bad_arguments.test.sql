-- An empty batch answers nothing; bad arguments are refused as a whole with 22023.
begin;
select plan(6);
select wapipe_tests.reset();
select is_empty($$ select * from wapipe.message_contexts('[]', 'waiter') $$, 'an empty batch: no rows');
select throws_ok($$ select * from wapipe.message_contexts('{"user_phone": "1"}', 'waiter') $$, '22023',
  'items must be a JSON array of {"user_phone", "preferred_agent", "rate_key"}', 'not an array');
select throws_ok($$ select * from wapipe.message_contexts('[{"user_phone": ""}]', 'waiter') $$, '22023',
  'message_context needs a user_phone and a default_agent', 'an empty user');
select throws_ok($$ select * from wapipe.message_contexts('[{"user_phone": "250700000001"}]', '') $$, '22023',
  'message_context needs a user_phone and a default_agent', 'no default agent');
select throws_ok($$ select * from wapipe.message_contexts('[{"user_phone": "250700000001", "rate_key": "k"}]', 'waiter') $$,
  '22023', 'check_rate_limit: max_per_window must be at least 1, got NULL', 'a rate key without a limit');
select is_empty($$ select * from wapipe.ai_conversation_memory $$, 'nothing created');
select * from finish();
rollback;
