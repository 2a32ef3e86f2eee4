-- A wamid redelivered days later is recognised although its first event sits in another day's
-- partition: dedup is processed_messages' unique wamid (not partitioned), not the events.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000001', 'hi', 'wamid.again'), 'first');
select wapipe.complete_message(q.msg_id, 'worker-1', '{"type":"text","text":{"body":"ok"}}')
from wapipe.get_next_queue_message('worker-1', 30, 10) q;
update wapipe.webhook_events set received_at = now() - interval '6 days';
update wapipe.processed_messages set received_at = now() - interval '6 days', processed_at = now() - interval '6 days';
select wapipe.maintain_partitions();
select isnt((select tableoid::regclass::text from wapipe.webhook_events where correlation_id = 'first'),
  'wapipe.webhook_events_p' || to_char(now(), 'YYYY_MM_DD'), 'the first event is in an older day''s partition');
select is((select (duplicates, new_messages) from wapipe.ingest_webhook(
            wapipe_tests.text_payload('250700000001', 'hi', 'wamid.again'), 'again')),
  (1, 0), 'the redelivery six days later is a duplicate');
select is((select count(*)::int from wapipe.processed_messages), 1, 'one message');
select is((select count(*)::int from wapipe.outbox), 1, 'answered once');
select * from finish();
rollback;
