-- With no send token free, start_outbox_send returns the milliseconds to wait and leaves the row unstarted.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe_tests.outbox_row('250700000001') as a \gset
select wapipe_tests.outbox_row('250700000002') as b \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select is(wapipe.start_outbox_send(:a, 'sender-1', 1, interval '10 seconds'), 0, 'the only token goes to the first row');
select cmp_ok(wapipe.start_outbox_send(:b, 'sender-1', 1, interval '10 seconds'), '>', 0,
  'the second row must wait for a token');
select is((select send_started_at from wapipe.outbox where id = :b), null, 'and is not started');

select * from finish();
rollback;
