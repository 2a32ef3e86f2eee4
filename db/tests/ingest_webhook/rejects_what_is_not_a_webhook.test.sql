-- A payload that is not a WhatsApp webhook raises 22023 with a clear message and stores nothing.
begin;
select plan(9);
select wapipe_tests.reset();

select throws_ok($$ select wapipe.ingest_webhook('{"object": "page", "entry": []}', 'x') $$,
  '22023', 'not a WhatsApp webhook: "object" must be "whatsapp_business_account", got page',
  'wrong object is refused');
select throws_ok($$ select wapipe.ingest_webhook('{"object": "whatsapp_business_account"}', 'x') $$,
  '22023', 'not a WhatsApp webhook: "entry" must be an array', 'missing entry is refused');
select throws_ok($$ select wapipe.ingest_webhook('{"object": "whatsapp_business_account", "entry": {}}', 'x') $$,
  '22023', 'not a WhatsApp webhook: "entry" must be an array', 'entry that is not an array is refused');
select throws_ok($$ select wapipe.ingest_webhook('[1, 2]', 'x') $$,
  '22023', 'not a WhatsApp webhook: the body must be a JSON object', 'an array body is refused');
select throws_ok($$ select wapipe.ingest_webhook(null, 'x') $$,
  '22023', 'not a WhatsApp webhook: the body must be a JSON object', 'NULL is refused');
select throws_like(
  $$ select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000001', 'hi') #- '{entry,0,changes,0,value,messages,0,id}', 'x') $$,
  'malformed message at entry[0].changes[0].value.messages[0]%', 'a message without id is refused with its position');
select throws_like(
  $$ select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000001', 'hi') #- '{entry,0,changes,0,value,metadata}', 'x') $$,
  'malformed message%', 'a message without metadata.phone_number_id is refused');
select throws_like(
  $$ select wapipe.ingest_webhook(wapipe_tests.sample('status_read') #- '{entry,0,changes,0,value,statuses,0,status}', 'x') $$,
  'malformed status at entry[0].changes[0].value.statuses[0]%', 'a status without status is refused');
select ok(
  (select count(*) from wapipe.webhook_events) = 0 and (select count(*) from wapipe.processed_messages) = 0
  and (select count(*) from pgmq.q_wapipe_inbound) = 0,
  'nothing was stored');

select * from finish();
rollback;
