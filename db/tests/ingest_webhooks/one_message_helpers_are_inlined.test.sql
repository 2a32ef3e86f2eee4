-- The one-message reading's helpers (_sender_contact, _one_message_of) are inlined into the
-- statements and expressions that use them; a contact that is not the sender's is dropped.
begin;
select plan(5);

select unalike(wapipe_tests.plan_of($$ select wapipe._sender_contact(g::text, null, '{}')
                                  from generate_series(1, 2) g $$),
  '%_sender_contact%', '_sender_contact is inlined');
select unalike(wapipe_tests.plan_of($$ select wapipe._one_message_of('{}', jsonb_build_object('id', g::text), null, g)
                                  from generate_series(1, 2) g $$),
  '%_one_message_of%', '_one_message_of is inlined');
select is(wapipe._sender_contact('250700000001', null, '{"wa_id": "250700000001"}'),
  '{"wa_id": "250700000001"}'::jsonb, 'the sender''s by phone');
select is(wapipe._sender_contact(null, 'RW.1', '{"user_id": "RW.1"}'),
  '{"user_id": "RW.1"}'::jsonb, 'the sender''s by BSUID');
select is(wapipe._sender_contact('250700000001', null, '{"wa_id": "250700000002"}'),
  null, 'someone else''s: none');
select * from finish();
rollback;
