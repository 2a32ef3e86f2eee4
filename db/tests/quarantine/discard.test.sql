-- discard_quarantine marks held items discarded (no longer degrading health); owner only.
begin;
select plan(7);
select wapipe_tests.reset();
select wapipe.ingest_webhook('{"object": "whatsapp_business_account", "entry": {"a": 1}}', 'a');
select wapipe.ingest_webhook('{"object": "whatsapp_business_account", "entry": [7]}', 'b');
select throws_ok($$ select wapipe.discard_quarantine() $$, '22023',
  'choose quarantined items: ids or reason_like', 'a choice is required');
select is(wapipe.discard_quarantine(reason_like => '%"entry" must%'), 1, 'one item matched and discarded');
select results_eq($$ select status from wapipe.quarantine order by id $$,
  $$ values ('discarded'::text), ('held') $$, 'the other stays held');
select is((select (details->>'quarantined')::int from wapipe.system_health()), 1,
  'a discarded item no longer counts');
select is(wapipe.discard_quarantine(ids => (select array_agg(id) from wapipe.quarantine)), 1,
  'discarding again touches only held items');
select function_privs_are('wapipe', 'discard_quarantine', array['bigint[]', 'text'], 'wapipe_monitor',
  array[]::text[], 'the monitor role may not discard');
select function_privs_are('wapipe', 'discard_quarantine', array['bigint[]', 'text'], 'wapipe_ingress',
  array[]::text[], 'nor the ingress role');
select * from finish();
rollback;
