-- A message whose every claim expires without a result (it kills its worker) is
-- dead-lettered after max attempts instead of being claimed forever.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe_tests.enqueue_text('250700000001', 'poison', 'wamid.poison');
select wapipe_tests.enqueue_text('250700000001', 'next', 'wamid.next', wa_timestamp => extract(epoch from now())::bigint + 60);

-- three workers claim it and die; each time the lease expires
select wapipe_tests.claim('w1');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));
select wapipe_tests.claim('w2');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));
select is((select count(*)::int from wapipe_tests.claim('w3')), 1, 'the third attempt is still claimed');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'));

select is((select q.wamid from wapipe.get_next_queue_message('w4', 30, 10) q), 'wamid.next',
  'the next claim skips the poison message and serves the next one');
select is((select status from wapipe.processed_messages where wamid = 'wamid.poison'), 'dead',
  'the poison message is dead');
select matches((select last_error from wapipe.dead_letters where wamid = 'wamid.poison'),
  '^abandoned: the lease of attempt 3 expired', 'the dead letter says why');
select is((select attempts from wapipe.dead_letters where wamid = 'wamid.poison'), 3,
  'after max attempts');

select * from finish();
rollback;
