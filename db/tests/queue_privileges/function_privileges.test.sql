-- Workers may run the queue life cycle; cleanups and DLQ replay are for the owner only.
begin;
select plan(30);
select function_privs_are('wapipe', f, args, 'wapipe_worker', array['EXECUTE'], f || ': wapipe_worker may execute')
from (values
  ('get_next_queue_message', array['text', 'integer', 'integer']),
  ('acquire_message_lock', array['bigint', 'text', 'integer']),
  ('release_message_lock', array['bigint', 'text']),
  ('acquire_conversation_lock', array['text', 'text', 'integer']),
  ('release_conversation_lock', array['text', 'text']),
  ('schedule_message_retry', array['bigint', 'text', 'text', 'boolean']),
  ('complete_message', array['bigint', 'text', 'jsonb', 'jsonb', 'jsonb', 'text'])) w(f, args);
select function_privs_are('wapipe', f, args, r, array[]::text[], f || ': nothing for ' || r)
from (values
  ('get_next_queue_message', array['text', 'integer', 'integer']),
  ('complete_message', array['bigint', 'text', 'jsonb', 'jsonb', 'jsonb', 'text']),
  ('schedule_message_retry', array['bigint', 'text', 'text', 'boolean']),
  ('acquire_message_lock', array['bigint', 'text', 'integer']),
  ('acquire_conversation_lock', array['text', 'text', 'integer'])) w(f, args)
cross join (values ('wapipe_ingress'), ('wapipe_monitor')) r(r);
select function_privs_are('wapipe', f, args, r, array[]::text[], f || ': operators only, not ' || r)
from (values
  ('requeue_dead_letters', array['bigint[]', 'text', 'text', 'timestamp with time zone', 'integer', 'boolean']),
  ('cleanup_old_messages', array['interval']),
  ('cleanup_stale_message_locks', array['interval']),
  ('cleanup_stuck_webhook_conversations', array['interval'])) w(f, args)
cross join (values ('wapipe_worker'), ('wapipe_ingress'), ('wapipe_monitor')) r(r);
select function_privs_are('wapipe', '_release_conversation_lease', array['text'], 'wapipe_worker', array[]::text[],
  '_release_conversation_lease: a private helper, granted to nobody');
select * from finish();
rollback;
