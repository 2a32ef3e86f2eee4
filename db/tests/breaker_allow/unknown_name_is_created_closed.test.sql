-- An unknown breaker name is created as a closed breaker of kind default.
begin;
select plan(3);
select wapipe_tests.reset();

select is(wapipe.breaker_allow('new-service'), 'closed', 'an unknown breaker allows the call');
select results_eq($$ select kind, state from wapipe.breakers where name = 'new-service' $$,
  $$ values ('default'::text, 'closed'::text) $$, 'created with kind default, closed');
select throws_ok($$ select wapipe.breaker_allow('') $$, '22023', null, 'an empty name is refused');

select * from finish();
rollback;
