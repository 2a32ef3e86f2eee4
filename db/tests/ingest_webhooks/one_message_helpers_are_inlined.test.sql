-- The reading's helpers (_sender_contact, _inbound_message_of) are inlined into the
-- statements and expressions that use them; a contact that is not the sender's is dropped;
-- an echo is read as its recipient's.
begin;
select plan(8);

select unalike(wapipe_tests.plan_of($$ select wapipe._sender_contact(g::text, null, '{}')
                                  from generate_series(1, 2) g $$),
  '%_sender_contact%', '_sender_contact is inlined');
select unalike(wapipe_tests.plan_of($$ select wapipe._inbound_message_of('message',
                                    jsonb_build_object('id', g::text), null, '1', '2', 0, 0, g, 1, g)
                                  from generate_series(1, 2) g $$),
  '%_inbound_message_of%', '_inbound_message_of is inlined');
select is(wapipe._inbound_message_of('message',
            '{"id": "w1", "from": "250700000001", "from_user_id": "RW.1", "type": "text", "timestamp": "1764633841"}',
            '{"profile": {"name": "Ann", "username": "@ann"}}', '111', '+1 555', 1, 2, 3, 4, 5),
  row('w1', null, 'text', '111', '+1 555', 1764633841,
      '{"id": "w1", "from": "250700000001", "from_user_id": "RW.1", "type": "text", "timestamp": "1764633841"}',
      '{"profile": {"name": "Ann", "username": "@ann"}}', 1, 2, 3, 4, 'message', '250700000001', 'RW.1',
      null, null, '@ann', 'Ann', 5)::wapipe.inbound_message,
  'a message: its sender, type, time, contact and positions');
select is(wapipe._inbound_message_of('echo',
            '{"id": "w2", "from": "15550001111", "to": "250700000002", "to_user_id": "RW.2", "to_parent_user_id": "RW.P", "type": "text"}',
            null, '111', null, 0, 0, 0, 1, 1),
  row('w2', null, 'echo', '111', null, null,
      '{"id": "w2", "from": "15550001111", "to": "250700000002", "to_user_id": "RW.2", "to_parent_user_id": "RW.P", "type": "text"}',
      null, 0, 0, 0, 1, 'echo', '250700000002', 'RW.2', 'RW.P', null, null, null, 1)::wapipe.inbound_message,
  'an echo: its recipient is the user, its type is echo');
select is(wapipe._inbound_message_of('message', '{"id": "w3", "group_id": "G1", "from": "", "timestamp": "soon"}',
            null, '111', null, 0, 0, 0, 1, 1),
  row('w3', null, 'unknown', '111', null, null, '{"id": "w3", "group_id": "G1", "from": "", "timestamp": "soon"}'::jsonb,
   null, 0, 0, 0, 1, 'message', null, null, null, 'G1', null, null, 1)::wapipe.inbound_message,
  'no type: unknown; an empty sender and a time that is no number are NULL; the group kept');
select is(wapipe._sender_contact('250700000001', null, '{"wa_id": "250700000001"}'),
  '{"wa_id": "250700000001"}'::jsonb, 'the sender''s by phone');
select is(wapipe._sender_contact(null, 'RW.1', '{"user_id": "RW.1"}'),
  '{"user_id": "RW.1"}'::jsonb, 'the sender''s by BSUID');
select is(wapipe._sender_contact('250700000001', null, '{"wa_id": "250700000002"}'),
  null, 'someone else''s: none');
select * from finish();
rollback;
