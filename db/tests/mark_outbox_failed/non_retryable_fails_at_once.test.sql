-- A non-retryable failure (131047, 131026, 131048, 190) fails the row on its first attempt.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select is(wapipe.mark_outbox_failed(:id, 'sender-1', 131047, '24-hour window closed', false), null::timestamptz,
  'non-retryable: NULL (no next attempt)');
select results_eq(format($$ select status, attempts, error_code, last_error from wapipe.outbox where id = %s $$, :id),
  $$ values ('failed', 1, 131047, '24-hour window closed') $$, 'failed after one attempt with code and reason');
select is_empty($$ select * from wapipe.claim_outbox('sender-1', 10, 30) $$, 'a failed row is never claimed again');

select * from finish();
rollback;
