-- The worker may start and end handoffs; expiry, the echo hook, the operator send and the table are the owner's.
begin;
select plan(9);
select function_privs_are('wapipe', 'start_handoff', array['text', 'text', 'text', 'integer'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may start a handoff');
select function_privs_are('wapipe', 'end_handoff', array['text', 'text'], 'wapipe_worker',
  array['EXECUTE'], 'wapipe_worker may end a handoff');
select function_privs_are('wapipe', 'list_handoffs', array['boolean', 'integer'], 'wapipe_monitor',
  array['EXECUTE'], 'wapipe_monitor may list handoffs (the status page)');
select function_privs_are('wapipe', 'expire_handoffs', array[]::text[], 'wapipe_worker', array[]::text[],
  'expire_handoffs is for pg_cron (owner)');
select function_privs_are('wapipe', '_handoff_on_echoes', array['wapipe.inbound_message[]', 'bigint[]'],
  'wapipe_ingress', array[]::text[], 'the echo hook is private to the ingest');
select function_privs_are('wapipe', 'queue_operator_message', array['text', 'jsonb', 'text', 'text'],
  'wapipe_worker', array[]::text[], 'operator sends are the owner''s');
select function_privs_are('wapipe', 'resolve_conversation', array['text', 'text'],
  'wapipe_monitor', array[]::text[], 'resolving a user is the owner''s');
select table_privs_are('wapipe', 'handoffs', 'wapipe_worker', array[]::text[], 'no role reads the table directly');
select is((select relrowsecurity from pg_class where oid = 'wapipe.handoffs'::regclass), true, 'RLS is on');
select * from finish();
rollback;
