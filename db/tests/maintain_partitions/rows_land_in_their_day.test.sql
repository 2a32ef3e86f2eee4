-- Each row of the partitioned history lands in the partition of its own day.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000001', 'hi', 'wamid.day'), 'c1');
select is((select tableoid::regclass::text from wapipe.webhook_events),
  'wapipe.webhook_events_p' || to_char(now(), 'YYYY_MM_DD'), 'an event received now is in today''s partition');
select wapipe_tests.record_calls('agent-x', 1, 0);
select is((select tableoid::regclass::text from wapipe.service_calls),
  'wapipe.service_calls_p' || to_char(now(), 'YYYY_MM_DD'), 'a service call is in today''s partition');
select wapipe.complete_message(q.msg_id, 'worker-1', '{"type":"text","text":{"body":"ok"}}')
from wapipe.get_next_queue_message('worker-1', 30, 10) q;
select is((select tableoid::regclass::text from pgmq.a_wapipe_inbound),
  'pgmq.a_wapipe_inbound_p' || to_char(now(), 'YYYY_MM_DD'), 'an archived queue entry is in today''s partition');
-- a row whose day changes moves with it
update wapipe.webhook_events set received_at = now() - interval '2 days';
select is((select tableoid::regclass::text from wapipe.webhook_events),
  'wapipe.webhook_events_p' || to_char(now() - interval '2 days', 'YYYY_MM_DD'),
  'an event of two days ago is in that day''s partition');
select * from finish();
rollback;
