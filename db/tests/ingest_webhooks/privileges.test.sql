-- Only wapipe_ingress may call ingest_webhooks; PUBLIC and the other roles may not.
begin;
select plan(4);
select wapipe_tests.reset();

select function_privs_are('wapipe', 'ingest_webhooks', array['jsonb[]', 'text[]'], 'wapipe_ingress',
  array['EXECUTE'], 'wapipe_ingress may execute ingest_webhooks');
select function_privs_are('wapipe', 'ingest_webhooks', array['jsonb[]', 'text[]'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'ingest_webhooks', array['jsonb[]', 'text[]'], 'public',
  array[]::text[], 'PUBLIC may not');

select wapipe_tests.sample('text') as text_sample \gset
set local role wapipe_ingress;
select lives_ok(format($$ select * from wapipe.ingest_webhooks(array[%L::jsonb], array['as-ingress']) $$,
  :'text_sample'), 'the ingress role ingests a batch');
reset role;

select * from finish();
rollback;
