-- Only wapipe_worker may call breaker_record; the ingress and monitor roles and PUBLIC may not.
begin;
select plan(4);
select function_privs_are('wapipe', 'breaker_record', array['text', 'boolean', 'integer', 'text', 'text'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute breaker_record');
select function_privs_are('wapipe', 'breaker_record', array['text', 'boolean', 'integer', 'text', 'text'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'breaker_record', array['text', 'boolean', 'integer', 'text', 'text'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'breaker_record', array['text', 'boolean', 'integer', 'text', 'text'], 'public',
  array[]::text[], 'PUBLIC may not');
select * from finish();
rollback;
