-- claim_outbox takes due rows oldest next_attempt_at first, up to batch, and leases them (status sending, attempts + 1).
begin;
select plan(8);
select wapipe_tests.reset();

select wapipe_tests.outbox_row('250700000001') as a \gset
select wapipe_tests.outbox_row('250700000002') as b \gset
select wapipe_tests.outbox_row('250700000003') as c \gset
select wapipe_tests.outbox_row('250700000004') as later \gset
update wapipe.outbox set next_attempt_at = now() - interval '3 seconds' where id = :c;
update wapipe.outbox set next_attempt_at = now() - interval '2 seconds' where id = :a;
update wapipe.outbox set next_attempt_at = now() - interval '1 second' where id = :b;
update wapipe.outbox set next_attempt_at = now() + interval '1 minute' where id = :later;

select results_eq($$ select id from wapipe.claim_outbox('sender-1', 2, 30) $$,
  format('values (%s::bigint), (%s::bigint)', least(:a, :c), greatest(:a, :c)),
  'the two oldest due rows are claimed (returned in id order)');
select results_eq(
  format($$ select status, locked_by, attempts, locked_until = now() + interval '30 seconds'
            from wapipe.outbox where id in (%s, %s) order by id $$, :a, :c),
  $$ values ('sending', 'sender-1', 1, true), ('sending', 'sender-1', 1, true) $$,
  'claimed rows are sending, leased to the worker for lock_seconds, attempt 1');
select results_eq($$ select id from wapipe.claim_outbox('sender-2', 10, 30) $$,
  format('values (%s::bigint)', :b), 'the next claim gets the remaining due row only');
select is_empty($$ select * from wapipe.claim_outbox('sender-3', 10, 30) $$,
  'a row not yet due is not claimed');
select is((select status from wapipe.outbox where id = :later), 'pending', 'the future row stays pending');

update wapipe.outbox set next_attempt_at = now() where id = :later;
select results_eq($$ select id, attempts from wapipe.claim_outbox('sender-3', 10, 30) $$,
  format('values (%s::bigint, 1)', :later), 'once due it is claimed');
select is((select locked_by from wapipe.outbox where id = :a), 'sender-1',
  'a live lease is never taken by another worker');
select is((select count(*) from wapipe.outbox where status = 'sending'), 4::bigint, 'all four are sending');

select * from finish();
rollback;
