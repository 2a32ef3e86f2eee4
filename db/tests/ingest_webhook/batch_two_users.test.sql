-- The batch sample: 3 messages in 2 conversations plus a status, in order, with FIFO groups.
begin;
select plan(7);
select wapipe_tests.reset();

select results_eq(
  $$ select new_messages, duplicates, statuses from wapipe.ingest_webhook(wapipe_tests.sample('batch_two_users'), 'cid-b') $$,
  $$ values (3, 0, 1) $$,
  'three new messages and one status');
select is((select count(distinct conversation_key)::int from wapipe.processed_messages), 2,
  'two conversations');
select is((select count(*)::int from pgmq.q_wapipe_inbound), 3, 'three queue entries');
select results_eq(
  $$ select q.headers->>'x-pgmq-group', q.message->>'wamid' from pgmq.q_wapipe_inbound q
     where q.headers->>'x-pgmq-group' = '300100200300400:250788123456' order by q.msg_id $$,
  $$ values ('300100200300400:250788123456', 'wamid.BATCH0000000000000000000000000001'),
            ('300100200300400:250788123456', 'wamid.BATCH0000000000000000000000000003') $$,
  'the user who wrote twice has both messages in order under one FIFO group');
select is(
  (select m.wamid from wapipe.conversations c join wapipe.processed_messages m on m.id = c.head_message_id
   where c.conversation_key = '300100200300400:250788123456'),
  'wamid.BATCH0000000000000000000000000001',
  'the head of that conversation is its first message');
select is((select count(*)::int from wapipe.message_statuses), 1, 'the status is recorded');
select is((select correlation_id from wapipe.webhook_events), 'cid-b',
  'the raw event is kept with its correlation id');

select * from finish();
rollback;
