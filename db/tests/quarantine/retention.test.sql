-- cleanup_quarantine deletes quarantine items and non-message updates past their retention.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe.ingest_webhook('{"object": "whatsapp_business_account", "entry": {}}', 'old');
select wapipe.ingest_webhook('{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
  {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}]}]}', 'upd');
select wapipe.ingest_webhook('{"object": "whatsapp_business_account", "entry": 7}', 'new');
update wapipe.quarantine set received_at = now() - interval '31 days' where id = (select min(id) from wapipe.quarantine);
update wapipe.webhook_updates set received_at = now() - interval '8 days';
select is(wapipe.cleanup_quarantine(), 2, 'the old item and the old update are deleted');
select is((select count(*)::int from wapipe.quarantine), 1, 'the recent item is kept');
select is((select count(*)::int from wapipe.webhook_updates), 0, 'no update is left');
select * from finish();
rollback;
