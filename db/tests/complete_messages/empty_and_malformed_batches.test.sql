-- An empty batch returns no rows and changes nothing; a batch that is not an array of items with
-- integer msg_ids is refused as a whole (22023).
begin;
select plan(5);
select wapipe_tests.reset();
select is_empty($$ select * from wapipe.complete_messages('worker-1', '[]') $$, 'an empty batch: no rows');
select throws_ok($$ select * from wapipe.complete_messages('worker-1', '{"msg_id": 1}') $$, '22023',
  'items must be a JSON array of {"msg_id", "reply", "memory", "workflow", "handled_by"}', 'not an array');
select throws_ok($$ select * from wapipe.complete_messages('worker-1', null) $$, '22023', NULL, 'NULL');
select throws_ok($$ select * from wapipe.complete_messages('worker-1', '[{"reply": null}]') $$, '22023',
  'every item needs an integer msg_id', 'an item without msg_id');
select throws_ok($$ select * from wapipe.complete_messages('worker-1', '[{"msg_id": 1.5}]') $$, '22023',
  'every item needs an integer msg_id', 'a msg_id that is not an integer');
select * from finish();
rollback;
