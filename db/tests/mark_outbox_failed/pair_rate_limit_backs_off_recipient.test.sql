-- 131056 (pair rate limit) backs off at least outbox.pair_backoff_seconds; retry_after_seconds overrides the delay.
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe_tests.outbox_row('250700000001') as pair \gset
select wapipe_tests.outbox_row('250700000002') as other \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select is(wapipe.mark_outbox_failed(:pair, 'sender-1', 131056, 'pair rate limit', true) - now(), interval '6 seconds',
  '131056 after attempt 1: the pair backoff (6 s), not 1 s');
select is(wapipe.mark_outbox_failed(:other, 'sender-1', 131000, 'generic', true, 17) - now(), interval '17 seconds',
  'retry_after_seconds replaces the computed delay');
select wapipe_tests.outbox_due(:other);
select results_eq($$ select id from wapipe.claim_outbox('sender-2', 10, 30) $$,
  format('values (%s::bigint)', :other), 'the other recipient is not held back by the pair limit');
select throws_ok(format($$ select wapipe.mark_outbox_failed(%s, 'sender-2', 1, 'x', true, -1) $$, :other), '22023', null,
  'a negative retry_after_seconds is refused');

select * from finish();
rollback;
