-- A user first seen without a phone is keyed by BSUID; a new user seen with both is keyed by
-- BSUID too; a phone revealed later joins the BSUID's key.
begin;
select plan(6);
select wapipe_tests.reset();

select wapipe.ingest_webhook(wapipe_tests.user_payload(null, 'RW.4471902245518830', 'hi', 'wamid.u1',
  'RW.ENT.9903318274405126', '@keza.rw'), 'a');
select is((select conversation_key from wapipe.processed_messages where wamid = 'wamid.u1'),
  '300100200300400:RW.4471902245518830', 'a username-only user is keyed by BSUID');
select is((select status from wapipe.processed_messages where wamid = 'wamid.u1'), 'queued', 'and queued');
select results_eq($$ select username, parent_bsuid, phone from wapipe.users $$,
  $$ values ('@keza.rw'::text, 'RW.ENT.9903318274405126'::text, null::text) $$,
  'username and parent BSUID are stored');

select wapipe.ingest_webhook(wapipe_tests.user_payload('250788999000', 'RW.4471902245518830', 'phone now', 'wamid.u2'), 'b');
select is((select conversation_key from wapipe.processed_messages where wamid = 'wamid.u2'),
  '300100200300400:RW.4471902245518830', 'a phone revealed later stays in the BSUID conversation');
-- an old-style phone-only webhook for that phone finds the user too
select wapipe.ingest_webhook(wapipe_tests.user_payload('250788999000', null, 'legacy', 'wamid.u3'), 'c');
select is((select from_wa_id from wapipe.processed_messages where wamid = 'wamid.u3'),
  'RW.4471902245518830', 'the phone is linked to the BSUID''s key');

select wapipe.ingest_webhook(wapipe_tests.user_payload('250788555000', 'RW.5550001112223', 'new', 'wamid.n1'), 'd');
select is((select from_wa_id from wapipe.processed_messages where wamid = 'wamid.n1'),
  'RW.5550001112223', 'a new user seen with phone and BSUID is keyed by BSUID');

select * from finish();
rollback;
