-- The same message twice in one batch is completed once (the first acceptable item wins, the
-- later one gets its result), and completing a finished message again returns the first result.
begin;
select plan(7);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1');
select wapipe_tests.enqueue_text('250700000002', 'hi', 'wamid.2');
create temp table mem on commit drop as
select (wapipe.get_or_create_conversation_memory('250700000001', 'demo')).id;
create temp table c on commit drop as
select m.wamid, q as msg_id from wapipe_tests.claim('worker-1') q join wapipe.processed_messages m on m.queue_msg_id = q;
create temp table r on commit drop as
select * from wapipe.complete_messages('worker-1', jsonb_build_array(
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.1'), 'reply', '42'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.1'),
                     'reply', '{"type":"text","text":{"body":"first"}}'::jsonb,
                     'memory', jsonb_build_object('memory_id', (select id from mem),
                                                  'append', '[{"role":"user","content":"hi"}]'::jsonb)),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.1'),
                     'reply', '{"type":"text","text":{"body":"second"}}'::jsonb,
                     'memory', jsonb_build_object('memory_id', (select id from mem),
                                                  'append', '[{"role":"user","content":"again"}]'::jsonb))));
select results_eq($$ select ord, outcome from r order by ord $$,
  $$ values (1, 'rejected'), (2, 'done'), (3, 'done') $$,
  'a malformed duplicate is refused, the acceptable ones are done');
select is((select row(message_id, outbox_ids, processing_ms)::text from r where ord = 3),
  (select row(message_id, outbox_ids, processing_ms)::text from r where ord = 2),
  'the later duplicate gets the first one''s result');
select results_eq($$ select body->'text'->>'body' from wapipe.outbox $$, $$ values ('first') $$,
  'one reply: the first acceptable item''s');
select is((select jsonb_path_query_array(messages, '$[*].content') from wapipe.ai_conversation_memory),
  '["hi"]'::jsonb, 'memory appended once');

create temp table again on commit drop as
select * from wapipe.complete_messages('worker-1', jsonb_build_array(
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.1'),
                     'reply', '{"type":"text","text":{"body":"third"}}'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.2'))));
select is((select row(outcome, message_id, outbox_ids, processing_ms)::text from again where ord = 1),
  (select row(outcome, message_id, outbox_ids, processing_ms)::text from r where ord = 2),
  'completing a finished message again returns the first result');
select is((select outcome from again where ord = 2), 'done', 'next to a fresh completion');
select is((select count(*) from wapipe.outbox), 1::bigint, 'nothing queued twice');
select * from finish();
rollback;
