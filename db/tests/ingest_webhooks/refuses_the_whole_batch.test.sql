-- A payload that is not a WhatsApp webhook refuses the whole call with 22023 naming it, and
-- stores nothing; a malformed item in a WhatsApp webhook sinks nothing.
begin;
select plan(5);
select wapipe_tests.reset();

select throws_ok(
  $$ select * from wapipe.ingest_webhooks(array[
       wapipe_tests.text_payload('250700000001', 'hi', 'wamid.ok'),
       '{"object": "page", "entry": []}'::jsonb], array['a', 'b']) $$,
  '22023', 'payload 2: not a WhatsApp webhook: "object" must be "whatsapp_business_account", got page',
  'a wrong object is refused with its place in the batch');
select throws_ok(
  $$ select * from wapipe.ingest_webhooks(array[wapipe_tests.sample('text')], array['a', 'b']) $$,
  '22023', 'ingest_webhooks: 2 correlation ids for 1 payloads', 'mismatched correlation ids are refused');
select ok(
  (select count(*) from wapipe.webhook_events) = 0 and (select count(*) from wapipe.processed_messages) = 0
  and (select count(*) from pgmq.q_wapipe_inbound) = 0 and (select count(*) from wapipe.message_statuses) = 0,
  'nothing was stored');
select is((select count(*)::int from wapipe.ingest_webhooks(array[]::jsonb[], array[]::text[])), 0,
  'an empty batch returns no rows');

select results_eq(
  $$ select ord, new_messages, quarantined from wapipe.ingest_webhooks(array[
       wapipe_tests.text_payload('250700000001', 'hi', 'wamid.ok'),
       wapipe_tests.text_payload('250700000002', 'hi') #- '{entry,0,changes,0,value,messages,0,from}'],
       array['a', 'b']) $$,
  $$ values (1, 1, 0), (2, 0, 1) $$,
  'a malformed message in one POST of the batch is quarantined; the other POST is stored');

select * from finish();
rollback;
