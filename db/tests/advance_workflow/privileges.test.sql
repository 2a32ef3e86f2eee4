-- Only wapipe_worker may call advance_workflow; wapipe_ingress and wapipe_monitor may not.
begin;
select plan(6);
select wapipe_tests.reset();

select function_privs_are('wapipe', 'advance_workflow', array['bigint', 'text', 'text', 'jsonb'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not execute advance_workflow');
select function_privs_are('wapipe', 'advance_workflow', array['bigint', 'text', 'text', 'jsonb'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute advance_workflow');
select function_privs_are('wapipe', 'advance_workflow', array['bigint', 'text', 'text', 'jsonb'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not execute advance_workflow');
select function_privs_are('wapipe', 'advance_workflow', array['bigint', 'text', 'text', 'jsonb'], 'public',
  array[]::text[], 'PUBLIC may not execute advance_workflow');

set local role wapipe_worker;
select lives_ok($$select wapipe.advance_workflow(wapipe.start_workflow('250700000001', 'order', 'ask_size'), 'ask_size', 'confirm')$$, 'the worker role calls advance_workflow');
reset role;
set local role wapipe_ingress;
select throws_ok($$select wapipe.advance_workflow(wapipe.start_workflow('250700000001', 'order', 'ask_size'), 'ask_size', 'confirm')$$, '42501', null, 'the ingress role is refused advance_workflow');
reset role;

select * from finish();
rollback;
