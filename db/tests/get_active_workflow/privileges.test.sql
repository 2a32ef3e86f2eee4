-- get_active_workflow / get_recent_agent: callable by the worker role only.
begin;
select plan(4);

select function_privs_are('wapipe', 'get_active_workflow', array['text'], 'wapipe_worker',
  array['EXECUTE'], 'the worker may call get_active_workflow');
select function_privs_are('wapipe', 'get_active_workflow', array['text'], 'wapipe_ingress',
  array[]::text[], 'the ingress may not call get_active_workflow');
select function_privs_are('wapipe', 'get_recent_agent', array['text'], 'wapipe_worker',
  array['EXECUTE'], 'the worker may call get_recent_agent');
select function_privs_are('wapipe', 'get_recent_agent', array['text'], 'wapipe_ingress',
  array[]::text[], 'the ingress may not call get_recent_agent');

select * from finish();
rollback;
