-- Each kind of update means what it means: revoke cancels a still-queued original, edit rewrites
-- one, reactions and echoes are recorded (never queued), request_welcome is queued for the
-- agent, other fields are stored as updates, statuses by BSUID are matched by wamid.
begin;
select plan(11);
select wapipe_tests.reset();

select wapipe.ingest_webhook(wapipe_tests.user_payload('250788123456', 'RW.8820011937466214', 'first', 'wamid.k1'), 'a');
select wapipe.ingest_webhook(wapipe_tests.user_payload('250788123456', 'RW.8820011937466214', 'typo', 'wamid.k2'), 'b');
-- the user deletes the first and edits the second while both wait
select wapipe.ingest_webhook(jsonb_set(wapipe_tests.user_payload('250788123456', 'RW.8820011937466214', 'x', 'wamid.k3'),
  '{entry,0,changes,0,value,messages,0}',
  '{"from": "250788123456", "from_user_id": "RW.8820011937466214", "id": "wamid.k3", "timestamp": "1780000010",
    "type": "revoke", "revoke": {"original_message_id": "wamid.k1"}}'), 'c');
select wapipe.ingest_webhook(jsonb_set(wapipe_tests.user_payload('250788123456', 'RW.8820011937466214', 'x', 'wamid.k4'),
  '{entry,0,changes,0,value,messages,0}',
  '{"from": "250788123456", "from_user_id": "RW.8820011937466214", "id": "wamid.k4", "timestamp": "1780000020",
    "type": "edit", "edit": {"original_message_id": "wamid.k2",
                             "message": {"type": "text", "text": {"body": "fixed"}}}}'), 'd');
select is((select message_type from wapipe.processed_messages where wamid = 'wamid.k1'), 'revoked',
  'a revoked message still queued is marked revoked (answered with nothing)');
select is((select payload #>> '{text,body}' from wapipe.processed_messages where wamid = 'wamid.k2'), 'fixed',
  'an edited message still queued is handled in its edited form');
select is((select payload->>'id' from wapipe.processed_messages where wamid = 'wamid.k2'), 'wamid.k2',
  'and keeps its own id');
select results_eq(
  $$ select wamid, status, handled_by, queue_msg_id is null from wapipe.processed_messages
     where wamid in ('wamid.k3', 'wamid.k4') order by wamid $$,
  $$ values ('wamid.k3'::text, 'done'::text, 'recorded:revoke'::text, true),
            ('wamid.k4', 'done', 'recorded:edit', true) $$,
  'the revoke and the edit themselves are recorded, not queued');

-- a reaction and an echo from the business app: recorded in the user's conversation
select wapipe.ingest_webhook(wapipe_tests.sample('reaction'), 'r');
select is((select status || ' ' || handled_by from wapipe.processed_messages where message_type = 'reaction'),
  'done recorded:reaction', 'a reaction is recorded');
select wapipe.ingest_webhook(wapipe_tests.sample('smb_message_echo'), 'e');
select results_eq(
  $$ select message_type, handled_by, from_wa_id, queue_msg_id is null from wapipe.processed_messages
     where wamid = 'wamid.HBgMMjUwNzg4MTIzNDU2FQIAERgSRUNITzAwMDAwMDAwMDAwMDEA' $$,
  $$ values ('echo'::text, 'recorded:business_app'::text, 'RW.8820011937466214'::text, true) $$,
  'an echo is the business''s turn in the user''s conversation, never queued');

-- request_welcome: queued for the agent to greet
select wapipe.ingest_webhook(jsonb_set(wapipe_tests.user_payload('250700000777', null, 'x', 'wamid.w1'),
  '{entry,0,changes,0,value,messages,0}',
  '{"from": "250700000777", "id": "wamid.w1", "timestamp": "1780000030", "type": "request_welcome"}'), 'w');
select is((select status from wapipe.processed_messages where wamid = 'wamid.w1'), 'queued',
  'request_welcome is queued for the agent');

-- other fields are stored as updates; a call's status never enters message_statuses
select wapipe.ingest_webhook('{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
  {"field": "calls", "value": {"metadata": {"phone_number_id": "300100200300400"},
   "statuses": [{"id": "wacid.1", "status": "RINGING", "type": "call"}]}},
  {"field": "user_preferences", "value": {"user_preferences": [{"value": "stop"}]}}]}]}', 'u');
select results_eq($$ select field from wapipe.webhook_updates order by field $$,
  $$ values ('calls'::text), ('user_preferences') $$, 'other fields are stored as updates');
select is((select count(*)::int from wapipe.message_statuses where wamid = 'wacid.1'), 0,
  'a call state never enters message_statuses');

-- a status addressed by BSUID only is matched by wamid
select wapipe.ingest_webhook(wapipe_tests.sample('status_read_username_user'), 's');
select results_eq($$ select status, recipient_id, recipient_user_id from wapipe.message_statuses
                     where wamid = 'wamid.OUTBOUND0042' $$,
  $$ values ('read'::text, null::text, 'RW.4471902245518830'::text) $$,
  'a status by BSUID only is stored under its wamid');
select is((select count(*)::int from wapipe.processed_messages where status = 'queued'), 3,
  'the two originals and the welcome are the only queued messages');

select * from finish();
rollback;
