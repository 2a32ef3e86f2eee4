-- Only a payload that is not a WhatsApp webhook object raises 22023 (and stores nothing);
-- a WhatsApp webhook is always stored, whatever it holds.
begin;
select plan(5);
select wapipe_tests.reset();

select throws_ok($$ select wapipe.ingest_webhook('{"object": "page", "entry": []}', 'x') $$,
  '22023', 'not a WhatsApp webhook: "object" must be "whatsapp_business_account", got page',
  'wrong object is refused');
select throws_ok($$ select wapipe.ingest_webhook('{"entry": []}', 'x') $$,
  '22023', 'not a WhatsApp webhook: "object" must be "whatsapp_business_account", got nothing',
  'missing object is refused');
select throws_ok($$ select wapipe.ingest_webhook('[1, 2]', 'x') $$,
  '22023', 'not a WhatsApp webhook: the body must be a JSON object', 'an array body is refused');
select throws_ok($$ select wapipe.ingest_webhook(null, 'x') $$,
  '22023', 'not a WhatsApp webhook: the body must be a JSON object', 'NULL is refused');
select ok(
  (select count(*) from wapipe.webhook_events) = 0 and (select count(*) from wapipe.processed_messages) = 0
  and (select count(*) from pgmq.q_wapipe_inbound) = 0 and (select count(*) from wapipe.quarantine) = 0,
  'nothing was stored');

select * from finish();
rollback;
