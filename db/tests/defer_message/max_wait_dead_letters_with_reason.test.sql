-- Past the maximum wait (retry.max_wait_seconds, from the first deferral) the message goes to the dead letters as service_unavailable_too_long.
begin;
select plan(6);
select wapipe_tests.reset();
update wapipe.settings set value = '600' where key = 'retry.max_wait_seconds';
select wapipe_tests.enqueue_text('250700000001', 'first', 'wamid.first');
select wapipe_tests.enqueue_text('250700000001', 'second', 'wamid.second');
select wapipe_tests.claim_and_defer();
select wapipe_tests.pass_deferrals();
select wapipe_tests.age_deferrals(interval '599 seconds');
select isnt(wapipe_tests.claim_and_defer(), NULL, 'within the maximum wait: deferred again');
select wapipe_tests.pass_deferrals();
select wapipe_tests.age_deferrals(interval '2 seconds');
-- Test
select is(wapipe_tests.claim_and_defer(), NULL, 'past the maximum wait: dead-lettered');
select row_eq($$ select error_code, attempts, wamid from wapipe.dead_letters $$,
  row('service_unavailable_too_long'::text, 0, 'wamid.first'::text),
  'error code service_unavailable_too_long, no attempt spent');
select matches((select last_error from wapipe.dead_letters),
  '^service_unavailable_too_long: waiter unavailable for 60[0-9] s \(max wait 600 s\); last: breaker_open: ',
  'the reason names the service, the wait and the last refusal');
select is((select status from wapipe.processed_messages where wamid = 'wamid.first'), 'dead', 'the message is dead');
select is((select wamid from wapipe.get_next_queue_message('worker-1', 30, 10)), 'wamid.second',
  'the conversation moves on to its next message');
select * from finish();
rollback;
