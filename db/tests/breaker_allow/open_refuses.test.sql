-- An open breaker refuses calls until open_seconds have passed.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe_tests.open_breaker('agent-o');
select is(wapipe.breaker_allow('agent-o'), 'open', 'refused right after opening');
select wapipe_tests.age_breaker('agent-o', 59);
select is(wapipe.breaker_allow('agent-o'), 'open', 'refused 59 s later (open_seconds 60)');
select is((select state from wapipe.breakers where name = 'agent-o'), 'open', 'refusing changes nothing');

select * from finish();
rollback;
