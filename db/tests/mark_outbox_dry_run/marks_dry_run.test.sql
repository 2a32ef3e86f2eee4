-- mark_outbox_dry_run keeps the row in the outbox as dry_run (never sent, never claimed again); non-holders get WA001.
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select throws_ok(format($$ select wapipe.mark_outbox_dry_run(%s, 'sender-2') $$, :id), 'WA001', null,
  'another worker is refused');
select lives_ok(format($$ select wapipe.mark_outbox_dry_run(%s, 'sender-1') $$, :id), 'the holder marks it');
select results_eq(format($$ select status, sent_wamid, sent_at, locked_until from wapipe.outbox where id = %s $$, :id),
  $$ values ('dry_run', null::text, null::timestamptz, null::timestamptz) $$, 'dry_run, no wamid, not sent');
select is_empty($$ select * from wapipe.claim_outbox('sender-1', 10, 30) $$, 'a dry_run row is not claimed again');

select * from finish();
rollback;
