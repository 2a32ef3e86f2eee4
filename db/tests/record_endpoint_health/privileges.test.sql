-- Only wapipe_worker may call record_endpoint_health; the ingress and monitor roles and PUBLIC may not.
begin;
select plan(4);
select function_privs_are('wapipe', 'record_endpoint_health', array['text', 'text', 'boolean', 'text', 'text'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute record_endpoint_health');
select function_privs_are('wapipe', 'record_endpoint_health', array['text', 'text', 'boolean', 'text', 'text'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'record_endpoint_health', array['text', 'text', 'boolean', 'text', 'text'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'record_endpoint_health', array['text', 'text', 'boolean', 'text', 'text'], 'public',
  array[]::text[], 'PUBLIC may not');
select * from finish();
rollback;
