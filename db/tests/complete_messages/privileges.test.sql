-- Only wapipe_worker may call complete_messages; the set-based lease helper is private.
begin;
select plan(5);
select function_privs_are('wapipe', 'complete_messages', array['text', 'jsonb'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may execute complete_messages');
select function_privs_are('wapipe', 'complete_messages', array['text', 'jsonb'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'complete_messages', array['text', 'jsonb'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'complete_messages', array['text', 'jsonb'], 'public',
  array[]::text[], 'PUBLIC may not');
select function_privs_are('wapipe', '_release_conversation_leases', array['text[]'], 'wapipe_worker',
  array[]::text[], 'the private helper is granted to nobody');
select * from finish();
rollback;
