-- system_health: the monitor and worker roles may execute it; ingress and PUBLIC may not.
begin;
select plan(6);
select function_privs_are('wapipe', 'system_health', array['jsonb'], 'wapipe_monitor', array['EXECUTE'],
  'wapipe_monitor may execute system_health');
select function_privs_are('wapipe', 'system_health', array['jsonb'], 'wapipe_worker', array['EXECUTE'],
  'wapipe_worker may execute system_health');
select function_privs_are('wapipe', 'system_health', array['jsonb'], 'wapipe_ingress', array[]::text[],
  'wapipe_ingress may not');
select function_privs_are('wapipe', 'system_health', array['jsonb'], 'public', array[]::text[],
  'PUBLIC may not');
set local role wapipe_monitor;
select lives_ok($$ select * from wapipe.system_health() $$, 'the monitor role gets the summary');
reset role;
set local role wapipe_ingress;
select throws_ok($$ select * from wapipe.system_health() $$, '42501', null, 'the ingress role is refused');
reset role;
select * from finish();
rollback;
