-- mark_outbox_unknown (send ended without an answer) leaves the row sending until the grace (default 30 s) passed, then a claim settles it.
begin;
select plan(5);
select wapipe_tests.reset();

select is((select value from wapipe.settings where key = 'outbox.unknown_outcome_grace_seconds'), '30'::jsonb,
  'the grace is a documented setting, 30 s by default');
select wapipe_tests.outbox_row() as id \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select is(wapipe.mark_outbox_unknown(:id, 'sender-1', 'read timeout') - now(), interval '30 seconds',
  'settled no earlier than the grace (30 s)');
select results_eq(format($$ select status, locked_by, locked_until = now(), send_started_at is not null, last_error
                            from wapipe.outbox where id = %s $$, :id),
  $$ values ('sending', 'sender-1', true, true, 'read timeout') $$, 'still sending, lease ended, started, reason kept');
select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$, 'not handed out within the grace');

update wapipe.outbox set locked_until = now() - interval '31 seconds', next_attempt_at = now() - interval '1 second'
 where id = :id;
insert into wapipe.message_statuses (wamid, status, status_rank, callback_data)
values ('wamid.out.accepted', 'sent', 2, 'outbox:' || :id);
select wapipe_tests.claim_outbox_ids('sender-2');
select results_eq(format($$ select status, sent_wamid from wapipe.outbox where id = %s $$, :id),
  $$ values ('sent', 'wamid.out.accepted') $$, 'Meta had accepted it: marked sent from the status, not re-sent');

select * from finish();
rollback;
