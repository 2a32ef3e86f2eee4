-- The window closes 24 h after the user's last message, and each new message moves it; a handled one still counts.
begin;
select plan(5);
select wapipe_tests.reset();

select is((select closes_at from wapipe.conversation_window(wapipe_tests.conv('250700000001'))), null,
  'a user who never wrote has no window');
select wapipe_tests.inbound_ago('250700000001', '30 hours') as old_msg \gset
select is((select open from wapipe.conversation_window(wapipe_tests.conv('250700000001'))), false,
  'last message 30 h ago: closed');
select wapipe_tests.inbound_ago('250700000001', '2 hours') as new_msg \gset
select ok((select abs(extract(epoch from closes_at - (now() + interval '22 hours'))) < 2
           from wapipe.conversation_window(wapipe_tests.conv('250700000001'))),
  'a new message 2 h ago moves the close to 22 h from now');

-- handled: the queue forgets them, the conversation remembers its newest time
select wapipe.complete_message(c.msg_id, 'worker-1', null, null, null, 'test')
from wapipe.get_next_queue_message('worker-1', 30, 1) c;
select wapipe.complete_message(c.msg_id, 'worker-1', null, null, null, 'test')
from wapipe.get_next_queue_message('worker-1', 30, 1) c;
select is((select count(*)::int from wapipe.processed_messages where processed_at is null), 0, 'both handled');
select ok((select open and seconds_left between 22 * 3600 - 5 and 22 * 3600
           from wapipe.conversation_window(wapipe_tests.conv('250700000001'))),
  'the window still closes 24 h after the newest message once it is handled');

select * from finish();
rollback;
