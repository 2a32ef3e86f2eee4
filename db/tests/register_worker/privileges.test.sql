-- Only wapipe_worker may call register_worker; the ingress and monitor roles and PUBLIC may not.
begin;
select plan(4);
select function_privs_are('wapipe', 'register_worker', array['text', 'text', 'integer', 'jsonb'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute register_worker');
select function_privs_are('wapipe', 'register_worker', array['text', 'text', 'integer', 'jsonb'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'register_worker', array['text', 'text', 'integer', 'jsonb'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'register_worker', array['text', 'text', 'integer', 'jsonb'], 'public',
  array[]::text[], 'PUBLIC may not');
select * from finish();
rollback;
