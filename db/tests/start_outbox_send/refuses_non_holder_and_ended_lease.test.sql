-- start_outbox_send raises WA001 for a worker that does not hold the row, and once the holder's lease has ended.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select throws_ok(format($$ select wapipe.start_outbox_send(%s, 'sender-2', 8, interval '1 second') $$, :id), 'WA001', null,
  'another worker is refused');
select wapipe_tests.expire_outbox_lease(:id, '1 second');
select throws_ok(format($$ select wapipe.start_outbox_send(%s, 'sender-1', 8, interval '1 second') $$, :id), 'WA001', null,
  'the holder is refused once its lease ended (another sender may take the row)');
select is((select send_started_at from wapipe.outbox where id = :id), null, 'nothing stamped');

select * from finish();
rollback;
