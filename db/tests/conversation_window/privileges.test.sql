-- conversation_window: worker and monitor may read it; the helper is private; an empty key is refused.
begin;
select plan(4);
select function_privs_are('wapipe', 'conversation_window', array['text'], 'wapipe_worker', array['EXECUTE'],
  'wapipe_worker may execute conversation_window');
select function_privs_are('wapipe', 'conversation_window', array['text'], 'wapipe_monitor', array['EXECUTE'],
  'wapipe_monitor may execute conversation_window');
select function_privs_are('wapipe', '_window_closes_at', array['text'], 'wapipe_worker', array[]::text[],
  '_window_closes_at is private');
select throws_ok($$ select * from wapipe.conversation_window('') $$, '22023', null, 'an empty key is refused');
select * from finish();
rollback;
