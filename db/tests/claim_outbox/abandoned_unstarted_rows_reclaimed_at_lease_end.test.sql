-- A sender died mid-batch: the row it had started waits (outcome unknown), the other users' rows it never started are claimed when the lease ends, with no attempt counted.
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe_tests.outbox_row('250700000001') as a1 \gset
select wapipe_tests.outbox_row('250700000002') as b1 \gset
select wapipe_tests.outbox_row('250700000003') as c1 \gset
select is((select count(*) from wapipe_tests.claim_outbox_ids('sender-1')), 3::bigint, 'one batch of three users');
select wapipe_tests.start_send(:a1, 'sender-1');
-- sender-1 is killed during the HTTP call of a1: b1 and c1 were never started
select wapipe_tests.expire_outbox_lease(:a1, '1 second');
select wapipe_tests.expire_outbox_lease(:b1, '1 second');
select wapipe_tests.expire_outbox_lease(:c1, '1 second');

select results_eq($$ select id, attempts from wapipe.claim_outbox('sender-2', 10, 30) order by id $$,
  format('values (%s::bigint, 1), (%s::bigint, 1)', :b1, :c1),
  'the unstarted rows are claimed at once, still as attempt 1; the started one is not');
select results_eq(format($$ select status, locked_by, attempts from wapipe.outbox where id = %s $$, :a1),
  $$ values ('sending', 'sender-1', 1) $$, 'the started row keeps waiting for its status webhook or the grace');
select is((select count(*) from wapipe.outbox where id in (:b1, :c1) and send_started_at is null and locked_by = 'sender-2'),
  2::bigint, 'the new claims start clean');

select * from finish();
rollback;
