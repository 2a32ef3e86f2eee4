-- With no status webhook for outbox:<id>, a started row whose sender died is claimed again after lease + grace (another attempt).
begin;
select plan(6);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select wapipe_tests.start_send(:id, 'sender-1');
-- a status for some other outbox row does not count
insert into wapipe.message_statuses (wamid, status, status_rank, callback_data)
values ('wamid.other', 'sent', 2, 'outbox:' || (:id + 1000));

select wapipe_tests.expire_outbox_lease(:id, '29 seconds');
select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$,
  'within the grace (30 s after the lease) it is not sent again');
select wapipe_tests.expire_outbox_lease(:id, '31 seconds');
select results_eq($$ select id, attempts from wapipe.claim_outbox('sender-2', 10, 30) $$,
  format('values (%s::bigint, 2)', :id), 'after the grace it is claimed again as attempt 2');
select is((select locked_by from wapipe.outbox where id = :id), 'sender-2', 'now held by sender-2');
select is((select send_started_at from wapipe.outbox where id = :id), null, 'the new claim has not started yet');
select throws_ok(format($$ select wapipe.mark_outbox_failed(%s, 'sender-1', 1, 'late', true) $$, :id), 'WA001', null,
  'the old holder is refused');

-- the same row killed mid-send again at max attempts: never sent a 6th time
select wapipe_tests.start_send(:id, 'sender-2');
update wapipe.outbox set attempts = 5 where id = :id;
select wapipe_tests.expire_outbox_lease(:id, '31 seconds');
select wapipe_tests.claim_outbox_ids('sender-3');
select is((select status from wapipe.outbox where id = :id), 'failed',
  'an unknown outcome at max attempts is failed, not sent again');

select * from finish();
rollback;
