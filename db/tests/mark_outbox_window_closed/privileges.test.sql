-- The sender role may mark rows window_closed and take their fallback.
begin;
select plan(2);
select function_privs_are('wapipe', 'mark_outbox_window_closed', array['bigint', 'text', 'integer', 'text'],
  'wapipe_worker', array['EXECUTE'], 'wapipe_worker may execute mark_outbox_window_closed');
select function_privs_are('wapipe', 'use_outbox_window_fallback', array['bigint', 'text'],
  'wapipe_worker', array['EXECUTE'], 'wapipe_worker may execute use_outbox_window_fallback');
select * from finish();
rollback;
