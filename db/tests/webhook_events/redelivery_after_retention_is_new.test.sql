-- By design: once a message is older than the retention (cleanup_old_messages, 7 days; Meta retries
-- for at most 7), its wamid is forgotten and a redelivery is accepted as a new message.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000001', 'hi', 'wamid.late'), 'first');
select wapipe.complete_message(q.msg_id, 'worker-1', '{"type":"text","text":{"body":"ok"}}')
from wapipe.get_next_queue_message('worker-1', 30, 10) q;
update wapipe.webhook_events set received_at = now() - interval '9 days';
update wapipe.processed_messages set received_at = now() - interval '9 days', processed_at = now() - interval '9 days';
select wapipe.maintain_partitions();
select wapipe.cleanup_old_messages();
select is_empty($$ select 1 from wapipe.webhook_events union all select 1 from wapipe.processed_messages $$::text,
  'the day''s events are dropped and the message deleted');
select is((select (duplicates, new_messages) from wapipe.ingest_webhook(
            wapipe_tests.text_payload('250700000001', 'hi', 'wamid.late'), 'late')),
  (0, 1), 'a redelivery after the retention is a new message');
select is((select count(*)::int from pgmq.q_wapipe_inbound), 1, 'and is queued again');
select * from finish();
rollback;
