-- Account-level errors in value.errors are kept with their code.
begin;
select plan(2);
select wapipe_tests.reset();

select results_eq(
  $$ select errors, new_messages from wapipe.ingest_webhook(wapipe_tests.sample('value_errors'), 'e') $$,
  $$ values (1, 0) $$, 'one error, no message');
select is((select code from wapipe.webhook_errors),
  (wapipe_tests.sample('value_errors') #>> '{entry,0,changes,0,value,errors,0,code}')::int,
  'the error code is stored');

select * from finish();
rollback;
