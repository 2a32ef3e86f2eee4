-- In one batch each item gets its own outcome: a refused item (claim lost, malformed) leaves no
-- trace and carries complete_message's SQLSTATE and message, while the others complete.
begin;
select plan(8);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('2507000000' || n, 'hi', 'wamid.' || n) from generate_series(11, 16) n;
create temp table mem on commit drop as
select (wapipe.get_or_create_conversation_memory('250700000011', 'demo')).id;
create temp table c on commit drop as
select m.wamid, q as msg_id from wapipe_tests.claim('worker-1') q join wapipe.processed_messages m on m.queue_msg_id = q;
create temp table r on commit drop as
select * from wapipe.complete_messages('worker-1', jsonb_build_array(
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.11'), 'reply', '"plain text"'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.12'), 'reply', '[{"text":{"body":"x"}}]'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.13'),
                     'memory', jsonb_build_object('memory_id', (select id from mem),
                                                  'append', '[{"role":"bot","content":"x"}]'::jsonb)),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.14'),
                     'memory', '{"memory_id": -5, "append": [{"role":"user","content":"x"}]}'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.15'), 'workflow', '{"action":"jump"}'::jsonb),
  jsonb_build_object('msg_id', 987654321, 'reply', '{"type":"text","text":{"body":"x"}}'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.16'),
                     'reply', '{"type":"text","text":{"body":"ok"}}'::jsonb,
                     'memory', jsonb_build_object('memory_id', (select id from mem),
                                                  'append', '[{"role":"user","content":"hi"}]'::jsonb))));

select results_eq($$ select ord, outcome, error_code from r order by ord $$,
  $$ values (1, 'rejected', '22023'), (2, 'rejected', '22023'), (3, 'rejected', '22023'),
            (4, 'rejected', '22023'), (5, 'rejected', '22023'), (6, 'claim_lost', 'WA001'),
            (7, 'done', null) $$,
  'each item its own outcome and SQLSTATE');
select results_eq($$ select error from r where ord <= 6 order by ord $$,
  $$ values ('reply must be a Graph API message object or an array of them'),
            ('every reply must be an object with a "type", e.g. {"type":"text","text":{"body":"hi"}}'),
            ('update_conversation_memory: role must be user, assistant, system or tool, got ''bot'''),
            ('update_conversation_memory: no conversation memory with id -5'),
            ('workflow.action must be start, advance, complete or fail, got jump'),
            ('worker worker-1 does not hold the claim on message 987654321') $$,
  'with the message complete_message raises');
select is((select message_id from r where ord = 6), null, 'a refused item has no result');
select results_eq($$ select wamid, status from wapipe.processed_messages order by wamid $$,
  $$ values ('wamid.11', 'processing'), ('wamid.12', 'processing'), ('wamid.13', 'processing'),
            ('wamid.14', 'processing'), ('wamid.15', 'processing'), ('wamid.16', 'done') $$,
  'refused messages are still processing (the worker retries or dead-letters them)');
select results_eq($$ select source_key from wapipe.outbox $$, $$ values ('wamid.16') $$,
  'only the completed message has a reply');
select is((select jsonb_path_query_array(messages, '$[*].content') from wapipe.ai_conversation_memory),
  '["hi"]'::jsonb, 'only the completed message''s memory entry was appended');
select is((select count(*) from wapipe.conversations where locked_by = 'worker-1'), 5::bigint,
  'refused items keep their lease');
select is((select count(*) from pgmq.q_wapipe_inbound), 5::bigint, 'and their queue entry');
select * from finish();
rollback;
