-- A claim's transaction commits asynchronously (synchronous_commit off, local to the transaction):
-- a claim lost in a crash is claimed again, and the completion that depends on it commits
-- synchronously. A refused call changes nothing, and the setting never outlives the transaction.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1');
select is(current_setting('synchronous_commit'), 'on', 'commits are synchronous before the claim');

select throws_ok($$ select * from wapipe.claim_messages('worker-1', 30, 10, '') $$,
  '22023', 'claim_messages needs a default_agent', 'a refused claim');
select is(current_setting('synchronous_commit'), 'on', 'a refused claim leaves commits synchronous');

savepoint claimed;
select is((select count(*) from wapipe.claim_messages('worker-1', 30, 10, 'waiter')), 1::bigint,
          'the claim takes the message');
select is(current_setting('synchronous_commit'), 'off', 'the transaction that claimed commits asynchronously');
rollback to savepoint claimed;
select is(current_setting('synchronous_commit'), 'on',
          'set for the transaction only (undone with it, here with its savepoint)');
select * from finish();
rollback;
