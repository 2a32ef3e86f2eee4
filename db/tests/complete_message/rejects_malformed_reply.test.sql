-- A malformed reply, memory or workflow is refused (22023) and the claim stays intact.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
create temp table c on commit drop as select * from wapipe_tests.claim('worker-1') as msg_id;
select throws_ok(format($$ select * from wapipe.complete_message(%s, 'worker-1', '[{"text":{"body":"no type"}}]') $$,
  (select msg_id from c)), '22023', NULL, 'a reply without type');
select throws_ok(format($$ select * from wapipe.complete_message(%s, 'worker-1', memory => '{"append":[]}') $$,
  (select msg_id from c)), '22023', NULL, 'memory without memory_id');
select throws_ok(format($$ select * from wapipe.complete_message(%s, 'worker-1', workflow => '{"action":"jump"}') $$,
  (select msg_id from c)), '22023', NULL, 'unknown workflow action');
select row_eq($$ select status, claimed_by from wapipe.processed_messages $$, row('processing'::text, 'worker-1'::text),
  'still claimed by worker-1');
select * from finish();
rollback;
