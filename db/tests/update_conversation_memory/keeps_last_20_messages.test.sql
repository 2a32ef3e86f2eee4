-- Appending 25 messages keeps the newest 20 in order; message_count counts all 25.
begin;
select plan(6);
select wapipe_tests.reset();

select (wapipe.get_or_create_conversation_memory('250700000001', 'support')).id as mem_id \gset
select is(
  array_agg(wapipe.update_conversation_memory(:mem_id, case when g % 2 = 1 then 'user' else 'assistant' end,
                                              'message ' || g) order by g),
  array[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,20,20,20,20,20],
  'each append returns the messages kept, capped at 20')
from generate_series(1, 25) g;

select is((select jsonb_array_length(messages) from wapipe.ai_conversation_memory where id = :mem_id),
  20, '20 messages are kept');
select is((select message_count from wapipe.ai_conversation_memory where id = :mem_id),
  25, 'message_count counts all 25 appended');
select is(
  (select array_agg(m->>'content' order by ord)
     from wapipe.ai_conversation_memory, jsonb_array_elements(messages) with ordinality e(m, ord)
    where id = :mem_id),
  (select array_agg('message ' || g order by g) from generate_series(6, 25) g),
  'the oldest 5 were dropped and the order is kept');
select is(
  (select (messages->0) - 'at'::text from wapipe.ai_conversation_memory where id = :mem_id),
  '{"role": "assistant", "content": "message 6"}'::jsonb, 'each message holds role and content');
select ok(
  (select (messages->19->>'at')::timestamptz is not null from wapipe.ai_conversation_memory where id = :mem_id),
  'each message holds its time');

select * from finish();
rollback;
