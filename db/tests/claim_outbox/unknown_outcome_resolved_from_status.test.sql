-- A row left 'sending' past lease + grace is marked sent, not re-sent, when Meta reported a status for outbox:<id>.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select wapipe_tests.claim_outbox_ids('sender-1');
-- sender-1 was killed after Meta accepted the message; the status webhook came in
insert into wapipe.message_statuses (wamid, phone_number_id, recipient_id, status, status_rank, status_at, callback_data)
values ('wamid.out.delivered', '300100200300400', '250700000001', 'delivered', 3, now() - interval '1 minute',
        'outbox:' || :id);

select wapipe_tests.expire_outbox_lease(:id, '119 seconds');
select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$, 'not settled within the grace (120 s)');

select wapipe_tests.expire_outbox_lease(:id, '121 seconds');
select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$,
  'after the grace the row is not handed out to be sent again');
select results_eq(format($$ select status, sent_wamid, attempts, sent_at = now() - interval '1 minute'
                            from wapipe.outbox where id = %s $$, :id),
  $$ values ('sent', 'wamid.out.delivered', 1, true) $$,
  'it is marked sent with the wamid and time of the status webhook');
select matches((select last_error from wapipe.outbox where id = :id), 'recovered from a status webhook',
  'the recovery is recorded');
select throws_ok(format($$ select wapipe.mark_outbox_sent(%s, 'sender-1', 'wamid.late') $$, :id), '55000', null,
  'the original worker, had it survived, no longer holds the row');

select * from finish();
rollback;
