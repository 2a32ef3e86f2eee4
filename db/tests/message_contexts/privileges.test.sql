-- Only wapipe_worker may call message_contexts.
begin;
select plan(4);
select function_privs_are('wapipe', 'message_contexts', array['jsonb', 'text', 'text[]', 'integer', 'interval'],
  'wapipe_worker', array['EXECUTE'], 'wapipe_worker may execute message_contexts');
select function_privs_are('wapipe', 'message_contexts', array['jsonb', 'text', 'text[]', 'integer', 'interval'],
  'wapipe_ingress', array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'message_contexts', array['jsonb', 'text', 'text[]', 'integer', 'interval'],
  'wapipe_monitor', array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'message_contexts', array['jsonb', 'text', 'text[]', 'integer', 'interval'],
  'public', array[]::text[], 'PUBLIC may not');
select * from finish();
rollback;
