-- Only wapipe_worker may call start_workflow; wapipe_ingress and wapipe_monitor may not.
begin;
select plan(6);
select wapipe_tests.reset();

select function_privs_are('wapipe', 'start_workflow', array['text', 'text', 'text', 'jsonb', 'interval', 'text'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not execute start_workflow');
select function_privs_are('wapipe', 'start_workflow', array['text', 'text', 'text', 'jsonb', 'interval', 'text'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute start_workflow');
select function_privs_are('wapipe', 'start_workflow', array['text', 'text', 'text', 'jsonb', 'interval', 'text'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not execute start_workflow');
select function_privs_are('wapipe', 'start_workflow', array['text', 'text', 'text', 'jsonb', 'interval', 'text'], 'public',
  array[]::text[], 'PUBLIC may not execute start_workflow');

set local role wapipe_worker;
select lives_ok($$select wapipe.start_workflow('250700000001', 'order', 'ask_size')$$, 'the worker role calls start_workflow');
reset role;
set local role wapipe_ingress;
select throws_ok($$select wapipe.start_workflow('250700000001', 'order', 'ask_size')$$, '42501', null, 'the ingress role is refused start_workflow');
reset role;

select * from finish();
rollback;
