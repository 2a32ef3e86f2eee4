-- A day older than the table's retention setting is dropped whole; younger days stay.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe.maintain_partitions();
select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000001', 'old', 'wamid.old'), 'c1');
select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000002', 'mid', 'wamid.mid'), 'c2');
select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000003', 'new', 'wamid.new'), 'c3');
-- before any partition of their day exists: through the default partition
update wapipe.webhook_events set received_at = now() - interval '10 days' where correlation_id = 'c1';
update wapipe.webhook_events set received_at = now() - interval '3 days' where correlation_id = 'c2';
select wapipe.maintain_partitions();
select results_eq($$ select correlation_id from wapipe.webhook_events order by 1 $$,
  $$ values ('c2'), ('c3') $$, 'the event of 10 days ago is gone with its day (retention 7 days)');
select ok(to_regclass('wapipe.webhook_events_p' || to_char(now() - interval '10 days', 'YYYY_MM_DD')) is null,
  'its partition is dropped, not emptied');
select is_empty($$ select 1 from wapipe.webhook_events_default $$, 'the default partition is empty');

update wapipe.settings set value = '2' where key = 'retention.webhook_events_days';
select cmp_ok(wapipe.maintain_partitions(), '>=', 1, 'a shorter retention drops more days');
select results_eq($$ select correlation_id from wapipe.webhook_events $$, $$ values ('c3') $$,
  'the event of 3 days ago is gone with a 2-day retention');
select is((select count(*)::int from wapipe.processed_messages), 3,
  'today''s messages (the dedup window) stay: their own retention, retention.messages_days');
select * from finish();
rollback;
