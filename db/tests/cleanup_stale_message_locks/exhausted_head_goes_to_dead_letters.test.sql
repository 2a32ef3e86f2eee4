-- A stale lease on a head that used its last allowed attempt: the cleanup dead-letters it
-- (as a claim would), instead of requeueing it for an attempt beyond the maximum.
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe_tests.enqueue_text('250700000001', 'poison', 'wamid.poison');
select wapipe_tests.claim('w1');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));
select wapipe_tests.claim('w2');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));
select wapipe_tests.claim('w3');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'), '10 minutes');

select is(wapipe.cleanup_stale_message_locks(), 1, 'one conversation touched');
select is((select status from wapipe.processed_messages where wamid = 'wamid.poison'), 'dead',
  'the exhausted head is dead, not queued again');
select matches((select last_error from wapipe.dead_letters where wamid = 'wamid.poison'),
  '^abandoned: the lease of attempt 3 expired', 'with the reason');
select is((select locked_by from wapipe.conversations), null, 'the conversation is free');

select * from finish();
rollback;
