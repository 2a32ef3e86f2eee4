-- A conversation in retry backoff is not claimed until its available_at has passed.
begin;
select plan(2);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
select wapipe_tests.fail_n_times(1);
select is_empty($$ select * from wapipe.get_next_queue_message('worker-1', 30, 10) $$,
  'in backoff: not claimable');
select wapipe_tests.skip_backoff();
select isnt_empty($$ select * from wapipe.get_next_queue_message('worker-1', 30, 10) $$,
  'backoff over: claimable again');
select * from finish();
rollback;
