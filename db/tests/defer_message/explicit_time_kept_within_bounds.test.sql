-- An explicit time (next health check) is used as given, at least 1 s ahead and never past the end of the maximum wait.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
select is(wapipe_tests.claim_and_defer('waiter', now() + interval '25 seconds') - now(),
  interval '25 seconds', 'the given time');
select wapipe_tests.pass_deferrals();
select is(wapipe_tests.claim_and_defer('waiter', now() - interval '5 seconds') - now(),
  interval '1 second', 'a time in the past: one second from now (a deferral never spins)');
select wapipe_tests.pass_deferrals();
select wapipe_tests.age_deferrals(interval '50 seconds');
select is(wapipe_tests.claim_and_defer('waiter', now() + interval '1 hour', 'worker-1', 60) - now(),
  interval '10 seconds', 'capped at the end of the maximum wait (60 s, 50 s already waited)');
select * from finish();
rollback;
