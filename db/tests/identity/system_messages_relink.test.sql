-- user_changed_number and user_changed_user_id link the new identifiers to the user's key:
-- the next message under the new id continues the same conversation. Groups key by group.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe.ingest_webhook(wapipe_tests.user_payload('250788100100', 'RW.1000000000001', 'hi', 'wamid.s1'), 'a');
-- the number changes: Meta's system message (no contacts) with the new phone and BSUID
select wapipe.ingest_webhook(jsonb_set(
  wapipe_tests.user_payload('250788100100', null, 'x', 'wamid.s2'),
  '{entry,0,changes,0,value,messages,0}',
  '{"from": "250788100100", "id": "wamid.s2", "timestamp": "1780000100", "type": "system",
    "system": {"body": "User changed number", "type": "user_changed_number",
               "wa_id": "250788200200", "user_id": "RW.2000000000002",
               "previous_user_id": "RW.1000000000001"}}'), 'b');
select is((select status || ' ' || handled_by from wapipe.processed_messages where wamid = 'wamid.s2'),
  'done recorded:system', 'a system message is recorded, not queued');
select wapipe.ingest_webhook(wapipe_tests.user_payload('250788200200', 'RW.2000000000002', 'new number', 'wamid.s3'), 'c');
select is((select from_wa_id from wapipe.processed_messages where wamid = 'wamid.s3'), 'RW.1000000000001',
  'the next message under the new phone and BSUID continues the conversation');

-- only the BSUID changes
select wapipe.ingest_webhook(jsonb_set(
  wapipe_tests.user_payload(null, 'RW.3000000000003', 'x', 'wamid.s4'),
  '{entry,0,changes,0,value,messages,0}',
  '{"from_user_id": "RW.3000000000003", "id": "wamid.s4", "timestamp": "1780000200", "type": "system",
    "system": {"body": "User changed id", "type": "user_changed_user_id",
               "user_id": "RW.3000000000003", "previous_user_id": "RW.2000000000002"}}'), 'd');
select wapipe.ingest_webhook(wapipe_tests.user_payload(null, 'RW.3000000000003', 'newest id', 'wamid.s5'), 'e');
select is((select from_wa_id from wapipe.processed_messages where wamid = 'wamid.s5'), 'RW.1000000000001',
  'after user_changed_user_id the new BSUID continues the conversation');
select is((select count(distinct conversation_key)::int from wapipe.processed_messages), 1,
  'one conversation throughout');

select wapipe.ingest_webhook(wapipe_tests.user_payload('250788100100', 'RW.1000000000001', 'in a group',
  'wamid.g1', extra => '{"group_id": "GRP123"}'), 'g');
select is((select conversation_key from wapipe.processed_messages where wamid = 'wamid.g1'),
  '300100200300400:group:GRP123', 'a group message belongs to the group''s conversation');

select * from finish();
rollback;
