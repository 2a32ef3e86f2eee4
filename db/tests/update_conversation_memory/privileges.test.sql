-- Only wapipe_worker may call update_conversation_memory; wapipe_ingress and wapipe_monitor may not.
begin;
select plan(6);
select wapipe_tests.reset();

select function_privs_are('wapipe', 'update_conversation_memory', array['bigint', 'text', 'text', 'jsonb'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not execute update_conversation_memory');
select function_privs_are('wapipe', 'update_conversation_memory', array['bigint', 'text', 'text', 'jsonb'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute update_conversation_memory');
select function_privs_are('wapipe', 'update_conversation_memory', array['bigint', 'text', 'text', 'jsonb'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not execute update_conversation_memory');
select function_privs_are('wapipe', 'update_conversation_memory', array['bigint', 'text', 'text', 'jsonb'], 'public',
  array[]::text[], 'PUBLIC may not execute update_conversation_memory');

set local role wapipe_worker;
select lives_ok($$select wapipe.update_conversation_memory((wapipe.get_or_create_conversation_memory('250700000001', 'support')).id, 'user', 'hi')$$, 'the worker role calls update_conversation_memory');
reset role;
set local role wapipe_ingress;
select throws_ok($$select wapipe.update_conversation_memory((wapipe.get_or_create_conversation_memory('250700000001', 'support')).id, 'user', 'hi')$$, '42501', null, 'the ingress role is refused update_conversation_memory');
reset role;

select * from finish();
rollback;
