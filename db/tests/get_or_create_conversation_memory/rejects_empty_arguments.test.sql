-- Empty or NULL user_phone / agent_type, and an empty session_id, are refused with 22023.
begin;
select plan(5);
select wapipe_tests.reset();

select throws_ok($$ select wapipe.get_or_create_conversation_memory('', 'support') $$, '22023',
  'get_or_create_conversation_memory: user_phone must not be empty', 'empty user_phone is refused');
select throws_ok($$ select wapipe.get_or_create_conversation_memory(null, 'support') $$, '22023',
  'get_or_create_conversation_memory: user_phone must not be empty', 'NULL user_phone is refused');
select throws_ok($$ select wapipe.get_or_create_conversation_memory('250700000001', '') $$, '22023',
  'get_or_create_conversation_memory: agent_type must not be empty', 'empty agent_type is refused');
select throws_ok($$ select wapipe.get_or_create_conversation_memory('250700000001', 'support', '') $$,
  '22023', 'get_or_create_conversation_memory: session_id must be NULL or not empty',
  'empty session_id is refused');
select is_empty($$ select * from wapipe.ai_conversation_memory $$, 'nothing was stored');

select * from finish();
rollback;
