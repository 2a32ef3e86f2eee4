-- Replies to one recipient are claimed one at a time in id order; other recipients are not held back.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe_tests.outbox_row('250700000001') as first \gset
select wapipe_tests.outbox_row('250700000001') as second \gset
select wapipe_tests.outbox_row('250700000002') as other \gset

select results_eq($$ select id from wapipe.claim_outbox('sender-1', 10, 30) order by id $$,
  format('values (%s::bigint), (%s::bigint)', :first, :other),
  'only the first reply of a recipient is claimed, with other recipients');
select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$,
  'the second reply waits while the first is sending');

select wapipe.mark_outbox_failed(:first, 'sender-1', 131056, 'pair rate limit', true) is not null as retry \gset
select is_empty($$ select * from wapipe.claim_outbox('sender-2', 10, 30) $$,
  'while the first is in backoff the recipient''s later reply waits too');
select wapipe_tests.outbox_due(:first);
select results_eq($$ select id from wapipe.claim_outbox('sender-2', 10, 30) $$,
  format('values (%s::bigint)', :first), 'the first is retried before the second');
select wapipe.mark_outbox_sent(:first, 'sender-2', 'wamid.out.1');
select results_eq($$ select id from wapipe.claim_outbox('sender-2', 10, 30) $$,
  format('values (%s::bigint)', :second), 'after it was sent the second is claimed');

select * from finish();
rollback;
