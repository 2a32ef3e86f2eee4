-- The ingress and monitor roles cannot claim or finish messages; workers cannot replay or clean up.
begin;
select plan(8);
select wapipe_tests.reset();
set local role wapipe_ingress;
select throws_ok($$ select * from wapipe.get_next_queue_message('w', 30, 10) $$, '42501', NULL,
  'ingress cannot claim');
select throws_ok($$ select * from wapipe.complete_message(1, 'w') $$, '42501', NULL, 'ingress cannot complete');
select throws_ok($$ select wapipe.cleanup_old_messages() $$, '42501', NULL, 'ingress cannot clean up');
reset role;
set local role wapipe_monitor;
select throws_ok($$ select * from wapipe.get_next_queue_message('w', 30, 10) $$, '42501', NULL,
  'monitor cannot claim');
select throws_ok($$ select wapipe.schedule_message_retry(1, 'w', 'x') $$, '42501', NULL, 'monitor cannot retry');
reset role;
set local role wapipe_worker;
select lives_ok($$ select * from wapipe.get_next_queue_message('w', 30, 10) $$, 'worker may claim');
select throws_ok($$ select * from wapipe.requeue_dead_letters(error_like => '%') $$, '42501', NULL,
  'worker cannot replay dead letters');
select throws_ok($$ select wapipe.cleanup_stale_message_locks() $$, '42501', NULL, 'worker cannot clean up');
reset role;
select * from finish();
rollback;
