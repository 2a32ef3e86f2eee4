-- Filters choose the dead letters; a dry run lists them and changes nothing.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'a', 'wamid.a');
select wapipe_tests.fail_n_times(1, error => '131000: agent down', retryable => false);
select wapipe_tests.enqueue_type('250700000002', 'image');
select wapipe_tests.fail_n_times(1, error => 'media too big', retryable => false);
select wapipe_tests.enqueue_text('250700000003', 'c', 'wamid.c');
select wapipe_tests.fail_n_times(1, error => 'agent down again', retryable => false);
update wapipe.dead_letters set dead_at = now() - interval '2 days' where wamid = 'wamid.c';
select bag_eq($$ select wamid from wapipe.requeue_dead_letters(error_like => '%agent down%', dry_run => true) $$,
  $$ values ('wamid.a'), ('wamid.c') $$, 'error_like matches (case-insensitive pattern)');
select is((select count(*) from wapipe.requeue_dead_letters(message_type => 'image', dry_run => true)), 1::bigint,
  'message_type filter');
select results_eq($$ select wamid from wapipe.requeue_dead_letters(since => now() - interval '1 day', error_like => '%down%', dry_run => true) $$,
  $$ values ('wamid.a') $$, 'filters combine (since and error_like)');
select results_eq($$ select wamid, msg_id from wapipe.requeue_dead_letters(ids => array[(select id from wapipe.dead_letters where wamid = 'wamid.c')], dry_run => true) $$,
  $$ values ('wamid.c', null::bigint) $$, 'by ids; a dry run has no new msg_id');
select is((select count(*) from wapipe.requeue_dead_letters(error_like => '%', max_count => 2, dry_run => true)), 2::bigint,
  'max_count caps the choice');
select row_eq($$ select count(*) filter (where status = 'dead'), (select count(*) from wapipe.dead_letters where replayed_at is null),
                        (select count(*) from pgmq.q_wapipe_inbound) from wapipe.processed_messages $$,
  row(3::bigint, 3::bigint, 0::bigint), 'the dry runs changed nothing');
select * from finish();
rollback;
