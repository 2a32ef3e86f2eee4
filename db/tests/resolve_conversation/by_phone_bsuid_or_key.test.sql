-- An operator names a user by phone (with or without +), BSUID or conversation key and gets the one conversation
-- (a user first seen with phone and BSUID is keyed by the BSUID).
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.ingest_webhook(wapipe_tests.user_payload('250788123456', 'RW.8820011937466214', 'hi', 'wamid.r1'), 'a');
select results_eq($$ select conversation_key from wapipe.resolve_conversation('+250788123456') $$,
  $$ values ('300100200300400:RW.8820011937466214'::text) $$, 'by phone with +');
select results_eq($$ select conversation_key from wapipe.resolve_conversation('RW.8820011937466214') $$,
  $$ values ('300100200300400:RW.8820011937466214'::text) $$, 'by BSUID: the same conversation');
select results_eq($$ select user_key from wapipe.resolve_conversation('300100200300400:RW.8820011937466214') $$,
  $$ values ('RW.8820011937466214'::text) $$, 'by conversation key');
select is_empty($$ select * from wapipe.resolve_conversation('250700009999') $$, 'an unknown user: no rows');
select * from finish();
rollback;
