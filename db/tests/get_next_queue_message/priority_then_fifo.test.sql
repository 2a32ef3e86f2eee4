-- Claims serve higher priority first, then the longest waiting.
begin;
select plan(3);
select wapipe_tests.reset();
-- Setup: three text conversations received 30, 20, 10 s ago and one fresh interactive (8 > 5)
create temp table ids on commit drop as
select wapipe_tests.enqueue_text('250700000001', 'a') as a, wapipe_tests.enqueue_text('250700000002', 'b') as b,
       wapipe_tests.enqueue_text('250700000003', 'c') as c, wapipe_tests.enqueue_type('250700000004', 'interactive') as i;
select wapipe_tests.age_message(b, '30 seconds'), wapipe_tests.age_message(a, '20 seconds'),
       wapipe_tests.age_message(c, '10 seconds') from ids;
-- Test
select results_eq(
  $$ select q.message_id from wapipe.get_next_queue_message('worker-1', 30, 10) q $$,
  $$ select unnest(array[i, b, a, c]) from ids $$,
  'interactive first, then the texts oldest first');
select is((select count(*) from wapipe.processed_messages where status = 'processing'), 4::bigint,
  'all four heads are claimed');
select is_empty($$ select * from wapipe.get_next_queue_message('worker-2', 30, 10) $$,
  'nothing left for another worker');
select * from finish();
rollback;
