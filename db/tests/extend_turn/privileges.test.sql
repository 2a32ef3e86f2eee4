-- Only wapipe_worker may call extend_turn.
begin;
select plan(4);
select function_privs_are('wapipe', 'extend_turn', array['bigint', 'text', 'numeric'],
  'wapipe_worker', array['EXECUTE'], 'wapipe_worker may execute extend_turn');
select function_privs_are('wapipe', 'extend_turn', array['bigint', 'text', 'numeric'],
  'wapipe_ingress', array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'extend_turn', array['bigint', 'text', 'numeric'],
  'wapipe_monitor', array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'extend_turn', array['bigint', 'text', 'numeric'],
  'public', array[]::text[], 'PUBLIC may not');
select * from finish();
rollback;
