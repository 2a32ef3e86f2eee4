-- Only wapipe_worker may call breaker_configure; the ingress and monitor roles and PUBLIC may not.
begin;
select plan(4);
select function_privs_are('wapipe', 'breaker_configure', array['text', 'text', 'numeric', 'integer', 'integer', 'integer', 'integer'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute breaker_configure');
select function_privs_are('wapipe', 'breaker_configure', array['text', 'text', 'numeric', 'integer', 'integer', 'integer', 'integer'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'breaker_configure', array['text', 'text', 'numeric', 'integer', 'integer', 'integer', 'integer'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'breaker_configure', array['text', 'text', 'numeric', 'integer', 'integer', 'integer', 'integer'], 'public',
  array[]::text[], 'PUBLIC may not');
select * from finish();
rollback;
