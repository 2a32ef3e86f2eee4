-- Only wapipe_worker may call worker_stopped; the ingress and monitor roles and PUBLIC may not.
begin;
select plan(4);
select function_privs_are('wapipe', 'worker_stopped', array['text'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute worker_stopped');
select function_privs_are('wapipe', 'worker_stopped', array['text'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'worker_stopped', array['text'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'worker_stopped', array['text'], 'public',
  array[]::text[], 'PUBLIC may not');
select * from finish();
rollback;
