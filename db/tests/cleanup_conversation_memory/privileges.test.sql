-- Only the owner (operators, pg_cron) may call cleanup_conversation_memory; wapipe_ingress and wapipe_monitor may not.
begin;
select plan(6);
select wapipe_tests.reset();

select function_privs_are('wapipe', 'cleanup_conversation_memory', array['interval'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not execute cleanup_conversation_memory');
select function_privs_are('wapipe', 'cleanup_conversation_memory', array['interval'], 'wapipe_worker',
  array[]::text[], 'wapipe_worker may not execute cleanup_conversation_memory');
select function_privs_are('wapipe', 'cleanup_conversation_memory', array['interval'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not execute cleanup_conversation_memory');
select function_privs_are('wapipe', 'cleanup_conversation_memory', array['interval'], 'public',
  array[]::text[], 'PUBLIC may not execute cleanup_conversation_memory');

set local role wapipe_worker;
select throws_ok($$select wapipe.cleanup_conversation_memory()$$, '42501', null, 'the worker role is refused cleanup_conversation_memory');
reset role;
set local role wapipe_ingress;
select throws_ok($$select wapipe.cleanup_conversation_memory()$$, '42501', null, 'the ingress role is refused cleanup_conversation_memory');
reset role;

select * from finish();
rollback;
