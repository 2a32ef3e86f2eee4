-- Only wapipe_worker may call keyword_agent.
begin;
select plan(4);
select function_privs_are('wapipe', 'keyword_agent', array['text', 'jsonb'],
  'wapipe_worker', array['EXECUTE'], 'wapipe_worker may execute keyword_agent');
select function_privs_are('wapipe', 'keyword_agent', array['text', 'jsonb'],
  'wapipe_ingress', array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'keyword_agent', array['text', 'jsonb'],
  'wapipe_monitor', array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'keyword_agent', array['text', 'jsonb'],
  'public', array[]::text[], 'PUBLIC may not');
select * from finish();
rollback;
