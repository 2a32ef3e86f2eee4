-- Only wapipe_worker may call check_rate_limit; wapipe_ingress and wapipe_monitor may not.
begin;
select plan(6);
select wapipe_tests.reset();

select function_privs_are('wapipe', 'check_rate_limit', array['text', 'integer', 'interval'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not execute check_rate_limit');
select function_privs_are('wapipe', 'check_rate_limit', array['text', 'integer', 'interval'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute check_rate_limit');
select function_privs_are('wapipe', 'check_rate_limit', array['text', 'integer', 'interval'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not execute check_rate_limit');
select function_privs_are('wapipe', 'check_rate_limit', array['text', 'integer', 'interval'], 'public',
  array[]::text[], 'PUBLIC may not execute check_rate_limit');

set local role wapipe_worker;
select lives_ok($$select * from wapipe.check_rate_limit('user:250700000001', 5, '1 minute')$$, 'the worker role calls check_rate_limit');
reset role;
set local role wapipe_ingress;
select throws_ok($$select * from wapipe.check_rate_limit('user:250700000001', 5, '1 minute')$$, '42501', null, 'the ingress role is refused check_rate_limit');
reset role;

select * from finish();
rollback;
