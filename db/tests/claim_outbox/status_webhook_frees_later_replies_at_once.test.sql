-- When a status webhook for a row with an unknown outcome is stored, the recipient's next reply is claimable at once, even before the row's lease ended.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe_tests.outbox_row('250700000001') as a1 \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select wapipe_tests.start_send(:a1, 'sender-1');
-- sender-1 dies during the call (its lease still runs); the user's next reply is queued
select wapipe_tests.outbox_row('250700000001') as a2 \gset
select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$, 'the next reply waits behind the unknown one');

select wapipe_tests.outbox_status(:a1, 'wamid.a1');
select results_eq($$ select id from wapipe.claim_outbox('sender-2', 10, 30) $$, format('values (%s::bigint)', :a2),
  'Meta reported the first: the next reply is claimed at once, in order');
select results_eq(format($$ select status, locked_by from wapipe.outbox where id = %s $$, :a1),
  $$ values ('sending', 'sender-1') $$, 'the first is left to its lease');

select wapipe_tests.expire_outbox_lease(:a1, '1 second');
select is_empty($$ select * from wapipe.claim_outbox('sender-3', 10, 30) $$, 'it is never handed out again');
select results_eq(format($$ select status, sent_wamid from wapipe.outbox where id = %s $$, :a1),
  $$ values ('sent', 'wamid.a1') $$, 'once its lease ended it is settled as sent with the reported wamid');

select * from finish();
rollback;
