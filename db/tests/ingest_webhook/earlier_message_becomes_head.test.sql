-- Meta delivers concurrently: a message with an earlier WhatsApp time that arrives later
-- becomes the head, unless the current head is already claimed.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe_tests.enqueue_text('250700000001', 'second', 'wamid.t2', wa_timestamp => 1700000002);
select wapipe_tests.enqueue_text('250700000001', 'first', 'wamid.t1', wa_timestamp => 1700000001);
select is((select m.wamid from wapipe.conversations c join wapipe.processed_messages m on m.id = c.head_message_id),
  'wamid.t1', 'the earlier message is the head');

update wapipe.conversations set locked_by = 'w1', locked_until = now() + interval '30 seconds';
select wapipe_tests.enqueue_text('250700000001', 'zeroth', 'wamid.t0', wa_timestamp => 1700000000);
select is((select m.wamid from wapipe.conversations c join wapipe.processed_messages m on m.id = c.head_message_id),
  'wamid.t1', 'a claimed head is never replaced');
select is((select count(*)::int from wapipe.processed_messages where status = 'queued'), 3,
  'all three messages wait');

select * from finish();
rollback;
