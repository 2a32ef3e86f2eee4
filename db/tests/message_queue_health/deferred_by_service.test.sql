-- message_queue_health counts the messages waiting for an unavailable service, per service, and not as retrying.
begin;
select plan(2);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'one', 'wamid.one');
select wapipe_tests.enqueue_text('250700000001', 'two', 'wamid.two');
select wapipe_tests.enqueue_text('250700000002', 'three', 'wamid.three');
select wapipe_tests.fail_n_times(1);  -- a real failed attempt of one head first
select wapipe_tests.skip_backoff();
select wapipe_tests.claim_and_defer('waiter', now() + interval '1 hour');
select wapipe_tests.claim_and_defer('payments', now() + interval '1 hour');
-- Test
select results_eq($$ select priority, queued, retrying, deferred, deferred_by_service
                     from wapipe.message_queue_health $$,
  $$ values (5::smallint, 3::bigint, 0::bigint, 3::numeric, '{"waiter": 2, "payments": 1}'::jsonb) $$,
  'three queued text messages: none retrying, three waiting (two for waiter, one for payments)');
select wapipe_tests.pass_deferrals();
select count(*) from wapipe.get_next_queue_message('worker-1', 30, 10);
select results_eq($$ select processing, deferred, deferred_by_service from wapipe.message_queue_health $$,
  $$ values (2::bigint, 0::numeric, '{}'::jsonb) $$, 'claimed again: no longer waiting');
select * from finish();
rollback;
