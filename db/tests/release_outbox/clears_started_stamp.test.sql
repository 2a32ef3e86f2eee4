-- A started row given back unsent (breaker open) loses its started stamp: when claimed and abandoned later it is not mistaken for an unknown outcome.
begin;
select plan(2);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select wapipe_tests.start_send(:id, 'sender-1');
select is(wapipe.release_outbox(array[:id]::bigint[], 'sender-1', 0), 1, 'given back');
select results_eq(format($$ select status, send_started_at, attempts from wapipe.outbox where id = %s $$, :id),
  $$ values ('pending', null::timestamptz, 0) $$, 'pending, not started, no attempt counted');

select * from finish();
rollback;
