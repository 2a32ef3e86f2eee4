-- complete_messages completes every item like complete_message: done with its processing time,
-- archived, replies queued in item order, memory appended, each conversation on to its next message.
begin;
select plan(9);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'one', 'wamid.1a', wa_timestamp => 1764000001);
select wapipe_tests.enqueue_text('250700000001', 'two', 'wamid.1b', wa_timestamp => 1764000002);
select wapipe_tests.enqueue_text('250700000002', 'hi', 'wamid.2a');
select wapipe_tests.enqueue_text('250700000003', 'hi', 'wamid.3a');
create temp table mem on commit drop as
select (wapipe.get_or_create_conversation_memory('250700000002', 'demo')).id;
create temp table c on commit drop as
select m.wamid, q as msg_id from wapipe_tests.claim('worker-1') q join wapipe.processed_messages m on m.queue_msg_id = q;
update wapipe.processed_messages set claimed_at = now() - interval '1.5 seconds' where wamid = 'wamid.1a';
create temp table r on commit drop as
select * from wapipe.complete_messages('worker-1', jsonb_build_array(
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.1a'), 'handled_by', 'demo',
                     'reply', '[{"type":"text","text":{"body":"a"}},{"type":"text","text":{"body":"b"}}]'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.2a'), 'handled_by', 'demo',
                     'reply', '{"type":"text","text":{"body":"c"}}'::jsonb,
                     'memory', jsonb_build_object('memory_id', (select id from mem),
                                 'append', '[{"role":"user","content":"hi"},{"role":"assistant","content":"c"}]'::jsonb,
                                 'context', '{"lang":"en"}'::jsonb)),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.3a'))));

select results_eq($$ select ord, outcome, message_id, cardinality(outbox_ids), error_code from r order by ord $$,
  $$ values (1, 'done', (select id from wapipe.processed_messages where wamid = 'wamid.1a'), 2, null::text),
            (2, 'done', (select id from wapipe.processed_messages where wamid = 'wamid.2a'), 1, null),
            (3, 'done', (select id from wapipe.processed_messages where wamid = 'wamid.3a'), 0, null) $$,
  'one row per item, in order, all done');
select is((select processing_ms from r where ord = 1), 1500, 'processing time from the claim');
select results_eq($$ select wamid, status, processed_at = now(), handled_by from wapipe.processed_messages
                     where wamid in ('wamid.1a', 'wamid.2a', 'wamid.3a') order by wamid $$,
  $$ values ('wamid.1a', 'done', true, 'demo'), ('wamid.2a', 'done', true, 'demo'),
            ('wamid.3a', 'done', true, null) $$,
  'each message done, with its handler');
select is((select count(*) from pgmq.q_wapipe_inbound), 1::bigint, 'only the next message is left in the queue');
select is((select count(*) from pgmq.a_wapipe_inbound), 3::bigint, 'the three are archived in pgmq');
select results_eq($$ select source_key, seq, body->'text'->>'body', to_wa_id from wapipe.outbox order by id $$,
  $$ values ('wamid.1a', 0::smallint, 'a', '250700000001'), ('wamid.1a', 1::smallint, 'b', '250700000001'),
            ('wamid.2a', 0::smallint, 'c', '250700000002') $$,
  'replies queued in item order, seq per message');
select is((select outbox_ids from r where ord = 1),
  (select array_agg(id order by seq) from wapipe.outbox where source_key = 'wamid.1a'), 'outbox ids returned');
select row_eq($$ select jsonb_path_query_array(messages, '$[*].content'), message_count, context from wapipe.ai_conversation_memory $$,
  row('["hi", "c"]'::jsonb, 2, '{"lang": "en"}'::jsonb), 'memory appended, counted, context merged');
select results_eq($$ select co.conversation_key, co.locked_by, m.wamid from wapipe.conversations co
                     left join wapipe.processed_messages m on m.id = co.head_message_id order by 1 $$,
  $$ values (wapipe_tests.conv('250700000001'), null::text, 'wamid.1b'),
            (wapipe_tests.conv('250700000002'), null, null), (wapipe_tests.conv('250700000003'), null, null) $$,
  'leases released; the next message is the head, idle conversations have none');
select * from finish();
rollback;
