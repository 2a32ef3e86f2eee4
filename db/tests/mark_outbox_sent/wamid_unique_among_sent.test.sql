-- A wamid identifies one sent reply: a second row cannot be marked sent with it, while any
-- number of rows wait without one.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.outbox_row() as first \gset
select wapipe_tests.outbox_row('250700000002') as second \gset
select wapipe_tests.outbox_row('250700000003');
select count(*) from wapipe_tests.claim_outbox_ids('sender-1');
select lives_ok(format($$ select wapipe.mark_outbox_sent(%s, 'sender-1', 'wamid.out.1') $$, :first),
  'the first row is marked sent');
select throws_ok(format($$ select wapipe.mark_outbox_sent(%s, 'sender-1', 'wamid.out.1') $$, :second),
  '23505', null, 'a second row with the same wamid is refused');
select is((select count(*) from wapipe.outbox where sent_wamid is null), 2::bigint,
  'the rows without a wamid coexist');
select * from finish();
rollback;
