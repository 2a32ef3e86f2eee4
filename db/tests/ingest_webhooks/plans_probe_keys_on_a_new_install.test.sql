-- The plans are made once per session and never scan a whole table, whatever the
-- statistics say: on a new install (tables never analysed, estimated nearly empty)
-- a plan made then must still find duplicates by key as the tables grow.
begin;
select plan(3);
select wapipe_tests.reset();

select is((select array_agg(c order by c) from unnest(
            (select proconfig from pg_proc where oid = 'wapipe.ingest_webhooks(jsonb[], text[])'::regprocedure)) c),
  array['enable_hashjoin=off', 'enable_mergejoin=off', 'enable_seqscan=off',
        'plan_cache_mode=force_generic_plan', 'search_path=""'],
  'generic plans, key probes only');

-- the plans are made now, on empty tables; then the table grows a lot
select lives_ok($$ select * from wapipe.ingest_webhook(wapipe_tests.text_payload('250700000001', 'hi', 'wamid.first'), 'c') $$,
  'first call makes the plans');
insert into wapipe.processed_messages (wamid, conversation_key, phone_number_id, from_wa_id,
  message_type, payload, wa_timestamp, priority, status, processed_at)
select 'wamid.filler.' || g, 'x:' || g, 'x', g::text, 'text', '{}', now(), 5, 'done', now()
from generate_series(1, 20000) g;
insert into wapipe.message_wamids (wamid, message_id)
select m.wamid, m.id from wapipe.processed_messages m where m.wamid like 'wamid.filler.%';
select results_eq(
  $$ select new_messages, duplicates from wapipe.ingest_webhook(
       wapipe_tests.text_payload('250700000001', 'hi', 'wamid.filler.17'), 'c') $$,
  $$ values (0, 1) $$, 'a duplicate is still found among 20 000 rows by the cached plan');

select * from finish();
rollback;
