-- The guard of the one-message path (_one_message_post): a POST it lets through, reached by
-- plain expressions, is stored exactly as the same message in a POST that takes the general
-- walk (here: with a second change). Both read the message with _inbound_message_of.
begin;
select plan(4);
select wapipe_tests.reset();

create temp table shapes (name text, phone text, bsuid text, parent text, username text) on commit drop;
insert into shapes values
  ('phone only', '250700000001', null, null, null),
  ('phone and bsuid', '250700000002', 'RW.2000000000002', null, null),
  ('bsuid only', null, 'RW.3000000000003', 'RW.ENT.3', '@three');

-- each shape alone (fast path), then again under another business number inside a POST
-- with a second, empty change (general walk)
select wapipe.ingest_webhook(wapipe_tests.user_payload(phone, bsuid, 'hi', 'wamid.fast.' || name,
                                                       parent, username, '111'), 'f')
from shapes;
select wapipe.ingest_webhook(jsonb_insert(
         wapipe_tests.user_payload(phone, bsuid, 'hi', 'wamid.walk.' || name, parent, username, '222'),
         '{entry,0,changes,1}', '{"field": "messages", "value": {"metadata": {"phone_number_id": "222"}}}'),
       'w')
from shapes;

create temp view stored as
select split_part(wamid, '.', 2) as path, split_part(wamid, '.', 3) as shape, split_part(conversation_key, ':', 2) as user_key, from_wa_id,
       message_type, priority, status, payload - 'id' as payload, contact, queue_msg_id is not null as queued,
       display_phone_number
from wapipe.processed_messages;

select results_eq(
  $$ select shape, user_key, from_wa_id, message_type, priority, status, payload, contact, queued,
            display_phone_number from stored where path = 'fast' order by shape $$,
  $$ select shape, user_key, from_wa_id, message_type, priority, status, payload, contact, queued,
            display_phone_number from stored where path = 'walk' order by shape $$,
  'every shape is stored the same on both paths');
select results_eq(
  $$ select user_key, bsuid, parent_bsuid, phone, username, profile_name from wapipe.users
     where phone_number_id = '111' order by user_key $$,
  $$ select user_key, bsuid, parent_bsuid, phone, username, profile_name from wapipe.users
     where phone_number_id = '222' order by user_key $$,
  'the users are recorded the same on both paths');
select results_eq(
  $$ select identifier, kind, user_key from wapipe.user_identifiers where phone_number_id = '111' order by 1 $$,
  $$ select identifier, kind, user_key from wapipe.user_identifiers where phone_number_id = '222' order by 1 $$,
  'and their identifiers');
select is((select count(*)::int from wapipe.processed_messages where status = 'queued'), 6,
  'all six are queued');

select * from finish();
rollback;
