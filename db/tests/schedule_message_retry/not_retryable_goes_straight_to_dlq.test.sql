-- A non-retryable error dead-letters at the first attempt.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
select is(wapipe_tests.fail_n_times(1, error => 'bad request', retryable => false), null::timestamptz,
  'returns NULL');
select row_eq($$ select attempts, error_code, history->>'error', history->>'worker'
                 from wapipe.dead_letters, jsonb_array_elements(error_history) history $$,
  row(1, null::text, 'bad request #1'::text, 'worker-1'::text), 'dead after one attempt, no error code');
select is((select status from wapipe.processed_messages), 'dead', 'the message is dead');
select * from finish();
rollback;
