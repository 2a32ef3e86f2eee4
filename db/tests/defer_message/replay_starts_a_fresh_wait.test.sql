-- A message dead-lettered for waiting too long is replayable, and its replay waits afresh (the maximum wait counts again from its next deferral).
begin;
select plan(3);
select wapipe_tests.reset();
update wapipe.settings set value = '60' where key = 'retry.max_wait_seconds';
select wapipe_tests.enqueue_text('250700000001', 'hi');
select wapipe_tests.claim_and_defer();
select wapipe_tests.pass_deferrals();
select wapipe_tests.age_deferrals(interval '61 seconds');
select is(wapipe_tests.claim_and_defer(), NULL, 'dead-lettered after the maximum wait');
-- Test
select is((select count(*) from wapipe.requeue_dead_letters(ids => (select array_agg(id) from wapipe.dead_letters))),
  1::bigint, 'replayed');
select isnt(wapipe_tests.claim_and_defer(), NULL, 'the replay may wait again: deferred, not dead at once');
select * from finish();
rollback;
