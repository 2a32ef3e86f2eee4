-- Only wapipe_worker may call claim_messages.
begin;
select plan(4);
select function_privs_are('wapipe', 'claim_messages', array['text', 'integer', 'integer', 'text', 'text[]', 'jsonb', 'integer', 'interval', 'jsonb'],
  'wapipe_worker', array['EXECUTE'], 'wapipe_worker may execute claim_messages');
select function_privs_are('wapipe', 'claim_messages', array['text', 'integer', 'integer', 'text', 'text[]', 'jsonb', 'integer', 'interval', 'jsonb'],
  'wapipe_ingress', array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'claim_messages', array['text', 'integer', 'integer', 'text', 'text[]', 'jsonb', 'integer', 'interval', 'jsonb'],
  'wapipe_monitor', array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'claim_messages', array['text', 'integer', 'integer', 'text', 'text[]', 'jsonb', 'integer', 'interval', 'jsonb'],
  'public', array[]::text[], 'PUBLIC may not');
select * from finish();
rollback;
