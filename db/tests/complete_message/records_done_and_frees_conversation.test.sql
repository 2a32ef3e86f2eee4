-- complete_message archives the message, records the outcome and frees the conversation for its next message.
begin;
select plan(7);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'one', 'wamid.1', wa_timestamp => 1764000001);
select wapipe_tests.enqueue_text('250700000001', 'two', 'wamid.2', wa_timestamp => 1764000002);
create temp table c on commit drop as select * from wapipe_tests.claim('worker-1') as msg_id;
update wapipe.processed_messages set claimed_at = now() - interval '1.5 seconds' where wamid = 'wamid.1';
create temp table r on commit drop as
select * from wapipe.complete_message((select msg_id from c), 'worker-1', handled_by => 'demo-agent');
select row_eq($$ select message_id, outbox_ids, processing_ms from r $$,
  row((select id from wapipe.processed_messages where wamid = 'wamid.1'), '{}'::bigint[], 1500),
  'returns the message id, no outbox ids, and the processing time');
select row_eq($$ select status, processed_at, processing_ms, handled_by from wapipe.processed_messages where wamid = 'wamid.1' $$,
  row('done'::text, now(), 1500, 'demo-agent'::text), 'done, with time and handler');
select is((select count(*) from pgmq.q_wapipe_inbound where msg_id = (select msg_id from c)), 0::bigint,
  'gone from the queue');
select is((select count(*) from pgmq.a_wapipe_inbound where msg_id = (select msg_id from c)), 1::bigint,
  'archived in pgmq');
select is((select m.wamid from wapipe.conversations co join wapipe.processed_messages m on m.id = co.head_message_id),
  'wamid.2', 'the next message is the head');
select results_eq($$ select q.wamid from wapipe.get_next_queue_message('worker-2', 30, 10) q $$,
  $$ values ('wamid.2') $$, 'and is claimable at once, by any worker');
select * from wapipe.get_next_queue_message('worker-3', 30, 10);
select is((select count(*) from wapipe.conversations where head_message_id is null), 0::bigint,
  'the conversation still has a head while its last message is open');
select * from finish();
rollback;
