-- By design: once a message's week is past the retention (retention.messages_days, 7; Meta
-- retries for at most 7), maintain_partitions drops the week with its wamids, and a redelivery is
-- accepted as a new message. (15 days: past the retention whatever the weekday today.)
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.maintain_partitions();
select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000001', 'hi', 'wamid.late'), 'first');
select wapipe.complete_message(q.msg_id, 'worker-1', '{"type":"text","text":{"body":"ok"}}')
from wapipe.get_next_queue_message('worker-1', 30, 10) q;
update wapipe.webhook_events set received_at = now() - interval '15 days';
select wapipe_tests.age_message('wamid.late', 15);
select wapipe.maintain_partitions();
select is_empty($$ select 1 from wapipe.webhook_events union all select 1 from wapipe.processed_messages $$::text,
  'the day''s events and messages are dropped');
select is_empty($$ select 1 from wapipe.message_wamids $$, 'and the day''s wamids with them');
select is((select (duplicates, new_messages) from wapipe.ingest_webhook(
            wapipe_tests.text_payload('250700000001', 'hi', 'wamid.late'), 'late')),
  (0, 1), 'a redelivery after the retention is a new message');
select is((select count(*)::int from pgmq.q_wapipe_inbound), 1, 'and is queued again');
select * from finish();
rollback;
