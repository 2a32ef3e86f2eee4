-- A one-message POST is read by plain expressions (the short path); the general walk
-- must store exactly the same for the same message. A POST with an empty statuses
-- array takes the general walk, so the two can be compared column by column.
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000001', 'hi', 'wamid.short', wa_timestamp => 1700000000), 'c');
select wapipe.ingest_webhook(
  jsonb_set(wapipe_tests.text_payload('250700000002', 'hi', 'wamid.general', wa_timestamp => 1700000000),
            '{entry,0,changes,0,value,statuses}', '[]'), 'c');
-- a sender who is not the one contact listed: no contact on either path
select wapipe.ingest_webhook(
  jsonb_set(wapipe_tests.text_payload('250700000003', 'x', 'wamid.short.nocontact'),
            '{entry,0,changes,0,value,contacts,0,wa_id}', '"250799999999"'), 'c');
select wapipe.ingest_webhook(
  jsonb_set(jsonb_set(wapipe_tests.text_payload('250700000004', 'x', 'wamid.general.nocontact'),
            '{entry,0,changes,0,value,contacts,0,wa_id}', '"250799999999"'),
            '{entry,0,changes,0,value,statuses}', '[]'), 'c');

select is(
  (select jsonb_build_object('type', message_type, 'pn', phone_number_id, 'display', display_phone_number,
            'ts', wa_timestamp, 'priority', priority, 'payload', payload - 'id' - 'from',
            'contact', contact - 'wa_id', 'status', status)
   from wapipe.processed_messages where wamid = 'wamid.short'),
  (select jsonb_build_object('type', message_type, 'pn', phone_number_id, 'display', display_phone_number,
            'ts', wa_timestamp, 'priority', priority, 'payload', payload - 'id' - 'from',
            'contact', contact - 'wa_id', 'status', status)
   from wapipe.processed_messages where wamid = 'wamid.general'),
  'both paths store the same message');
select ok((select contact is not null from wapipe.processed_messages where wamid = 'wamid.short'),
  'the short path keeps the sender''s contact');
select results_eq(
  $$ select contact from wapipe.processed_messages where wamid like '%nocontact' order by wamid $$,
  $$ values (null::jsonb), (null::jsonb) $$, 'no contact for a sender not listed, on either path');
select results_eq(
  $$ select new_messages, duplicates, statuses from wapipe.webhook_events order by id $$,
  $$ values (1, 0, 0), (1, 0, 0), (1, 0, 0), (1, 0, 0) $$, 'the same counts');

select * from finish();
rollback;
