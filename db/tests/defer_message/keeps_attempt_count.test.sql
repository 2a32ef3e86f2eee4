-- A deferral is not an attempt: the attempt count stays, deferrals counts the give-back.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
-- one real failed attempt first
select wapipe_tests.fail_n_times(1);
select wapipe_tests.skip_backoff();
-- Test: claimed (attempt 2), then deferred three times
select wapipe_tests.claim_and_defer();
select wapipe_tests.pass_deferrals();
select wapipe_tests.claim_and_defer();
select wapipe_tests.pass_deferrals();
select wapipe_tests.claim_and_defer();
select row_eq($$ select status, attempts, deferrals, waiting_for from wapipe.processed_messages $$,
  row('queued'::text, 1, 3, 'waiter'::text), 'one attempt (the real call), three deferrals');
select is((select jsonb_array_length(error_history) from wapipe.processed_messages), 1,
  'deferrals do not fill the error history');
select wapipe_tests.pass_deferrals();
select is((select attempt from wapipe.get_next_queue_message('worker-1', 30, 1)), 2,
  'claimed again: the worker sees attempt 2, not 5');
-- the max_attempts rule counts real attempts only: a failure now is attempt 2 of 3, not the last
select isnt(wapipe.schedule_message_retry((select queue_msg_id from wapipe.processed_messages),
  'worker-1', 'agent_http_503: HTTP 503'), NULL, 'a real failure after deferrals is retried, not dead-lettered');
select is((select waiting_for from wapipe.processed_messages), NULL,
  'a real failure ends the waiting: it backs off as a retry');
select * from finish();
rollback;
