-- Only wapipe_ingress may call ingest_webhook; PUBLIC and the other roles may not.
begin;
select plan(5);
select wapipe_tests.reset();

select function_privs_are('wapipe', 'ingest_webhook', array['jsonb', 'text'], 'wapipe_ingress',
  array['EXECUTE'], 'wapipe_ingress may execute ingest_webhook');
select function_privs_are('wapipe', 'ingest_webhook', array['jsonb', 'text'], 'wapipe_monitor',
  array[]::text[], 'wapipe_monitor may not');
select function_privs_are('wapipe', 'ingest_webhook', array['jsonb', 'text'], 'public',
  array[]::text[], 'PUBLIC may not');

select wapipe_tests.sample('text') as text_sample \gset
set local role wapipe_ingress;
select lives_ok(format($$ select wapipe.ingest_webhook(%L::jsonb, 'as-ingress') $$, :'text_sample'),
  'the ingress role ingests');
select throws_ok($$ select count(*) from wapipe.processed_messages $$, '42501', null,
  'the ingress role cannot read the tables');
reset role;

select * from finish();
rollback;
