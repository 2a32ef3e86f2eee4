-- Items held in quarantine make the system degraded (not critical) and are counted in details.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe.ingest_webhook('{"object": "whatsapp_business_account", "entry": {"odd": 1}}', 'q');
select is((select status from wapipe.system_health('{"cron_silence_degraded_seconds": 1e9}')), 'degraded',
  'a held item is degraded');
select ok((select '1 webhook item(s) in quarantine (wapipe quarantine list)' = any (reasons)
           from wapipe.system_health()), 'with its reason');
select is((select (details->>'quarantined')::int from wapipe.system_health()), 1, 'counted in details');
select * from finish();
rollback;
