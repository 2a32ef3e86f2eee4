-- What a WhatsApp webhook holds that cannot be read is quarantined with its reason and path,
-- next to its raw event, and never sinks the readable items of the same POST.
begin;
select plan(8);
select wapipe_tests.reset();

-- one POST: a good message, a message without id, one without sender, a status without status
select wapipe.ingest_webhook(jsonb_set(
  wapipe_tests.text_payload('250700000001', 'hi', 'wamid.good'),
  '{entry,0,changes,0,value,messages}',
  jsonb_build_array(
    wapipe_tests.text_payload('250700000001', 'hi', 'wamid.good') #> '{entry,0,changes,0,value,messages,0}',
    (wapipe_tests.text_payload('250700000001', 'no id') #> '{entry,0,changes,0,value,messages,0}')::jsonb - 'id'::text,
    (wapipe_tests.text_payload('250700000001', 'no sender', 'wamid.nofrom') #> '{entry,0,changes,0,value,messages,0}')::jsonb - 'from'::text))
  || '{}'::jsonb, 'mixed');
select is((select count(*)::int from wapipe.processed_messages where wamid = 'wamid.good'), 1,
  'the readable message is stored');
select is((select status from wapipe.processed_messages where wamid = 'wamid.good'), 'queued',
  'and queued');
select results_eq(
  $$ select path, reason from wapipe.quarantine order by path $$,
  $$ values ('entry[0].changes[0].value.messages[1]', 'a message needs an "id" string'),
            ('entry[0].changes[0].value.messages[2]',
             'a message needs a sender: "from", "from_user_id" or "group_id"') $$,
  'each unreadable message is quarantined with its path and reason');
select is((select quarantined from wapipe.webhook_events), 2, 'the event counts them');
select ok((select bool_and(q.webhook_event_id = e.id) from wapipe.quarantine q, wapipe.webhook_events e),
  'each is kept next to its raw event');
select is((select replay_payload #>> '{entry,0,changes,0,value,messages,0,text,body}'
           from wapipe.quarantine where path like '%[2]'), 'no sender',
  'the replay payload holds the item alone in a webhook envelope');

-- a WhatsApp webhook whose entry is not an array: stored, quarantined whole
select wapipe.ingest_webhook('{"object": "whatsapp_business_account", "entry": {"odd": true}}', 'odd');
select is((select reason from wapipe.quarantine where path = 'entry'), '"entry" must be an array',
  'an entry that is not an array is quarantined');
select is((select count(*)::int from wapipe.webhook_events), 2, 'both POSTs are stored as raw events');

select * from finish();
rollback;
