-- _messages_of_items keeps only messages and echoes, in item order, with the sender's identifiers as the webhook gives them; an echo's user is its recipient.
begin;
select plan(6);

create temp table parsed on commit drop as
select wapipe._messages_of_items(array(
  select it from wapipe._webhook_items(array[jsonb_build_object(
    'object', 'whatsapp_business_account',
    'entry', jsonb_build_array(jsonb_build_object('id', 'waba', 'changes', jsonb_build_array(
      jsonb_build_object('field', 'messages', 'value', jsonb_build_object(
        'metadata', jsonb_build_object('phone_number_id', '111', 'display_phone_number', '15550001111'),
        'messages', jsonb_build_array(
          jsonb_build_object('id', 'wamid.a', 'from', '250700000001', 'from_user_id', 'RW.1',
                             'timestamp', '1700000000', 'type', 'text', 'text', jsonb_build_object('body', 'hi')),
          jsonb_build_object('id', 'wamid.b', 'from_user_id', 'RW.2', 'from_parent_user_id', 'RW.P2',
                             'timestamp', 'soon', 'type', 'text', 'text', jsonb_build_object('body', 'yo'))),
        'statuses', jsonb_build_array(jsonb_build_object('id', 'wamid.out', 'status', 'read',
                                                         'recipient_id', '250700000001')))),
      jsonb_build_object('field', 'smb_message_echoes', 'value', jsonb_build_object(
        'metadata', jsonb_build_object('phone_number_id', '111'),
        'message_echoes', jsonb_build_array(
          jsonb_build_object('id', 'wamid.echo', 'from', '15550001111', 'to', '250700000003',
                             'to_user_id', 'RW.3', 'timestamp', '1700000001', 'type', 'text',
                             'text', jsonb_build_object('body', 'staff here')))))))))])
    it order by it.payload_ord, it.entry_pos, it.change_pos, it.item_pos)) as msgs;

select is((select cardinality(msgs) from parsed), 3, 'two messages and one echo; the status is left out');
select is((select array_agg(m.wamid order by m.pos) from parsed, unnest(msgs) m),
          array['wamid.a', 'wamid.b', 'wamid.echo'], 'in item order');
select is((select (m.phone, m.bsuid, m.parent_bsuid, m.message_type, m.kind)::text
           from parsed, unnest(msgs) m where m.wamid = 'wamid.a'),
          '(250700000001,RW.1,,text,message)', 'a message: its sender''s phone and BSUID');
select is((select (m.phone, m.bsuid, m.parent_bsuid, m.wa_ts)::text
           from parsed, unnest(msgs) m where m.wamid = 'wamid.b'),
          '(,RW.2,RW.P2,)', 'no phone, a parent BSUID; an unreadable timestamp is NULL');
select is((select (m.phone, m.bsuid, m.message_type, m.kind)::text
           from parsed, unnest(msgs) m where m.wamid = 'wamid.echo'),
          '(250700000003,RW.3,echo,echo)', 'an echo: its recipient is the user');
select is(wapipe._messages_of_items('{}'), null::wapipe.inbound_message[], 'no items: NULL');

select * from finish();
rollback;
