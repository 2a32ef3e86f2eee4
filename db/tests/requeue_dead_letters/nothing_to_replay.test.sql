-- Replaying dead letters that are already replayed (or match nothing) returns no rows.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.once');
select wapipe_tests.fail_n_times(1, retryable => false);
select is((select count(*)::int from wapipe.requeue_dead_letters(error_like => '%')), 1, 'first replay requeues it');
select is((select count(*)::int from wapipe.requeue_dead_letters(error_like => '%')), 0,
  'a second replay finds nothing and returns no rows');
select is((select count(*)::int from wapipe.requeue_dead_letters(message_type => 'no-such-type')), 0,
  'a filter matching nothing returns no rows');

select * from finish();
rollback;
