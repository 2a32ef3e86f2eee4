-- A started row whose sender died is marked sent, not re-sent, as soon as its lease ended when Meta reported a status for outbox:<id>.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select wapipe_tests.start_send(:id, 'sender-1');
-- sender-1 was killed after Meta accepted the message; the status webhook came in
insert into wapipe.message_statuses (wamid, phone_number_id, recipient_id, status, status_rank, status_at, callback_data)
values ('wamid.out.delivered', '300100200300400', '250700000001', 'delivered', 3, now() - interval '1 minute',
        'outbox:' || :id);

select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$, 'nothing is touched while the lease lives');
select wapipe_tests.expire_outbox_lease(:id, '1 second');
select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$,
  'once the lease ended, the row is not handed out to be sent again (no grace to wait)');
select results_eq(format($$ select status, sent_wamid, attempts, sent_at = now() - interval '1 minute'
                            from wapipe.outbox where id = %s $$, :id),
  $$ values ('sent', 'wamid.out.delivered', 1, true) $$,
  'it is marked sent with the wamid and time of the status webhook');
select matches((select last_error from wapipe.outbox where id = :id), 'recovered from a status webhook',
  'the recovery is recorded');
select throws_ok(format($$ select wapipe.mark_outbox_unknown(%s, 'sender-1', 'late') $$, :id), 'WA001', null,
  'the original worker, had it survived, no longer holds the row');

select * from finish();
rollback;
