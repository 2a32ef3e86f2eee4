-- Items appending to one memory session (a user writing to two business numbers) append in item
-- order, keep the newest memory.window_messages, count every entry, and merge contexts in order.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.a', phone_number_id => '300100200300400');
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.b', phone_number_id => '300100200300401');
create temp table mem on commit drop as
select (wapipe.get_or_create_conversation_memory('250700000001', 'demo')).id;
select wapipe.update_conversation_memory((select id from mem), 'user', 'old ' || n, '{"lang": "de", "a": 1}')
from generate_series(1, 18) n;
create temp table c on commit drop as
select m.wamid, q as msg_id from wapipe_tests.claim('worker-1') q join wapipe.processed_messages m on m.queue_msg_id = q;
create temp table r on commit drop as
select * from wapipe.complete_messages('worker-1', jsonb_build_array(
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.a'),
                     'memory', jsonb_build_object('memory_id', (select id from mem),
                                 'append', '[{"role":"user","content":"a1"},{"role":"assistant","content":"a2"}]'::jsonb,
                                 'context', '{"lang": "en", "b": 2}'::jsonb)),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.b'),
                     'memory', jsonb_build_object('memory_id', (select id from mem),
                                 'append', '[{"role":"user","content":"b1"},{"role":"assistant","content":"b2"}]'::jsonb,
                                 'context', '{"lang": "fr"}'::jsonb))));
select is((select array_agg(outcome order by ord) from r), array['done', 'done'], 'both done');
select is((select jsonb_path_query_array(messages, '$[*].content') from wapipe.ai_conversation_memory),
  (select jsonb_agg(x) from (select 'old ' || n as x from generate_series(3, 18) n
                             union all select unnest(array['a1', 'a2', 'b1', 'b2'])) s),
  'the newest 20 entries, appended in item order');
select is((select message_count from wapipe.ai_conversation_memory), 22, 'every entry counted');
select is((select context from wapipe.ai_conversation_memory), '{"a": 1, "b": 2, "lang": "fr"}'::jsonb,
  'contexts merged in item order, the later key wins');
select * from finish();
rollback;
