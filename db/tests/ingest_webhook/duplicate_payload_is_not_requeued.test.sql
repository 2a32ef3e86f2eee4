-- The same payload delivered again (Meta retries for days) adds no queue entry.
begin;
select plan(5);
select wapipe_tests.reset();

select results_eq(
  $$ select new_messages, duplicates from wapipe.ingest_webhook(wapipe_tests.sample('text'), 'first') $$,
  $$ values (1, 0) $$, 'first delivery is new');
select results_eq(
  $$ select new_messages, duplicates from wapipe.ingest_webhook(wapipe_tests.sample('text'), 'again') $$,
  $$ values (0, 1) $$, 'second delivery is a duplicate');
-- days later, after the message was completed
update wapipe.processed_messages set status = 'done', processed_at = now(), received_at = now() - interval '3 days';
select results_eq(
  $$ select new_messages, duplicates from wapipe.ingest_webhook(wapipe_tests.sample('text'), 'days-later') $$,
  $$ values (0, 1) $$, 'a redelivery days later is still a duplicate');
select is((select count(*)::int from pgmq.q_wapipe_inbound), 1, 'one queue entry in total');
select is((select count(*)::int from wapipe.webhook_events), 3, 'every POST is kept as an event');

select * from finish();
rollback;
