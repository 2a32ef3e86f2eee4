-- Each queued message type gets the priority of priority_rules; unknown types get 0 and are still queued.
begin;
select plan(8);
select wapipe_tests.reset();

select wapipe.ingest_webhook(wapipe_tests.sample(s), s)
from unnest(array['text', 'image', 'interactive_button_reply', 'order', 'reaction', 'unsupported', 'button']) s;

select is((select priority from wapipe.processed_messages where message_type = 'text'), 5::smallint, 'text 5');
select is((select priority from wapipe.processed_messages where message_type = 'image'), 3::smallint, 'media 3');
select is((select priority from wapipe.processed_messages where message_type = 'interactive'), 8::smallint, 'interactive 8');
select is((select priority from wapipe.processed_messages where message_type = 'order'), 8::smallint, 'order 8');
select is((select status || ' ' || (queue_msg_id is null) from wapipe.processed_messages where message_type = 'reaction'),
  'done true', 'a reaction is recorded, not queued');
select is((select priority from wapipe.processed_messages where message_type = 'unsupported'), 0::smallint, 'unsupported 0');

-- a type nobody has heard of yet
select wapipe.ingest_webhook(
  jsonb_set(wapipe_tests.text_payload('250700000009', 'x', 'wamid.novel'),
            '{entry,0,changes,0,value,messages,0,type}', '"hologram"'), 'novel');
select results_eq(
  $$ select m.priority, m.status, (q.msg_id is not null)
     from wapipe.processed_messages m left join pgmq.q_wapipe_inbound q on q.msg_id = m.queue_msg_id
     where m.wamid = 'wamid.novel' $$,
  $$ values (0::smallint, 'queued', true) $$,
  'an unknown type is stored and queued with priority 0');
select is((select headers->>'priority' from pgmq.q_wapipe_inbound q
           join wapipe.processed_messages m on m.queue_msg_id = q.msg_id where m.message_type = 'order'),
          '8', 'the queue entry carries the priority header');

select * from finish();
rollback;
