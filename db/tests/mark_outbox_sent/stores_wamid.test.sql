-- mark_outbox_sent stores the wamid Meta returned and ends the lease; a repeat with the same wamid is a no-op.
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select lives_ok(format($$ select wapipe.mark_outbox_sent(%s, 'sender-1', 'wamid.out.1') $$, :id), 'the holder marks it sent');
select results_eq(format($$ select status, sent_wamid, sent_at = now(), locked_until is null from wapipe.outbox where id = %s $$, :id),
  $$ values ('sent', 'wamid.out.1', true, true) $$, 'sent with the wamid, lease ended');
select lives_ok(format($$ select wapipe.mark_outbox_sent(%s, 'sender-1', 'wamid.out.1') $$, :id),
  'a repeat (answer of the first call lost) is accepted');
select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$, 'a sent row is never claimed again');

select * from finish();
rollback;
