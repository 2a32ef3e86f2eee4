-- Only wapipe_worker may call get_or_create_conversation_memory; wapipe_ingress and wapipe_monitor may not.
begin;
select plan(6);
select wapipe_tests.reset();

select function_privs_are('wapipe', 'get_or_create_conversation_memory', array['text', 'text', 'text'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not execute get_or_create_conversation_memory');
select function_privs_are('wapipe', 'get_or_create_conversation_memory', array['text', 'text', 'text'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute get_or_create_conversation_memory');
select function_privs_are('wapipe', 'get_or_create_conversation_memory', array['text', 'text', 'text'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not execute get_or_create_conversation_memory');
select function_privs_are('wapipe', 'get_or_create_conversation_memory', array['text', 'text', 'text'], 'public',
  array[]::text[], 'PUBLIC may not execute get_or_create_conversation_memory');

set local role wapipe_worker;
select lives_ok($$select wapipe.get_or_create_conversation_memory('250700000001', 'support')$$, 'the worker role calls get_or_create_conversation_memory');
reset role;
set local role wapipe_ingress;
select throws_ok($$select wapipe.get_or_create_conversation_memory('250700000001', 'support')$$, '42501', null, 'the ingress role is refused get_or_create_conversation_memory');
reset role;

select * from finish();
rollback;
