-- _store_other_items writes quarantined items (with a replay payload of their own), value.errors and other fields' updates, each with its payload's raw event id; messages and statuses are left to their steps.
begin;
select plan(6);
select wapipe_tests.reset();

create temp table body on commit drop as
select jsonb_build_object(
  'object', 'whatsapp_business_account',
  'entry', jsonb_build_array(jsonb_build_object('id', 'waba', 'changes', jsonb_build_array(
    jsonb_build_object('field', 'messages', 'value', jsonb_build_object(
      'metadata', jsonb_build_object('phone_number_id', '111'),
      'messages', jsonb_build_array(
        jsonb_build_object('id', 'wamid.ok', 'from', '250700000001', 'type', 'text',
                           'text', jsonb_build_object('body', 'hi')),
        jsonb_build_object('type', 'text', 'from', '250700000001')),
      'errors', jsonb_build_array(jsonb_build_object('code', 131051, 'title', 'Unsupported')))),
    jsonb_build_object('field', 'account_update', 'value', jsonb_build_object('event', 'VERIFIED')))))) as b;

select wapipe._store_other_items(
  array(select it from wapipe._webhook_items(array[(select b from body)]) it
        order by it.payload_ord, it.entry_pos, it.change_pos, it.item_pos),
  array[4242::bigint], array[(select b from body)]);

select is((select count(*)::int from wapipe.quarantine where webhook_event_id = 4242), 1,
  'the message with no id is quarantined');
select is((select replay_payload #>> '{entry,0,changes,0,value,messages,0,type}' from wapipe.quarantine
           where webhook_event_id = 4242), 'text', 'with a replay payload around that one item');
select is((select replay_payload #> '{entry,0,changes,0,value,messages}' from wapipe.quarantine
           where webhook_event_id = 4242) ? 'wamid.ok', false, 'which does not carry the good message');
select is((select code from wapipe.webhook_errors where webhook_event_id = 4242), 131051,
  'the value.errors entry is recorded with its code');
select is((select field from wapipe.webhook_updates where webhook_event_id = 4242), 'account_update',
  'the other field is stored as an update');
select is((select count(*)::int from wapipe.processed_messages), 0, 'the good message is not this step''s');

select * from finish();
rollback;
