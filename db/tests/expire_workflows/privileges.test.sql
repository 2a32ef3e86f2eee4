-- Only wapipe_worker may call expire_workflows; wapipe_ingress and wapipe_monitor may not.
begin;
select plan(6);
select wapipe_tests.reset();

select function_privs_are('wapipe', 'expire_workflows', array[]::text[], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not execute expire_workflows');
select function_privs_are('wapipe', 'expire_workflows', array[]::text[], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute expire_workflows');
select function_privs_are('wapipe', 'expire_workflows', array[]::text[], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not execute expire_workflows');
select function_privs_are('wapipe', 'expire_workflows', array[]::text[], 'public',
  array[]::text[], 'PUBLIC may not execute expire_workflows');

set local role wapipe_worker;
select lives_ok($$select * from wapipe.expire_workflows()$$, 'the worker role calls expire_workflows');
reset role;
set local role wapipe_ingress;
select throws_ok($$select * from wapipe.expire_workflows()$$, '42501', null, 'the ingress role is refused expire_workflows');
reset role;

select * from finish();
rollback;
