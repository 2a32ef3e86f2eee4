-- mark_outbox_failed refuses (WA001) a worker that does not hold the row, and leaves the row alone.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select throws_ok(format($$ select wapipe.mark_outbox_failed(%s, 'sender-2', 131000, 'x', true) $$, :id), 'WA001', null,
  'another worker is refused');
select throws_ok(format($$ select wapipe.mark_outbox_failed(%s, 'sender-1', 131000, 'x', null) $$, :id), '22023', null,
  'retryable NULL is refused');
select results_eq(format($$ select status, locked_by, error_code from wapipe.outbox where id = %s $$, :id),
  $$ values ('sending', 'sender-1', null::integer) $$, 'the row is untouched');

select * from finish();
rollback;
