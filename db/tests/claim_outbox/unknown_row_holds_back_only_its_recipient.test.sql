-- A row whose send outcome is unknown holds back its own recipient's later replies only: another user's replies are claimable at once.
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe_tests.outbox_row('250700000001') as a1 \gset
select wapipe_tests.outbox_row('250700000001') as a2 \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select wapipe_tests.start_send(:a1, 'sender-1');
select wapipe.mark_outbox_unknown(:a1, 'sender-1', 'read timeout') is not null as marked \gset
-- user B writes after user A's send went wrong
select wapipe_tests.outbox_row('250700000002') as b1 \gset
select wapipe_tests.outbox_row('250700000002') as b2 \gset

select results_eq($$ select id from wapipe.claim_outbox('sender-2', 10, 30) $$,
  format('values (%s::bigint)', :b1), 'user B''s first reply is claimed at once, user A''s next one is not');
select wapipe.mark_outbox_sent(:b1, 'sender-2', 'wamid.b1');
select results_eq($$ select id from wapipe.claim_outbox('sender-2', 10, 30) $$,
  format('values (%s::bigint)', :b2), 'and user B''s second right after it');
select results_eq(format($$ select status from wapipe.outbox where id in (%s, %s) order by id $$, :a1, :a2),
  $$ values ('sending'), ('pending') $$, 'user A''s replies still wait for the unknown outcome');
select is((select count(*) from wapipe.outbox where id = :a2 and attempts = 0), 1::bigint,
  'user A''s later reply was never claimed');

select * from finish();
rollback;
