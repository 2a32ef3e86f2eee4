-- A started row is not claimed again while its lease lives, nor right after it expires (outcome unknown: grace).
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select is((select count(*) from wapipe_tests.claim_outbox_ids('sender-1')), 1::bigint, 'sender-1 claims the row');
select wapipe_tests.start_send(:id, 'sender-1');
select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$, 'sender-2 cannot while the lease lives');

select wapipe_tests.expire_outbox_lease(:id, '1 second');
select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$,
  'just after the lease expired the outcome is unknown: not re-claimed within the grace');
select is((select locked_by from wapipe.outbox where id = :id), 'sender-1', 'the row is still sender-1''s');

select * from finish();
rollback;
