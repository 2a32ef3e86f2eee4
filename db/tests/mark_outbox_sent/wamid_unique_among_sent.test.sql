-- A wamid identifies one sent reply: a second row Meta answers with the same wamid (never seen
-- from Meta; a restarted test double) is still recorded sent, without the wamid and saying why,
-- so the sender never loops on the record; any number of rows wait without one.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe_tests.outbox_row() as first \gset
select wapipe_tests.outbox_row('250700000002') as second \gset
select wapipe_tests.outbox_row('250700000003');
select count(*) from wapipe_tests.claim_outbox_ids('sender-1');
select lives_ok(format($$ select wapipe.mark_outbox_sent(%s, 'sender-1', 'wamid.out.1') $$, :first),
  'the first row is marked sent');
select lives_ok(format($$ select wapipe.mark_outbox_sent(%s, 'sender-1', 'wamid.out.1') $$, :second),
  'a second row answered with the same wamid is recorded too');
select is((select status || '/' || coalesce(sent_wamid, '-') from wapipe.outbox where id = :second),
  'sent/-', 'the second row is sent, without the wamid');
select matches((select last_error from wapipe.outbox where id = :second),
  'already recorded for outbox row ' || :first, 'its last_error names the row that has the wamid');
select is((select sent_wamid from wapipe.outbox where id = :first), 'wamid.out.1', 'the first row keeps it');
select is((select count(*) from wapipe.outbox where sent_wamid is null), 2::bigint,
  'the rows without a wamid coexist');
select * from finish();
rollback;
