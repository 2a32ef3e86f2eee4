-- Only wapipe_worker may call complete_workflow; wapipe_ingress and wapipe_monitor may not.
begin;
select plan(6);
select wapipe_tests.reset();

select function_privs_are('wapipe', 'complete_workflow', array['bigint', 'jsonb'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not execute complete_workflow');
select function_privs_are('wapipe', 'complete_workflow', array['bigint', 'jsonb'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute complete_workflow');
select function_privs_are('wapipe', 'complete_workflow', array['bigint', 'jsonb'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not execute complete_workflow');
select function_privs_are('wapipe', 'complete_workflow', array['bigint', 'jsonb'], 'public',
  array[]::text[], 'PUBLIC may not execute complete_workflow');

set local role wapipe_worker;
select lives_ok($$select wapipe.complete_workflow(wapipe.start_workflow('250700000001', 'order', 'ask_size'))$$, 'the worker role calls complete_workflow');
reset role;
set local role wapipe_ingress;
select throws_ok($$select wapipe.complete_workflow(wapipe.start_workflow('250700000001', 'order', 'ask_size'))$$, '42501', null, 'the ingress role is refused complete_workflow');
reset role;

select * from finish();
rollback;
