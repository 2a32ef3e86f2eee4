-- Invariant 2 across weekly partitions: a wamid redelivered days later, its message in an
-- older week's partition, is a duplicate (message_wamids holds every wamid of the days kept),
-- however many days apart, and the revoke of a queued message found there too.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe.maintain_partitions();
select wapipe_tests.enqueue_text('250700000001', 'first', 'wamid.first');
select wapipe_tests.age_message('wamid.first', 7);
select wapipe.maintain_partitions();
select is(wapipe_tests.partition_of('wamid.first'), wapipe_tests.week_partition(now() - interval '7 days'),
  'the first delivery is in last week''s partition');
select results_eq($$ select new_messages, duplicates from wapipe.ingest_webhook(
    wapipe_tests.text_payload('250700000001', 'first', 'wamid.first'), 'again') $$,
  $$ values (0, 1) $$, 'a redelivery 7 days later is a duplicate');
select results_eq($$ select new_messages, duplicates from wapipe.ingest_webhooks(
    array[wapipe_tests.text_payload('250700000001', 'first', 'wamid.first'),
          wapipe_tests.text_payload('250700000001', 'other', 'wamid.other')], array['b1', 'b2']) $$,
  $$ values (0, 1), (1, 0) $$, 'in a batch too, beside a new message');
select is((select count(*)::int from wapipe.processed_messages where wamid = 'wamid.first'), 1,
  'one row for the wamid');
select is((select count(*)::int from pgmq.q_wapipe_inbound), 2, 'queued once, beside the new one');
select wapipe.ingest_webhook(jsonb_set(wapipe_tests.text_payload('250700000001', 'x', 'wamid.rev'),
  '{entry,0,changes,0,value,messages,0}',
  '{"from": "250700000001", "id": "wamid.rev", "timestamp": "1700000000", "type": "revoke",
    "revoke": {"original_message_id": "wamid.first"}}'), 'revoke');
select is((select message_type from wapipe.processed_messages where wamid = 'wamid.first'), 'revoked',
  'a revoke finds the queued original in its older partition');
select * from finish();
rollback;
