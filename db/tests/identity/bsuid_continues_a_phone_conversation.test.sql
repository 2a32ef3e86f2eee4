-- A user known by phone who arrives with phone + BSUID, then with the BSUID alone, stays one
-- conversation: the same key, memory session, rate bucket and active workflow (invariant 8).
begin;
select plan(8);
select wapipe_tests.reset();

select wapipe.ingest_webhook(wapipe_tests.user_payload('250788123456', null, 'hi', 'wamid.p1'), 'a');
-- the phone-era state: a memory session and a running order workflow
select wapipe.get_or_create_conversation_memory('250788123456', 'waiter') \gset mem_
select wapipe.start_workflow('250788123456', 'order', 'choose_item', '{}', null, '300100200300400');
select wapipe.check_rate_limit('user:250788123456', 30, interval '1 minute');

select wapipe.ingest_webhook(wapipe_tests.user_payload('250788123456', 'RW.8820011937466214', 'again', 'wamid.p2'), 'b');
select wapipe.ingest_webhook(wapipe_tests.user_payload(null, 'RW.8820011937466214', 'no phone now', 'wamid.p3'), 'c');

select is((select count(distinct conversation_key)::int from wapipe.processed_messages), 1,
  'one conversation for the three messages');
select is((select min(from_wa_id) from wapipe.processed_messages), '250788123456',
  'filed under the key it began with');
select is((select user_key from wapipe.user_identifiers where identifier = 'RW.8820011937466214'),
  '250788123456', 'the BSUID is linked to the phone''s key');
select is((select (wapipe.get_or_create_conversation_memory(m.from_wa_id, 'waiter')).id
           from wapipe.processed_messages m where m.wamid = 'wamid.p3'),
  (select id from wapipe.ai_conversation_memory), 'the BSUID-only message finds the same memory session');
select is((select count(*)::int from wapipe.get_active_workflow(
             (select from_wa_id from wapipe.processed_messages where wamid = 'wamid.p3'))), 1,
  'and the running workflow');
select is((select count(*)::int from wapipe.rate_limit_buckets), 1, 'and one rate bucket');
select results_eq(
  $$ select bsuid, phone from wapipe.users $$,
  $$ values ('RW.8820011937466214'::text, '250788123456'::text) $$, 'the user has both identifiers');
select is((select contact->'identity' from wapipe.processed_messages where wamid = 'wamid.p3'),
  '{"user": "250788123456", "bsuid": "RW.8820011937466214", "phone": "250788123456", "name": "Test User"}'::jsonb,
  'the BSUID-only message is told the phone wapipe knows');

select * from finish();
rollback;
