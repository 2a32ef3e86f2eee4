-- A refused item carries the SQLSTATE and message of its first refusal, in the order of
-- checks of _completion_refusal (the memory entries' as update_conversation_memory words them).
begin;
select plan(2);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('2507000000' || n, 'hi', 'wamid.' || n) from generate_series(21, 25) n;
create temp table mem on commit drop as
select (wapipe.get_or_create_conversation_memory('250700000021', 'demo')).id;
create temp table c on commit drop as
select m.wamid, q as msg_id from wapipe_tests.claim('worker-1') q join wapipe.processed_messages m on m.queue_msg_id = q;
create temp table r on commit drop as
select * from wapipe.complete_messages('worker-1', jsonb_build_array(
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.21'),
                     'memory', '{"memory_id": 1.5, "append": [{"role": "user", "content": "x"}]}'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.22'),
                     'memory', jsonb_build_object('memory_id', (select id from mem),
                                                  'append', '[{"role": "user"}]'::jsonb)),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.23'),
                     'memory', jsonb_build_object('memory_id', (select id from mem), 'context', '"fr"'::jsonb,
                                                  'append', '[{"role": "user", "content": "x"}]'::jsonb)),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.24'), 'memory', '[]'::jsonb),
  jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.25'),
                     'memory', jsonb_build_object('memory_id', (select id from mem),
                                 'append', '[{"role": "user", "content": "ok"}, {"role": null, "content": "x"}]'::jsonb))));
select results_eq($$ select ord, outcome, error_code, error from r order by ord $$,
  $$ values (1, 'rejected', '22P02', 'invalid input syntax for type bigint: "1.5"'),
            (2, 'rejected', '22023', 'update_conversation_memory: content must not be NULL'),
            (3, 'rejected', '22023', 'update_conversation_memory: context must be a JSON object, got string'),
            (4, 'rejected', '22023', 'memory must be {"memory_id": N, "append": [{"role": .., "content": ..}], "context": {..}}'),
            (5, 'rejected', '22023', 'update_conversation_memory: role must be user, assistant, system or tool, got NULL') $$,
  'complete_message''s SQLSTATE and message for each');
select is((select message_count from wapipe.ai_conversation_memory), 0, 'no entry appended by a refused item');
select * from finish();
rollback;
