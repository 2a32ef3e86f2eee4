-- Only wapipe_worker may call fail_workflow; wapipe_ingress and wapipe_monitor may not.
begin;
select plan(6);
select wapipe_tests.reset();

select function_privs_are('wapipe', 'fail_workflow', array['bigint', 'text'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not execute fail_workflow');
select function_privs_are('wapipe', 'fail_workflow', array['bigint', 'text'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute fail_workflow');
select function_privs_are('wapipe', 'fail_workflow', array['bigint', 'text'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not execute fail_workflow');
select function_privs_are('wapipe', 'fail_workflow', array['bigint', 'text'], 'public',
  array[]::text[], 'PUBLIC may not execute fail_workflow');

set local role wapipe_worker;
select lives_ok($$select wapipe.fail_workflow(wapipe.start_workflow('250700000001', 'order', 'ask_size'), 'agent down')$$, 'the worker role calls fail_workflow');
reset role;
set local role wapipe_ingress;
select throws_ok($$select wapipe.fail_workflow(wapipe.start_workflow('250700000001', 'order', 'ask_size'), 'agent down')$$, '42501', null, 'the ingress role is refused fail_workflow');
reset role;

select * from finish();
rollback;
