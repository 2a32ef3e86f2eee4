-- A bad role, NULL content, a non-object context or an unknown memory_id are refused with 22023.
begin;
select plan(7);
select wapipe_tests.reset();

select (wapipe.get_or_create_conversation_memory('250700000001', 'support')).id as mem_id \gset

select throws_ok(format($$ select wapipe.update_conversation_memory(%s, 'robot', 'hi') $$, :mem_id), '22023',
  'update_conversation_memory: role must be user, assistant, system or tool, got ''robot''',
  'an unknown role is refused');
select throws_ok(format($$ select wapipe.update_conversation_memory(%s, null, 'hi') $$, :mem_id), '22023',
  'update_conversation_memory: role must be user, assistant, system or tool, got NULL',
  'a NULL role is refused');
select throws_ok(format($$ select wapipe.update_conversation_memory(%s, 'user', null) $$, :mem_id), '22023',
  'update_conversation_memory: content must not be NULL', 'NULL content is refused');
select throws_ok(format($$ select wapipe.update_conversation_memory(%s, 'user', 'hi', '[1]') $$, :mem_id),
  '22023', 'update_conversation_memory: context must be a JSON object, got array',
  'a context that is not an object is refused');
select throws_ok(format($$ select wapipe.update_conversation_memory(%s, 'user', 'hi') $$, :mem_id + 1000),
  '22023', format('update_conversation_memory: no conversation memory with id %s', :mem_id + 1000),
  'an unknown memory_id is refused');
select lives_ok(format($$ select wapipe.update_conversation_memory(%s, 'tool', '') $$, :mem_id),
  'an empty content is a message like any other');
select is((select message_count from wapipe.ai_conversation_memory where id = :mem_id), 1,
  'only the valid append was stored');

select * from finish();
rollback;
