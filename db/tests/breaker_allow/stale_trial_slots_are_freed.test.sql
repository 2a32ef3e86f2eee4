-- Trials whose workers died never report; after open_seconds without an outcome their slots are freed.
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe_tests.open_breaker('agent-s', 61);
select wapipe.breaker_allow('agent-s') from generate_series(1, 3);
select is(wapipe.breaker_allow('agent-s'), 'open', 'all trial slots taken');
-- 59 s without any outcome: still waiting for the trials.
select wapipe_tests.age_breaker('agent-s', 59);
select is(wapipe.breaker_allow('agent-s'), 'open', 'slots still held 59 s later');
select wapipe_tests.age_breaker('agent-s', 1);
select is(wapipe.breaker_allow('agent-s'), 'half_open', 'after open_seconds with no outcome a new trial is admitted');
select is((select half_open_in_flight from wapipe.breakers where name = 'agent-s'), 1,
  'the dead trials were forgotten');

select * from finish();
rollback;
